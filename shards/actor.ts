/**
 * One chat's single writer. The actor owns the chat's hot state while its
 * lease is valid: the last id, the recent window (newest messages served to
 * history reads without touching the store, recent client ids for
 * deduplication: recent.ts), every member's delivered/read marks
 * (receipts.ts), and for groups the group record and members (membership.ts).
 *
 * Sends are validated, deduplicated by (sender, client_id), given id =
 * last + 1 synchronously (so ids follow arrival order), written through the
 * shard's group commit, and acknowledged only once durable. Events (the new
 * message, status changes) are published after the write, in id order.
 */
import { randomBytes } from 'node:crypto';
import { MAX_TEXT } from '../common/api.js';
import { AppError } from '../common/errors.js';
import { dialogPeer, parseChatId, type ParsedChat } from '../common/ids.js';
import { longerThan } from '../common/text.js';
import { isoTime } from '../common/time.js';
import type { Delivery } from '../delivery/index.js';
import type { Claim, GroupMemberRecord, Marks, Store, StoredMessage } from '../store/index.js';
import type { LeaseHolder } from './leases.js';
import { Membership, type GroupView } from './membership.js';
import { Receipts, type MarkUpdate, type Status, type StatusChange } from './receipts.js';
import { DEDUP_MAX, dedupKey, RecentWindow, type PendingSend, type Seen } from './recent.js';
import type { GroupWriter } from './writer.js';

export type { GroupView } from './membership.js';
export type { Status } from './receipts.js';

export interface MessageView extends StoredMessage {
  status: Status;
}

export interface ActorDeps {
  store: Store;
  writer: GroupWriter;
  /** Where the chat's events go (new messages, status changes, typing). */
  delivery: Delivery;
  /** Hands undelivered messages to the relay for offline notification. */
  notifyOffline(receivers: string[], message: StoredMessage): void;
}

export class ChatActor implements LeaseHolder {
  validUntil = 0;
  lastUsed = Date.now();
  /** Set when the actor must not be used any more (lease lost, write failed, moved away). */
  closed = false;

  private readonly parsed: ParsedChat;
  private lastId = 0;
  /** Id of the newest message known to be durable. */
  private durableId = 0;
  private readonly recent = new RecentWindow();
  private readonly membership: Membership;
  private readonly receipts: Receipts;
  /** This actor's claim on the chat in the store: every write carries it (store fencing). */
  private claim: Claim | undefined;
  /**
   * Version of everything a history page shows (durable messages and their statuses): a random
   * epoch per activation and a counter bumped on every change, so a gateway can keep a rendered
   * page and ask "still `version`?" instead of fetching it again.
   */
  private readonly epoch = randomBytes(6).toString('base64url');
  private changes = 0;

  constructor(
    readonly chatId: string,
    private readonly deps: ActorDeps,
    private readonly onLostLease: (actor: ChatActor) => void,
  ) {
    const parsed = parseChatId(chatId);
    if (!parsed) throw new AppError('invalid_param', 'malformed chat id');
    this.parsed = parsed;
    this.membership = new Membership(parsed, deps.store, () => this.ensureWritable());
    this.receipts = new Receipts(chatId, this.recent, this.membership);
  }

  onLost(): void {
    this.closed = true;
    this.onLostLease(this);
  }

  /**
   * Claims the chat in the store and loads its state. Call after the lease is held. `claim` is the chat's
   * claim when the caller already made it (the shard claims the chats of one activation batch together).
   * The claim comes first: whatever a previous owner still writes afterwards is refused or outranked, so
   * what is read next is the state this actor continues from.
   */
  async load(claim?: Claim): Promise<void> {
    const { store } = this.deps;
    this.claim = claim ?? (await store.messages.claim([this.chatId])).get(this.chatId);
    // The newest DEDUP_MAX messages restore the client ids a retry may repeat after the chat moved here.
    const [newest, marks] = await Promise.all([
      store.messages.history(this.chatId, { limit: DEDUP_MAX }),
      store.messages.marks(this.chatId),
    ]);
    this.lastId = this.claim?.state?.lastId ?? 0;
    this.durableId = this.lastId;
    this.recent.load(newest);
    for (const m of marks) if (this.receipts.apply(m)) this.changes++;
    await this.membership.load();
  }

  /** True for a dialog one of whose users did not exist when last checked. */
  get missingDialogUser(): boolean {
    return this.membership.missingDialogUser;
  }

  /**
   * Re-checks a dialog whose user was missing: that login may have registered
   * since the actor loaded (users are never deleted, so a found pair stays found).
   */
  refreshDialogUsers(): Promise<void> {
    return this.membership.refreshDialogUsers();
  }

  /** `writable` as a value, for the group writer's check before each batch. */
  private readonly stillWritable = (): boolean => this.writable();

  private writable(): boolean {
    return !this.closed && performance.now() < this.validUntil;
  }

  private ensureWritable(): void {
    if (!this.writable()) throw new AppError('wrong_shard', 'chat lease not held');
  }

