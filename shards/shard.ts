/**
 * The shard: a registry of chat actors behind the ShardService.Exchange
 * stream. A request for a chat this shard does not own (by rendezvous hashing
 * over the live set) is answered `wrong_shard`; the gateway refreshes its view
 * and retries. Actors are activated on first use (lease, then state load),
 * passivated when idle, and released when membership changes move them away.
 */
import type * as grpc from '@grpc/grpc-js';
import { create } from '@bufbuild/protobuf';
import { AppError, toAppError } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import { OneTurn, TurnBatch } from '../common/turn.js';
import {
  actorActivations,
  actorsActive,
  childCache,
  grpcServerSeconds,
  messagesAccepted,
} from '../common/metrics.js';
import {
  ExchangeResponseSchema,
  MarkKind,
  type ExchangeRequest,
  type ExchangeResponse,
  type ShardRequest,
} from '../proto/gen/gmessenger/v1/shard_pb.js';
import type { ChatMessage, GroupInfo } from '../proto/gen/gmessenger/v1/common_pb.js';
import { toChatMessage } from '../proto/messages.js';
import type { MessageInitShape } from '@bufbuild/protobuf';
import { ChatActor, type ActorDeps, type GroupView } from './actor.js';
import type { ShardDirectory } from './directory.js';
import type { LeaseManager } from './leases.js';
import type { Claim } from '../store/index.js';

type ResponseInit = MessageInitShape<
  typeof import('../proto/gen/gmessenger/v1/shard_pb.js').ShardResponseSchema
>;

function toGroupInfo(
  g: GroupView,
): MessageInitShape<typeof import('../proto/gen/gmessenger/v1/common_pb.js').GroupInfoSchema> {
  return { id: g.id, name: g.name, public: g.isPublic, owner: g.owner, members: g.members };
}

export type { ChatMessage, GroupInfo };

/** Most chats activated with one lease script call and one chat-state read. */
const ACTIVATION_BATCH = 128;
/** Most chats loading at once; a reconnect storm's other activations wait in the queue. */
const ACTIVATION_CONCURRENCY = 512;
/**
 * A queued activation older than this is refused with a retryable `unavailable`: the gateway's request
 * (8 s) has timed out by then, so loading the chat would only delay the requests still waiting.
 */
const ACTIVATION_QUEUE_MAX_MS = 7_000;

const serverSeconds = childCache((method, code) => grpcServerSeconds.labels({ method, code }));
const accepted = childCache((kind) => messagesAccepted.labels({ kind }));

interface PendingActivation {
  actor: ChatActor;
  queuedAt: number;
  resolve: (actor: ChatActor) => void;
  reject: (err: unknown) => void;
}

export class Shard {
  private readonly actors = new Map<string, ChatActor>();
  private readonly activating = new Map<string, Promise<ChatActor>>();
  private readonly queue: PendingActivation[] = [];
  /** Activations queued in one event-loop turn are taken together. */
  private readonly pumpTurn = new OneTurn(() => this.pump());
  /** Chats of batches being activated now. */
  private loading = 0;
  private idleTimer: NodeJS.Timeout | null = null;
  private draining = false;

  constructor(
    private readonly selfId: string,
    private readonly directory: ShardDirectory,
    private readonly leases: LeaseManager,
    private readonly deps: ActorDeps,
    private readonly idleMs: number,
    private readonly logger: Logger,
  ) {
    directory.onChange(() => void this.rebalance());
  }

  start(): void {
    this.idleTimer = setInterval(
      () => void this.passivateIdle(),
      Math.min(10_000, Math.max(1000, this.idleMs / 4)),
    );
    this.idleTimer.unref();
  }

  get activeActors(): number {
    return this.actors.size;
  }

  /** Serves one gateway's Exchange stream. */
  exchange(call: grpc.ServerDuplexStream<ExchangeRequest, ExchangeResponse>): void {
    // Responses of one event-loop turn go back as one frame.
    const replies = new TurnBatch<ResponseInit>((batch) => {
      if (!call.destroyed && call.writable) call.write(create(ExchangeResponseSchema, { responses: batch }));
    });
    const reply = (response: ResponseInit) => replies.add(response);
    call.on('data', (batch: ExchangeRequest) => {
      for (const request of batch.requests) {
        const started = performance.now();
        const method = `Exchange/${request.op.case ?? 'none'}`;
        this.handle(request).then(
          (result) => {
            serverSeconds(method, 'OK').observe((performance.now() - started) / 1000);
            reply({ seq: request.seq, result });
          },
          (err: unknown) => {
            const e = toAppError(err);
            serverSeconds(method, e.code).observe((performance.now() - started) / 1000);
            if (e.code === 'internal')
              this.logger.error({ err, chat: request.chatId }, 'shard request failed');
            reply({ seq: request.seq, error: { code: e.code, message: e.message, field: e.field ?? '' } });
          },
        );
      }
    });
    call.on('end', () => call.end());
    call.on('error', () => undefined);
  }

