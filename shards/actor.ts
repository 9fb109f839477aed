/**
 * One chat's single writer. The actor owns the chat's hot state while its
 * lease is valid: the last id, the newest messages (served to history reads
 * without touching the store), recent client ids for deduplication, every
 * member's delivered/read marks, and for groups the group record and members.
 *
 * Sends are validated, deduplicated by (sender, client_id), given id =
 * last + 1 synchronously (so ids follow arrival order), written through the
 * shard's group commit, and acknowledged only once durable. Events (the new
 * message, status changes) are published after the write, in id order.
 */
import { randomBytes } from 'node:crypto';
import { MAX_GROUP_MEMBERS, MAX_TEXT } from '../common/api.js';
import { AppError } from '../common/errors.js';
import { dialogPeer, parseChatId, type ParsedChat } from '../common/ids.js';
import { longerThan } from '../common/text.js';
import { isoTime } from '../common/time.js';
import type {
  Claim,
  GroupMemberRecord,
  GroupRecord,
  GroupRole,
  Marks,
  Store,
  StoredMessage,
} from '../store/index.js';
import type { Delivery } from '../delivery/index.js';
import type { LeaseHolder } from './leases.js';
import type { GroupWriter } from './writer.js';

/** Messages kept in memory per chat (covers the default history page and recent retries). */
const RECENT = 256;
/** client ids remembered per chat for deduplication, beyond the recent messages. */
const DEDUP_MAX = 4096;

export type Status = 'sent' | 'delivered' | 'read';

export interface MessageView extends StoredMessage {
  status: Status;
}

export interface GroupView extends GroupRecord {
  members: GroupMemberRecord[];
}

export interface ActorDeps {
  store: Store;
  writer: GroupWriter;
  /** Where the chat's events go (new messages, status changes, typing). */
  delivery: Delivery;
  /** Hands undelivered messages to the relay for offline notification. */
  notifyOffline(receivers: string[], message: StoredMessage): void;
}

interface Top {
  login: string;
  id: number;
}

/** The two highest marks held by distinct users, for "read by at least one other member". */
class TopTwo {
  first: Top | null = null;
  second: Top | null = null;

  raise(login: string, id: number): void {
    if (this.first?.login === login) {
      this.first.id = Math.max(this.first.id, id);
    } else if (this.second?.login === login) {
      this.second.id = Math.max(this.second.id, id);
    } else if (!this.second || id > this.second.id) {
      this.second = { login, id };
    } else {
      return;
    }
    if (this.second && (!this.first || this.second.id > this.first.id)) {
      [this.first, this.second] = [this.second, this.first];
    }
  }