  private fail(): void {
    if (this.closed) return;
    this.closed = true;
    this.onLostLease(this);
  }

  // ---- messages

  /**
   * Stores a message and fans it out. `origin` is the sending socket (its gateway gets the acknowledgement
   * from the reply); `soleNode`, when set, is that socket's gateway, where the sender has no other socket.
   */
  async send(
    user: string,
    text: string,
    clientId: string,
    originConn: string,
    soleNode = '',
  ): Promise<MessageView> {
    this.membership.requireRead(user);
    if (typeof text !== 'string' || text.length === 0 || longerThan(text, MAX_TEXT)) {
      throw new AppError('text_too_long', `text must be 1–${MAX_TEXT} characters`, 'text');
    }
    const key = clientId ? dedupKey(user, clientId) : '';
    if (key) {
      const seen = this.recent.seen(key);
      if (seen !== undefined) return this.repeat(key, seen, originConn);
    }
    this.ensureWritable();
    const message: StoredMessage = {
      chatId: this.chatId,
      id: ++this.lastId,
      sender: user,
      text,
      time: Date.now(),
      clientId: clientId || null,
    };
    const durable = this.deps.writer.append(message, this.stillWritable, this.claim);
    const pending: PendingSend | null = key ? { message, durable } : null;
    if (pending) this.recent.remember(key, pending);
    this.recent.push(message);
    try {
      await durable;
    } catch (err) {
      // The write failed or was refused: this actor's view of the chat is no longer trustworthy.
      this.fail();
      throw err instanceof AppError ? err : new AppError('unavailable', 'message not stored, try again');
    }
    if (message.id > this.durableId) {
      this.durableId = message.id;
      this.changes++;
    }
    this.publishMessage(message, originConn, soleNode);
    // Committed and announced: keep only the id (unless the window has moved past it meanwhile).
    if (pending) this.recent.replace(key, pending, message.id);
    this.membership.joinedBySending(user);
    // Sending implies the sender has seen the chat up to their own message.
    void this.raise([{ user, deliveredId: message.id, readId: message.id }]).catch(() => undefined);
    return this.view(message);
  }

  private publishMessage(message: StoredMessage, originConn: string, soleNode = ''): void {
    const payload: Record<string, unknown> = {
      id: message.id,
      text: message.text,
      sender: message.sender,
      status: 'sent',
      time: isoTime(message.time),
    };
    if (this.parsed.kind === 'dialog') payload.receiver = dialogPeer(this.chatId, message.sender);
    if (message.clientId) payload.client_id = message.clientId;
    const audience = this.membership.audience();
    this.deps.delivery.publish({
      type: 'new_message',
      chatId: this.chatId,
      users: audience,
      excludeConn: originConn,
      ...(soleNode ? { skip: { user: message.sender, node: soleNode } } : {}),
      payload: JSON.stringify(payload),
      storedAtMs: message.time,
      onOffline:
        audience === '*'
          ? undefined
          : (offline) => {
              const receivers = offline.filter((u) => u !== message.sender);
              if (receivers.length > 0) this.deps.notifyOffline(receivers, message);
            },
    });
  }

  /** Answers a send whose (sender, client_id) is in the dedup window with the message stored for it. */
  private async repeat(key: string, seen: Seen, originConn: string): Promise<MessageView> {
    if (typeof seen !== 'number') {
      // Still being committed by the first send, which announces it.
      await seen.durable;
      return this.view(seen.message);
    }
    const id = Math.abs(seen);
    const message =
      this.recent.find(id) ??
      (await this.deps.store.messages.history(this.chatId, { after: id - 1, limit: 1 }))[0];
    if (message?.id !== id) throw new AppError('unavailable', 'message not found, try again');
    // Stored by an owner that may have died before fanning it out: announce it (sockets drop repeats).
    if (seen < 0 && this.recent.replace(key, seen, id)) this.publishMessage(message, originConn);
    return this.view(message);
  }

  private view(message: StoredMessage): MessageView {
    return { ...message, status: this.receipts.statusOf(message) };
  }

  /** See `epoch`: changes whenever any history page could read differently. */
  get version(): string {
    return `${this.epoch}.${this.changes}`;
  }