  private async handle(request: ShardRequest): Promise<ResponseInit['result']> {
    const actor = await this.actorFor(request.chatId, request.op.case === 'createGroup');
    actor.lastUsed = Date.now();
    if (actor.missingDialogUser) await actor.refreshDialogUsers();
    const user = request.user;
    const op = request.op;
    switch (op.case) {
      case 'send': {
        const { text, clientId, originConn, originNode, originSole } = op.value;
        const m = await actor.send(user, text, clientId, originConn, originSole ? originNode : '');
        accepted(request.chatId.startsWith('d:') ? 'dialog' : 'group').inc();
        return { case: 'sent', value: toChatMessage(m) };
      }
      case 'history': {
        const h = await actor.history(user, {
          before: op.value.before,
          after: op.value.after,
          limit: Math.min(500, op.value.limit || 100),
          ...(op.value.ifVersion ? { ifVersion: op.value.ifVersion } : {}),
        });
        return {
          case: 'history',
          value: {
            messages: h.messages.map(toChatMessage),
            moreBefore: h.moreBefore,
            lastId: h.lastId,
            group: h.group ? toGroupInfo(h.group) : undefined,
            version: h.version,
            notModified: h.notModified,
          },
        };
      }
      case 'access': {
        const a = actor.access(user);
        return {
          case: 'history',
          value: { messages: [], lastId: a.lastId, group: a.group ? toGroupInfo(a.group) : undefined },
        };
      }
      case 'mark': {
        const kind =
          op.value.kind === MarkKind.READ
            ? 'read'
            : op.value.kind === MarkKind.DELIVERED
              ? 'delivered'
              : null;
        if (!kind) throw new AppError('invalid_field', 'unknown mark kind', 'kind');
        const m = await actor.mark(user, kind, op.value.id);
        return { case: 'mark', value: { deliveredId: m.deliveredId, readId: m.readId } };
      }
      case 'delivered':
        await actor.delivered(op.value.users.map((u, i) => ({ user: u, id: op.value.ids[i] ?? 0 })));
        return { case: 'empty', value: {} };
      case 'members':
        return { case: 'members', value: { members: actor.membersOf(user) } };
      case 'addMember':
        return { case: 'members', value: { members: await actor.addMember(user, op.value.login) } };
      case 'removeMember':
        await actor.removeMember(user, op.value.login);
        return { case: 'empty', value: {} };
      case 'createGroup': {
        const g = await actor.createGroup(user, op.value.name, op.value.public, op.value.members);
        return { case: 'group', value: toGroupInfo(g) };
      }
      case 'typing':
        actor.typing(user, '');
        return { case: 'empty', value: {} };
      default:
        throw new AppError('invalid_param', 'unknown operation');
    }
  }

  private async actorFor(chatId: string, _creating: boolean): Promise<ChatActor> {
    if (this.draining) throw new AppError('wrong_shard', 'shard is shutting down');
    const owner = this.directory.owner(chatId);
    if (!owner || owner.id !== this.selfId)
      throw new AppError('wrong_shard', 'chat is owned by another shard');
    const existing = this.actors.get(chatId);
    if (existing && !existing.closed) return existing;
    let pending = this.activating.get(chatId);
    if (!pending) {
      pending = this.activate(chatId).finally(() => this.activating.delete(chatId));
      this.activating.set(chatId, pending);
    }
    return pending;
  }

  /** Queues the chat's activation; activations queued in one event-loop turn are taken together. */
  private activate(chatId: string): Promise<ChatActor> {
    const actor = new ChatActor(chatId, this.deps, (a) => this.drop(a));
    return new Promise<ChatActor>((resolve, reject) => {
      this.queue.push({ actor, queuedAt: Date.now(), resolve, reject });
      this.pumpTurn.schedule();
    });
  }

  /** Starts queued activations in batches while fewer than ACTIVATION_CONCURRENCY chats are loading. */
  private pump(): void {
    while (this.queue.length > 0 && this.loading < ACTIVATION_CONCURRENCY) {
      const batch = this.queue.splice(0, Math.min(ACTIVATION_BATCH, ACTIVATION_CONCURRENCY - this.loading));
      this.loading += batch.length;
      void this.activateBatch(batch).finally(() => {
        this.loading -= batch.length;
        this.pump();
      });
    }
  }

