/**
 * The gateway's side of ShardService.Exchange: one long-lived bidirectional
 * stream per shard, requests of one event-loop turn sent as one batch frame,
 * responses matched by seq. Calls are routed to the chat's owner by
 * rendezvous hashing; `wrong_shard` (not executed) is always retried after
 * refreshing membership, and a broken stream (outcome unknown) only for
 * operations that are safe to repeat — a send is, when it carries a client_id.
 */
import * as grpc from '@grpc/grpc-js';
import { create } from '@bufbuild/protobuf';
import { AppError, isErrorCode } from '../common/errors.js';
import { childCache, grpcClientSeconds } from '../common/metrics.js';
import type { Logger } from '../common/logger.js';
import { sleep } from '../common/time.js';
import { TurnBatch } from '../common/turn.js';
import { createClient, type ServiceClient } from '../proto/grpc.js';
import {
  ExchangeRequestSchema,
  ShardService,
  ShardRequestSchema,
  type ExchangeResponse,
  type ShardRequest,
  type ShardResponse,
} from '../proto/gen/gmessenger/v1/shard_pb.js';
import type { MessageInitShape } from '@bufbuild/protobuf';
import type { GenService } from '@bufbuild/protobuf/codegenv2';
import type { ShardDirectory } from './directory.js';

type ShardMethods = typeof ShardService extends GenService<infer T> ? T : never;
type RequestInit = Exclude<MessageInitShape<typeof ShardRequestSchema>, ShardRequest>;
export type ShardOp = RequestInit['op'];
export type ShardResult = ShardResponse['result'];

/** How long a call keeps retrying through ownership moves and failover. */
const CALL_DEADLINE_MS = 10_000;
const REQUEST_TIMEOUT_MS = 8_000;
/** Retry-After (seconds) sent with a 503 when a chat could not be reached in time. */
const RETRY_AFTER_S = 1;
/**
 * Reconnection backoff of a shard channel. grpc-js defaults grow to 120 s, so a
 * shard that was down for a while and came back at the same address stayed
 * unreachable far beyond CALL_DEADLINE_MS; shards come from the directory, so
 * retrying a gone address every couple of seconds is cheap.
 */
const RECONNECT_BACKOFF = {
  'grpc.initial_reconnect_backoff_ms': 200,
  'grpc.max_reconnect_backoff_ms': 2_000,
};

/** How often a connection looks for requests past their deadline (one timer, not one per request). */
const SWEEP_MS = 100;

interface Pending {
  resolve: (r: ShardResponse) => void;
  reject: (e: AppError) => void;
  /** performance.now() when it was sent, and when it times out. */
  started: number;
  deadline: number;
  /** Metric label: "Exchange/<op>". */
  method: string;
}

const callSeconds = childCache((method, code) => grpcClientSeconds.labels({ method, code }));

function observeCall(p: Pending, code: string): void {
  callSeconds(p.method, code).observe((performance.now() - p.started) / 1000);
}

function settle(p: Pending, response: ShardResponse): void {
  observeCall(p, response.error ? response.error.code : 'OK');
  p.resolve(response);
}

function fail(p: Pending, err: AppError): void {
  observeCall(p, err.code);
  p.reject(err);
}

class ShardConnection {
  private readonly client: ServiceClient<ShardMethods>;
  private stream: grpc.ClientDuplexStream<
    MessageInitShape<typeof ExchangeRequestSchema>,
    ExchangeResponse
  > | null = null;
  private readonly pending = new Map<number, Pending>();
  /** Requests of one event-loop turn, sent as one batch frame. */
  private readonly outbox = new TurnBatch<RequestInit>((batch) => this.flush(batch));
  private seq = 0;
  private sweeper: NodeJS.Timeout | null = null;

  constructor(
    readonly address: string,
    private readonly logger: Logger,
  ) {
    this.client = createClient(ShardService, address, RECONNECT_BACKOFF);
  }

  /** Rejects the requests past their deadline; runs while any request is pending. */
  private sweep(): void {
    const now = performance.now();
    for (const [seq, p] of this.pending) {
      if (p.deadline > now) continue;
      this.pending.delete(seq);
      fail(p, new AppError('unavailable', 'shard did not answer in time'));
    }
    if (this.pending.size === 0 && this.sweeper) {
      clearInterval(this.sweeper);
      this.sweeper = null;
    }
  }