  /**
   * A page of history. With `ifVersion` equal to the current version the page
   * is not built (`notModified`): the caller still has it. Fetching counts as
   * delivery to `user` either way.
   */
  async history(
    user: string,
    query: { before?: number; after?: number; limit: number; ifVersion?: string },
  ): Promise<{
    messages: MessageView[];
    moreBefore: boolean;
    lastId: number;
    group: GroupView | null;
    version: string;
    notModified: boolean;
  }> {
    this.membership.requireRead(user);
    const { limit } = query;
    // Taken before any await: a page built from a newer state than its version is only refetched.
    const version = this.version;
    if (query.ifVersion === version) {
      // Ids are dense (1..durableId), so the newest id of the unchanged page follows from the query.
      const newest =
        query.after !== undefined
          ? Math.min(query.after + limit, this.durableId)
          : Math.min(query.before ?? Infinity, this.durableId + 1) - 1;
      if (newest >= 1 && (query.after === undefined || newest > query.after)) this.noteFetched(user, newest);
      return {
        messages: [],
        moreBefore: false,
        lastId: this.durableId,
        group: null,
        version,
        notModified: true,
      };
    }
    let messages: StoredMessage[];
    const durable = this.recent.messages.filter((m) => m.id <= this.durableId);
    const first = durable[0]?.id ?? this.durableId + 1;
    if (query.after !== undefined) {
      messages =
        query.after + 1 >= first || this.durableId === 0
          ? durable.filter((m) => m.id > query.after!).slice(0, limit)
          : await this.deps.store.messages.history(this.chatId, { after: query.after, limit });
    } else {
      const upper =
        query.before !== undefined ? Math.min(query.before, this.durableId + 1) : this.durableId + 1;
      const lower = Math.max(1, upper - limit);
      messages =
        lower >= first || this.durableId === 0
          ? durable.filter((m) => m.id < upper && m.id >= lower)
          : await this.deps.store.messages.history(this.chatId, { before: upper, limit });
    }
    const views = messages.map((m) => this.view(m));
    const newest = messages[messages.length - 1];
    if (newest) this.noteFetched(user, newest.id);
    return {
      messages: views,
      moreBefore: messages.length > 0 ? messages[0]!.id > 1 : false,
      lastId: this.durableId,
      group: this.membership.view(),
      version,
      notModified: false,
    };
  }

  /** Fetching history counts as delivery to that user (API.md: "or the receiver fetched it"). */
  private noteFetched(user: string, id: number): void {
    if (id > this.receipts.of(user).deliveredId)
      void this.raise([{ user, deliveredId: id, readId: 0 }]).catch(() => undefined);
  }

  /** Checks read access; used before a WebSocket follows the chat. */
  access(user: string): { lastId: number; group: GroupView | null } {
    this.membership.requireRead(user);
    return { lastId: this.durableId, group: this.membership.view() };
  }

  // ---- marks (invariant 5: never backwards, read implies delivered)

  async mark(user: string, kind: 'delivered' | 'read', id: number): Promise<Marks> {
    this.membership.requireRead(user);
    const capped = Math.min(id, this.durableId);
    await this.raise([{ user, deliveredId: capped, readId: kind === 'read' ? capped : 0 }]);
    return this.receipts.of(user);
  }

  /** Delivered marks of several users at once (one gateway flush); users who may not read are skipped. */
  async delivered(entries: readonly { user: string; id: number }[]): Promise<void> {
    await this.raise(
      entries
        .filter(({ user }) => this.membership.mayRead(user))
        .map(({ user, id }) => ({ user, deliveredId: Math.min(id, this.durableId), readId: 0 })),
    );
  }

  /**
   * Raises marks durably with one status computation (a group gets at most one broadcast per batch), then
   * tells the senders whose messages changed status.
   */
  private async raise(updates: readonly MarkUpdate[]): Promise<void> {
    const raise = this.receipts.plan(updates);
    if (!raise) return;
    this.ensureWritable();
    for (const c of raise.changed) if (this.receipts.apply(c.next)) this.changes++;
    const { writer } = this.deps;
    if (raise.changed.length === 1) await writer.saveMarks(this.chatId, raise.changed[0]!.next, this.claim);
    else await Promise.all(raise.changed.map((c) => writer.saveMarks(this.chatId, c.next, this.claim)));
    for (const change of this.receipts.statusChanges(raise)) this.publishStatus(change);
  }

  private publishStatus({ users, id, status, except }: StatusChange): void {
    this.deps.delivery.publish({
      type: 'message_status',
      chatId: this.chatId,
      users,
      excludeConn: '',
      payload: JSON.stringify(except === undefined ? { id, status } : { id, status, except }),
      storedAtMs: 0,
    });
  }

  // ---- typing

  typing(user: string, originConn: string): void {
    this.membership.requireRead(user);
    const audience = this.membership.audience();
    this.deps.delivery.publish({
      type: 'typing',
      chatId: this.chatId,
      users: audience === '*' ? '*' : audience.filter((u) => u !== user),
      excludeConn: originConn,
      payload: JSON.stringify({ user_login: user }),
      storedAtMs: 0,
    });
  }

  // ---- groups (membership.ts)

  async createGroup(user: string, name: string, isPublic: boolean, members: string[]): Promise<GroupView> {
    const view = await this.membership.create(user, name, isPublic, members);
    this.changes++;
    return view;
  }

  membersOf(user: string): GroupMemberRecord[] {
    return this.membership.membersOf(user);
  }

  addMember(user: string, login: string): Promise<GroupMemberRecord[]> {
    return this.membership.add(user, login);
  }

  removeMember(user: string, login: string): Promise<void> {
    return this.membership.remove(user, login);
  }
}