  /**
   * Activates a batch of chats: one lease script call for all of them, then (only for the leases this shard
   * got) one chat-state read for the batch and the rest of each actor's state. Settles every entry.
   */
  private async activateBatch(batch: PendingActivation[]): Promise<void> {
    const now = Date.now();
    const wanted: PendingActivation[] = [];
    for (const p of batch) {
      if (this.draining) p.reject(new AppError('wrong_shard', 'shard is shutting down'));
      else if (this.directory.owner(p.actor.chatId)?.id !== this.selfId)
        p.reject(new AppError('wrong_shard', 'chat is owned by another shard'));
      else if (now - p.queuedAt > ACTIVATION_QUEUE_MAX_MS)
        // The gateway has given up on this request by now: shed it rather than load a chat nobody waits for.
        p.reject(new AppError('unavailable', 'shard busy, try again'));
      else wanted.push(p);
    }
    if (wanted.length === 0) return;
    let granted: (number | null)[];
    try {
      granted = await this.leases.acquireMany(wanted.map((p) => p.actor));
    } catch (err) {
      for (const p of wanted) p.reject(this.activationFailed(err, 'lease acquisition'));
      return;
    }
    const held: PendingActivation[] = [];
    wanted.forEach((p, i) => {
      // Another shard still holds the chat (it is moving, or its old owner died and the lease has not expired).
      if (granted[i] === null) p.reject(new AppError('wrong_shard', 'chat lease held elsewhere'));
      else held.push(p);
    });
    if (held.length === 0) return;
    const chatIds = held.map((p) => p.actor.chatId);
    let claims: Map<string, Claim>;
    try {
      // Claimed after the leases are held: a new owner fences the old one and learns the last id before
      // accepting writes.
      claims = await this.deps.store.messages.claim(chatIds);
    } catch (err) {
      await this.leases.release(chatIds).catch(() => undefined);
      for (const p of held) p.reject(this.activationFailed(err, 'claim'));
      return;
    }
    await Promise.all(held.map((p) => this.finishActivation(p, claims.get(p.actor.chatId))));
  }

  /**
   * An activation that failed on Redis or the store (unreachable, timed out, or a claim that lost its
   * races) is a temporary condition for the client: `unavailable`, so it retries. Errors of the actor's
   * own rules pass unchanged.
   */
  private activationFailed(err: unknown, step: string, chat?: string): AppError {
    if (err instanceof AppError) return err;
    this.logger.warn({ err, chat, step }, 'chat activation failed');
    return new AppError('unavailable', 'chat temporarily unavailable, try again');
  }

  private async finishActivation(p: PendingActivation, claim: Claim | undefined): Promise<void> {
    const { actor } = p;
    const chatId = actor.chatId;
    try {
      await actor.load(claim);
    } catch (err) {
      await this.leases.release([chatId]).catch(() => undefined);
      p.reject(this.activationFailed(err, 'load', chatId));
      return;
    }
    // Membership may have changed while loading; rebalance() only sees registered actors, so hand the
    // chat over here rather than keep renewing a lease the new owner is waiting for.
    if (this.draining || this.directory.owner(chatId)?.id !== this.selfId) {
      actor.closed = true;
      await this.leases.release([chatId]).catch(() => undefined);
      p.reject(new AppError('wrong_shard', 'chat moved to another shard'));
      return;
    }
    this.actors.set(chatId, actor);
    actorsActive.set(this.actors.size);
    actorActivations.inc();
    p.resolve(actor);
  }

  private drop(actor: ChatActor): void {
    if (this.actors.get(actor.chatId) === actor) {
      this.actors.delete(actor.chatId);
      actorsActive.set(this.actors.size);
    }
  }

  /** Hands chats that now belong to another shard over: stop writing, flush, release the lease. */
  private async rebalance(): Promise<void> {
    const moving = [...this.actors.values()].filter(
      (a) => this.directory.owner(a.chatId)?.id !== this.selfId,
    );
    if (moving.length === 0) return;
    this.logger.info({ chats: moving.length }, 'releasing chats after membership change');
    await this.passivate(moving);
  }

  private async passivateIdle(): Promise<void> {
    const cutoff = Date.now() - this.idleMs;
    const idle = [...this.actors.values()].filter((a) => a.lastUsed < cutoff);
    if (idle.length > 0) await this.passivate(idle);
  }

  private async passivate(actors: ChatActor[]): Promise<void> {
    for (const a of actors) {
      a.closed = true;
      this.drop(a);
    }
    await this.deps.writer.drain();
    await this.deps.delivery.drain();
    await this.leases.release(actors.map((a) => a.chatId)).catch((err: unknown) => {
      this.logger.warn({ err }, 'lease release failed; leases will expire');
    });
  }

  /** Graceful stop: refuse new work, finish writes and fan-out, release every lease. */
  async drain(): Promise<void> {
    this.draining = true;
    if (this.idleTimer) clearInterval(this.idleTimer);
    await this.passivate([...this.actors.values()]);
  }
}