  /** Highest mark among users other than `login`. */
  excluding(login: string): number {
    if (this.first && this.first.login !== login) return this.first.id;
    return this.second?.id ?? 0;
  }
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
  private recent: StoredMessage[] = [];
  /**
   * The newest DEDUP_MAX (sender, client_id) pairs of the chat, so a repeated send returns the message it
   * already stored. A send still being committed keeps its message and write; every other entry is only
   * the message id (4,096 chats × 4,096 full messages made the heap hundreds of MB and every major GC a
   * pause of 100+ ms): positive once this owner announced the message, negative when it was loaded from
   * the store (a previous owner may have died before publishing it, so a repeat announces it again).
   */
  private readonly dedup = new Map<string, PendingSend | number>();
  private readonly marks = new Map<string, Marks>();
  private readonly topDelivered = new TopTwo();
  private readonly topRead = new TopTwo();
  private group: GroupRecord | null = null;
  /** This actor's claim on the chat in the store: every write carries it (store fencing). */
  private claim: Claim | undefined;
  private readonly members = new Map<string, GroupRole>();
  private dialogUsersExist = false;
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
    this.recent = newest.slice(-RECENT);
    for (const m of newest) if (m.clientId) this.remember(dedupKey(m.sender, m.clientId), -m.id);
    for (const m of marks) this.applyMarks(m);
    if (this.parsed.kind === 'group') {
      const [group, members] = await Promise.all([
        store.groups.getGroup(this.parsed.groupId!),
        store.groups.listMembers(this.parsed.groupId!),
      ]);
      this.group = group;
      for (const m of members) this.members.set(m.login, m.role);
    } else {
      const profiles = await store.users.getProfiles(this.parsed.members!);
      this.dialogUsersExist = profiles.size === 2;
    }
  }

  /** True for a dialog one of whose users did not exist when last checked. */
  get missingDialogUser(): boolean {
    return this.parsed.kind === 'dialog' && !this.dialogUsersExist;
  }

  /**
   * Re-checks a dialog whose user was missing: that login may have registered
   * since the actor loaded (users are never deleted, so a found pair stays found).
   */
  async refreshDialogUsers(): Promise<void> {
    const profiles = await this.deps.store.users.getProfiles(this.parsed.members!);
    this.dialogUsersExist = profiles.size === 2;
  }

  /** `writable` as a value, for the group writer's check before each batch. */
  private readonly stillWritable = (): boolean => this.writable();

  private writable(): boolean {
    return !this.closed && Date.now() < this.validUntil;
  }

  private ensureWritable(): void {
    if (!this.writable()) throw new AppError('wrong_shard', 'chat lease not held');
  }

  // ---- access rules (invariant 7: enforced here as well as at the gateway)

  private requireRead(user: string): void {
    if (this.parsed.kind === 'dialog') {
      if (!this.parsed.members!.includes(user))
        throw new AppError('forbidden', 'not a participant of this dialog');
      if (!this.dialogUsersExist) throw new AppError('user_not_found', 'no such user');
      return;
    }
    if (!this.group) throw new AppError('group_not_found', 'no such group');
    if (!this.group.isPublic && !this.members.has(user)) {
      throw new AppError('not_member', 'not a member of this group');
    }
  }

  /** Users who should receive events of this chat ('*' for public groups: everyone following it). */
  private audience(): string[] | '*' {
    if (this.parsed.kind === 'dialog') return [...this.parsed.members!];
    if (this.group?.isPublic) return '*';
    return [...this.members.keys()];
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
    this.requireRead(user);
    if (typeof text !== 'string' || text.length === 0 || longerThan(text, MAX_TEXT)) {
      throw new AppError('text_too_long', `text must be 1–${MAX_TEXT} characters`, 'text');
    }
    const key = clientId ? dedupKey(user, clientId) : '';
    if (key) {
      const seen = this.dedup.get(key);
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
    if (pending) this.remember(key, pending);
    this.recent.push(message);
    if (this.recent.length > RECENT * 2) this.recent = this.recent.slice(-RECENT);
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
    if (pending && this.dedup.get(key) === pending) this.dedup.set(key, message.id);
    if (this.group?.isPublic && !this.members.has(user)) {
      // A user becomes a listed member of a public group when first sending to it.
      this.members.set(user, 'member');
      void this.deps.store.groups.addMember(this.group.id, user, 'member').catch(() => undefined);
    }
    // Sending implies the sender has seen the chat up to their own message.
    void this.raise(user, message.id, message.id).catch(() => undefined);
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
    const audience = this.audience();
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

  private fail(): void {
    if (this.closed) return;
    this.closed = true;
    this.onLostLease(this);
  }

  /** Answers a send whose (sender, client_id) is in the dedup window with the message stored for it. */
  private async repeat(key: string, seen: PendingSend | number, originConn: string): Promise<MessageView> {
    if (typeof seen !== 'number') {
      // Still being committed by the first send, which announces it.
      await seen.durable;
      return this.view(seen.message);
    }
    const id = Math.abs(seen);
    const message =
      this.recentMessage(id) ??
      (await this.deps.store.messages.history(this.chatId, { after: id - 1, limit: 1 }))[0];
    if (message?.id !== id) throw new AppError('unavailable', 'message not found, try again');
    if (seen < 0 && this.dedup.get(key) === seen) {
      // Stored by an owner that may have died before fanning it out: announce it (sockets drop repeats).
      this.dedup.set(key, id);
      this.publishMessage(message, originConn);
    }
    return this.view(message);
  }

  /** The message with `id` if it is among the recent ones kept in memory. */
  private recentMessage(id: number): StoredMessage | undefined {
    const recent = this.recent;
    let lo = 0;
    let hi = recent.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const m = recent[mid]!;
      if (m.id === id) return m;
      if (m.id < id) lo = mid + 1;
      else hi = mid - 1;
    }
    return undefined;
  }

  private remember(key: string, entry: PendingSend | number): void {
    this.dedup.set(key, entry);
    if (this.dedup.size > DEDUP_MAX) {
      const oldest = this.dedup.keys().next().value;
      if (oldest !== undefined) this.dedup.delete(oldest);
    }
  }

  /** Status of a message from its sender's point of view. */
  private statusOf(message: StoredMessage): Status {
    let delivered: number;
    let read: number;
    if (this.parsed.kind === 'dialog') {
      const peer = this.marks.get(dialogPeer(this.chatId, message.sender));
      delivered = peer?.deliveredId ?? 0;
      read = peer?.readId ?? 0;
    } else {
      delivered = this.topDelivered.excluding(message.sender);
      read = this.topRead.excluding(message.sender);
    }
    if (read >= message.id) return 'read';
    if (delivered >= message.id) return 'delivered';
    return 'sent';
  }

  private view(message: StoredMessage): MessageView {
    return { ...message, status: this.statusOf(message) };
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
    this.requireRead(user);
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
    const durable = this.recent.filter((m) => m.id <= this.durableId);
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
      group: this.groupView(),
      version,
      notModified: false,
    };
  }

  /** Fetching history counts as delivery to that user (API.md: "or the receiver fetched it"). */
  private noteFetched(user: string, id: number): void {
    const current = this.marks.get(user)?.deliveredId ?? 0;
    if (id > current) void this.raise(user, id, 0).catch(() => undefined);
  }

  /** Checks read access; used before a WebSocket follows the chat. */
  access(user: string): { lastId: number; group: GroupView | null } {
    this.requireRead(user);
    return { lastId: this.durableId, group: this.groupView() };
  }

  // ---- marks (invariant 5: never backwards, read implies delivered)

  private applyMarks(m: Marks): void {
    const prev = this.marks.get(m.login);
    const deliveredId = Math.max(prev?.deliveredId ?? 0, m.deliveredId, m.readId);
    const readId = Math.max(prev?.readId ?? 0, m.readId);
    if (deliveredId !== prev?.deliveredId || readId !== prev?.readId) this.changes++;
    this.marks.set(m.login, { login: m.login, deliveredId, readId });
    this.topDelivered.raise(m.login, deliveredId);
    this.topRead.raise(m.login, readId);
  }

  async mark(user: string, kind: 'delivered' | 'read', id: number): Promise<Marks> {
    this.requireRead(user);
    const capped = Math.min(id, this.durableId);
    if (kind === 'read') await this.raise(user, capped, capped);
    else await this.raise(user, capped, 0);
    return this.marks.get(user) ?? { login: user, deliveredId: 0, readId: 0 };
  }

  /** Delivered marks of several users at once (one gateway flush); users who may not read are skipped. */
  async delivered(entries: readonly { user: string; id: number }[]): Promise<void> {
    const allowed = entries.filter(({ user }) => {
      try {
        this.requireRead(user);
        return true;
      } catch {
        return false;
      }
    });
    await this.raiseMany(
      allowed.map(({ user, id }) => {
        const capped = Math.min(id, this.durableId);
        return { user, deliveredId: capped, readId: 0 };
      }),
    );
  }

  /** Raises a user's marks durably, then tells the senders whose messages changed status. */
  private raise(user: string, deliveredId: number, readId: number): Promise<void> {
    return this.raiseMany([{ user, deliveredId, readId }]);
  }

  /** Raises marks of several users with one status computation (a group gets at most one broadcast). */
  private async raiseMany(
    updates: readonly { user: string; deliveredId: number; readId: number }[],
  ): Promise<void> {
    // Only group statuses compare against the top marks before the batch.
    const before = this.parsed.kind === 'dialog' ? null : this.statusSnapshot();
    const changed: { user: string; prev: Marks; next: Marks }[] = [];
    for (const u of updates) {
      const prev = this.marks.get(u.user) ?? { login: u.user, deliveredId: 0, readId: 0 };
      const next = {
        login: u.user,
        deliveredId: Math.max(prev.deliveredId, u.deliveredId, u.readId),
        readId: Math.max(prev.readId, u.readId),
      };
      if (next.deliveredId === prev.deliveredId && next.readId === prev.readId) continue;
      changed.push({ user: u.user, prev, next });
    }
    if (changed.length === 0) return;
    this.ensureWritable();
    for (const c of changed) this.applyMarks(c.next);
    if (changed.length === 1) await this.deps.writer.saveMarks(this.chatId, changed[0]!.next, this.claim);
    else await Promise.all(changed.map((c) => this.deps.writer.saveMarks(this.chatId, c.next, this.claim)));
    const relevant = changed.filter((c) =>
      this.othersWroteBetween(c.user, Math.min(c.prev.deliveredId, c.prev.readId), c.next.deliveredId),
    );
    if (this.parsed.kind === 'dialog') {
      for (const c of relevant) this.publishStatus(c.user, c.prev, c.next, before);
    } else if (relevant.length > 0) {
      // Group statuses depend only on the top marks, compared once against the state before the batch.
      const c = relevant[0]!;
      this.publishStatus(c.user, c.prev, c.next, before);
    }
  }

  /** Whether anyone but `user` sent a message with an id in (from, to]; true when memory cannot tell. */
  private othersWroteBetween(user: string, from: number, to: number): boolean {
    const first = this.recent[0]?.id ?? Infinity;
    if (from + 1 < first) return true;
    for (let i = this.recent.length - 1; i >= 0; i--) {
      const m = this.recent[i]!;
      if (m.id <= from) break;
      if (m.id <= to && m.sender !== user) return true;
    }
    return false;
  }

  private statusSnapshot() {
    return {
      delivered: {
        first: this.topDelivered.first ? { ...this.topDelivered.first } : null,
        second: this.topDelivered.second?.id ?? 0,
      },
      read: {
        first: this.topRead.first ? { ...this.topRead.first } : null,
        second: this.topRead.second?.id ?? 0,
      },
    };
  }

  private publishStatus(
    user: string,
    prev: Marks,
    next: Marks,
    before: ReturnType<ChatActor['statusSnapshot']> | null,
  ): void {
    if (this.parsed.kind === 'dialog' || !before) {
      const peer = dialogPeer(this.chatId, user);
      if (next.deliveredId > prev.deliveredId && next.deliveredId > next.readId) {
        this.emitStatus([peer], next.deliveredId, 'delivered');
      }
      if (next.readId > prev.readId) this.emitStatus([peer], next.readId, 'read');
      return;
    }
    // Groups: senders other than the top holder see the top mark; the top holder sees the second.
    // A status goes only to members with a message of their own whose status it changes (as for
    // dialogs): a member who sent nothing in the range learns nothing from it.
    for (const [top, was, status] of [
      [this.topDelivered, before.delivered, 'delivered'],
      [this.topRead, before.read, 'read'],
    ] as const) {
      const first = top.first;
      if (!first) continue;
      if (!was.first || first.id > was.first.id || first.login !== was.first.login) {
        // Everyone but the previous top holder saw was.first; the previous holder saw was.second.
        const wasFirstId = was.first?.id ?? 0;
        const senders = this.sendersBetween(wasFirstId, first.id);
        const previousTop = was.first && was.first.login !== first.login ? was.first.login : null;
        const previousTopConcerned =
          previousTop !== null && this.sentBetween(previousTop, was.second, first.id);
        if (senders === null) {
          const others = this.audience();
          if (others === '*') this.emitStatusToAll(first.id, status, first.login);
          else
            this.emitStatus(
              others.filter((u) => u !== first.login),
              first.id,
              status,
            );
        } else {
          if (previousTopConcerned) senders.add(previousTop);
          senders.delete(first.login);
          this.emitStatus(
            [...senders].filter((u) => this.group?.isPublic || this.members.has(u)),
            first.id,
            status,
          );
        }
      }
      const second = top.second?.id ?? 0;
      if (second > was.second) {
        // The top holder saw was.first (someone else's) or was.second (when it held the top already).
        const seen = was.first && was.first.login !== first.login ? was.first.id : was.second;
        if (this.sentBetween(first.login, seen, second)) this.emitStatus([first.login], second, status);
      }
    }
  }

  /** Senders of the messages with ids in (from, to]; null when memory does not reach back to `from`. */
  private sendersBetween(from: number, to: number): Set<string> | null {
    const out = new Set<string>();
    if (to <= from) return out;
    const first = this.recent[0]?.id ?? Infinity;
    if (from + 1 < first) return null;
    for (let i = this.recent.length - 1; i >= 0; i--) {
      const m = this.recent[i]!;
      if (m.id <= from) break;
      if (m.id <= to) out.add(m.sender);
    }
    return out;
  }

  /** Whether `user` sent a message with an id in (from, to]; true when memory cannot tell. */
  private sentBetween(user: string, from: number, to: number): boolean {
    if (to <= from) return false;
    const first = this.recent[0]?.id ?? Infinity;
    if (from + 1 < first) return true;
    for (let i = this.recent.length - 1; i >= 0; i--) {
      const m = this.recent[i]!;
      if (m.id <= from) break;
      if (m.id <= to && m.sender === user) return true;
    }
    return false;
  }

  private emitStatus(users: string[], id: number, status: Status): void {
    if (users.length === 0 || id <= 0) return;
    this.deps.delivery.publish({
      type: 'message_status',
      chatId: this.chatId,
      users,
      excludeConn: '',
      payload: JSON.stringify({ id, status }),
      storedAtMs: 0,
    });
  }

  private emitStatusToAll(id: number, status: Status, exceptUser: string): void {
    this.deps.delivery.publish({
      type: 'message_status',
      chatId: this.chatId,
      users: '*',
      excludeConn: '',
      payload: JSON.stringify({ id, status, except: exceptUser }),
      storedAtMs: 0,
    });
  }

  // ---- typing

  typing(user: string, originConn: string): void {
    this.requireRead(user);
    const audience = this.audience();
    this.deps.delivery.publish({
      type: 'typing',
      chatId: this.chatId,
      users: audience === '*' ? '*' : audience.filter((u) => u !== user),
      excludeConn: originConn,
      payload: JSON.stringify({ user_login: user }),
      storedAtMs: 0,
    });
  }

  // ---- groups

  private groupView(): GroupView | null {
    if (!this.group) return null;
    return { ...this.group, members: this.memberList() };
  }

  private memberList(): GroupMemberRecord[] {
    return [...this.members]
      .map(([login, role]) => ({ login, role }))
      .sort((a, b) => (a.login < b.login ? -1 : a.login > b.login ? 1 : 0));
  }

  async createGroup(user: string, name: string, isPublic: boolean, members: string[]): Promise<GroupView> {
    if (this.parsed.kind !== 'group') throw new AppError('invalid_param', 'not a group chat');
    if (this.group) throw new AppError('invalid_param', 'group already exists');
    this.ensureWritable();
    const wanted = isPublic ? [] : [...new Set(members.filter((m) => m !== user))];
    // API.md bounds the `members` field (the creator comes on top), as the gateway checks it.
    if (wanted.length > MAX_GROUP_MEMBERS) {
      throw new AppError('invalid_field', `at most ${MAX_GROUP_MEMBERS} members`, 'members');
    }
    const profiles = await this.deps.store.users.getProfiles([user, ...wanted]);
    const unknown = wanted.filter((m) => !profiles.has(m));
    if (unknown.length > 0) {
      throw new AppError(
        'unknown_member',
        `unknown member login: ${unknown.slice(0, 5).join(', ')}`,
        'members',
      );
    }
    const group: GroupRecord = {
      id: this.parsed.groupId!,
      name,
      isPublic,
      owner: user,
      createdAt: Date.now(),
    };
    const records: GroupMemberRecord[] = [
      { login: user, role: 'owner' },
      ...wanted.map((login) => ({ login, role: 'member' as const })),
    ];
    await this.deps.store.groups.createGroup(group, records);
    this.group = group;
    this.changes++;
    for (const r of records) this.members.set(r.login, r.role);
    return this.groupView()!;
  }

  membersOf(user: string): GroupMemberRecord[] {
    if (this.parsed.kind !== 'group') throw new AppError('not_found', 'not a group');
    this.requireRead(user);
    return this.memberList();
  }

  async addMember(user: string, login: string): Promise<GroupMemberRecord[]> {
    if (this.parsed.kind !== 'group') throw new AppError('not_found', 'not a group');
    this.requireRead(user);
    const group = this.group!;
    if (login !== user && group.owner !== user) {
      throw new AppError('owner_only', 'only the owner may add other members');
    }
    if (!group.isPublic && group.owner !== user)
      throw new AppError('owner_only', 'only the owner may add members');
    if (this.members.has(login)) return this.memberList();
    if (this.members.size >= MAX_GROUP_MEMBERS) {
      throw new AppError('invalid_field', `a group has at most ${MAX_GROUP_MEMBERS} members`, 'login');
    }
    const profiles = await this.deps.store.users.getProfiles([login]);
    if (!profiles.has(login)) throw new AppError('user_not_found', 'no such user');
    this.ensureWritable();
    await this.deps.store.groups.addMember(group.id, login, 'member');
    this.members.set(login, 'member');
    return this.memberList();
  }

  async removeMember(user: string, login: string): Promise<void> {
    if (this.parsed.kind !== 'group') throw new AppError('not_found', 'not a group');
    this.requireRead(user);
    const group = this.group!;
    if (login !== user && group.owner !== user) {
      throw new AppError('owner_only', 'only the owner may remove other members');
    }
    if (!this.members.has(login)) throw new AppError('not_found', 'not a member of this group');
    if (login === group.owner && this.members.size > 1) {
      throw new AppError('owner_cannot_leave', 'the owner cannot leave while other members remain');
    }
    this.ensureWritable();
    await this.deps.store.groups.removeMember(group.id, login);
    this.members.delete(login);
  }
}

/** A send being committed: its message and its write. */
interface PendingSend {
  message: StoredMessage;
  durable: Promise<void>;
}

function dedupKey(sender: string, clientId: string): string {
  return `${sender}\u0000${clientId}`;
}