  private open(): grpc.ClientDuplexStream<MessageInitShape<typeof ExchangeRequestSchema>, ExchangeResponse> {
    if (this.stream) return this.stream;
    const stream = this.client.exchange();
    stream.on('data', (batch: ExchangeResponse) => {
      for (const response of batch.responses) {
        const p = this.pending.get(response.seq);
        if (!p) continue;
        this.pending.delete(response.seq);
        settle(p, response);
      }
    });
    const broken = () => {
      if (this.stream !== stream) return;
      this.stream = null;
      const lost = [...this.pending.values()];
      this.pending.clear();
      for (const p of lost) fail(p, new AppError('unavailable', 'shard connection lost'));
    };
    stream.on('error', (err: Error) => {
      this.logger.debug({ err, shard: this.address }, 'shard stream error');
      broken();
    });
    stream.on('end', broken);
    stream.on('close', broken);
    this.stream = stream;
    return stream;
  }

  request(req: RequestInit, timeoutMs = REQUEST_TIMEOUT_MS): Promise<ShardResponse> {
    return new Promise<ShardResponse>((resolve, reject) => {
      this.seq = (this.seq + 1) >>> 0 || 1;
      const seq = this.seq;
      const started = performance.now();
      // Timed per operation on the Exchange stream (method label "Exchange/<op>").
      const method = `Exchange/${req.op?.case ?? 'none'}`;
      this.pending.set(seq, { resolve, reject, started, deadline: started + timeoutMs, method });
      this.sweeper ??= setInterval(() => this.sweep(), SWEEP_MS);
      req.seq = seq;
      this.outbox.add(req);
    });
  }

  private flush(batch: RequestInit[]): void {
    try {
      this.open().write(create(ExchangeRequestSchema, { requests: batch }));
    } catch (err) {
      this.logger.warn({ err, shard: this.address }, 'shard stream write failed');
      for (const r of batch) {
        const p = this.pending.get(r.seq!);
        if (!p) continue;
        this.pending.delete(r.seq!);
        fail(p, new AppError('unavailable', 'shard connection lost'));
      }
    }
  }

  close(): void {
    if (this.sweeper) clearInterval(this.sweeper);
    this.sweeper = null;
    this.stream?.end();
    this.client.close();
  }
}

/** An `unavailable` error (503) that tells the client when to retry; other AppErrors pass unchanged. */
function retryable(err: unknown): AppError {
  if (err instanceof AppError && err.code !== 'unavailable') return err;
  const message =
    err instanceof Error || (typeof err === 'object' && err && 'message' in err)
      ? String((err as { message: unknown }).message)
      : 'shard unavailable';
  return new AppError('unavailable', message || 'shard unavailable', undefined, RETRY_AFTER_S);
}

export class ShardClient {
  private readonly connections = new Map<string, ShardConnection>();

  constructor(
    private readonly directory: ShardDirectory,
    private readonly logger: Logger,
  ) {}

  private connection(address: string): ShardConnection {
    let c = this.connections.get(address);
    if (!c) {
      c = new ShardConnection(address, this.logger);
      this.connections.set(address, c);
    }
    return c;
  }

  /**
   * Runs one operation on the chat's owning shard and returns its result;
   * AppErrors from the actor are rethrown as they are.
   */
  async call(chatId: string, user: string, op: ShardOp, idempotent: boolean): Promise<ShardResult> {
    const deadline = Date.now() + CALL_DEADLINE_MS;
    let backoff = 20;
    for (;;) {
      const owner = this.directory.owner(chatId);
      if (owner) {
        let response: ShardResponse | null = null;
        let retry = false;
        try {
          // A retry never outlives the call's deadline.
          const timeoutMs = Math.max(1, Math.min(REQUEST_TIMEOUT_MS, deadline - Date.now()));
          response = await this.connection(owner.address).request({ seq: 0, chatId, user, op }, timeoutMs);
        } catch (err) {
          if (!idempotent) throw retryable(err);
          retry = true;
        }
        if (response) {
          if (!response.error) return response.result;
          const code = response.error.code;
          if (code === 'unavailable') throw retryable(response.error);
          if (code !== 'wrong_shard') {
            throw new AppError(
              isErrorCode(code) ? code : 'internal',
              response.error.message,
              response.error.field || undefined,
            );
          }
          retry = true;
        }
        if (!retry) throw new AppError('internal', 'no answer');
      }
      if (Date.now() + backoff > deadline)
        throw new AppError(
          'unavailable',
          'chat temporarily unavailable, try again',
          undefined,
          RETRY_AFTER_S,
        );
      await sleep(backoff);
      backoff = Math.min(500, backoff * 2);
      await this.directory.refresh().catch(() => undefined);
    }
  }

  close(): void {
    for (const c of this.connections.values()) c.close();
    this.connections.clear();
  }
}
