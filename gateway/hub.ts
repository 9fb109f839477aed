/**
 * The gateway's local sockets and how events reach them. Each socket keeps,
 * per chat, the id of the last message it was sent (its cursor): a message at
 * or below the cursor is a duplicate and dropped; one above cursor + 1 waits
 * in a small hold-back buffer until the gap fills, and a gap that does not
 * fill quickly is repaired from history. So every socket receives each chat's
 * messages exactly once and in id order, whichever path (the sender's own ack
 * over gRPC, or the inbox stream) delivered them first.
 *
 * An event for many sockets is serialized once per gateway and the same bytes
 * go to every socket. Within a batch, frames are queued per socket and each
 * socket then gets all of its frames in one corked write: one syscall per
 * socket per batch instead of one per frame. `turn` keeps the batch open until
 * the end of the event-loop turn, so the sender's acks (gRPC replies) and inbox
 * deliveries (Redis reads) handled in one turn share each socket's write. A
 * socket's frames are queued in the order they were written, and cursors move
 * when a frame is queued, so ordering and exactly-once hold whichever path
 * wrote first; closing a socket (`end`) first sends what is queued for it.
 */
import type { WebSocket } from 'uWebSockets.js';
import type { ChatRef } from '../common/api.js';
import { dialogPeer } from '../common/ids.js';
import type { Logger } from '../common/logger.js';
import { deliverySeconds, messagesDelivered, wsDropped } from '../common/metrics.js';
import { OneTurn } from '../common/turn.js';
import type { InboxEntry } from '../delivery/index.js';

/** One WebSocket text frame: a JSON event, as a string or as its UTF-8 bytes (shared by many sockets). */
export type Frame = string | Buffer;

/** Per-socket state (uWS user data). */
export interface Conn {
  id: string;
  login: string;
  tokenHash: string;
  /** What the socket follows: one dialog, one group, or all the user's chats. */
  kind: 'dialog' | 'group' | 'all';
  chatId: string | null;
  peer: string | null;
  cursors: Map<string, number>;
  /** Frames held back per chat until the gap before them closes (created on first use: most sockets never need it). */
  holdback: Map<string, Map<number, Frame>> | null;
  /** Chats whose gap is being repaired from history (created on first use). */
  repairing: Set<string> | null;
  ws: WebSocket<Conn> | null;
  closed: boolean;
  errors: number;
  errorWindowStart: number;
  /** Last typing event forwarded per chat (created on first use). */
  typingAt: Map<string, number> | null;
  /** Frames queued for this socket during the current batch (null when none). */
  outbox: Frame[] | null;
  /**
   * Settles when the sends of this socket that wait for the rate limiter have been handed on (null when
   * none waits): later sends queue behind it, so the chat stores a socket's messages in the order sent.
   */
  sendGate: Promise<void> | null;
}

export interface HubHooks {
  /** Fetches messages of a chat after `after` as rendered new_message JSON per id (for gap repair). */
  fetchAfter(conn: Conn, chatId: string, after: number): Promise<{ id: number; json: string }[]>;
  /** A message reached a recipient socket (advances the delivered mark). */
  delivered(chatId: string, login: string, id: number): void;
}

const REPAIR_AFTER_MS = 250;

export function chatRef(chatId: string, viewer: string): ChatRef {
  return chatId.startsWith('d:')
    ? { type: 'dialog', id: dialogPeer(chatId, viewer) }
    : { type: 'group', id: chatId.slice(2) };
}

export function eventJson(type: string, payload: unknown): string {
  return JSON.stringify({ type, payload });
}

export class Hub {
  readonly byUser = new Map<string, Set<Conn>>();
  private readonly byChat = new Map<string, Set<Conn>>();
  private readonly multiplexed = new Set<Conn>();
  private readonly byToken = new Map<string, Set<Conn>>();
  private batching = false;
  /** Sockets with queued frames in the current batch, in the order of their first frame. */
  private queued: Conn[] = [];
  /** Ends the batch opened by `turn` at the end of the event-loop turn. */
  private readonly endOfTurn = new OneTurn(() => {
    this.batching = false;
    this.flushQueued();
  });

  constructor(
    private readonly hooks: HubHooks,
    private readonly logger: Logger,
  ) {}

  get size(): number {
    let n = 0;
    for (const set of this.byUser.values()) n += set.size;
    return n;
  }

  add(conn: Conn): void {
    addTo(this.byUser, conn.login, conn);
    addTo(this.byToken, conn.tokenHash, conn);
    if (conn.kind === 'all') this.multiplexed.add(conn);
    else addTo(this.byChat, conn.chatId!, conn);
  }

  remove(conn: Conn): void {
    conn.closed = true;
    removeFrom(this.byUser, conn.login, conn);
    removeFrom(this.byToken, conn.tokenHash, conn);
    if (conn.kind === 'all') this.multiplexed.delete(conn);
    else removeFrom(this.byChat, conn.chatId!, conn);
  }

  /** How many sockets of `login` are open on this gateway. */
  socketsOf(login: string): number {
    return this.byUser.get(login)?.size ?? 0;
  }

  connsOfToken(tokenHash: string): Conn[] {
    return [...(this.byToken.get(tokenHash) ?? [])];
  }

  /** Some socket that is open, if any. */
  anyOpen(): WebSocket<Conn> | undefined {
    for (const conns of this.byUser.values()) {
      for (const c of conns) if (c.ws && !c.closed) return c.ws;
    }
    return undefined;
  }

  all(): Conn[] {
    return [...this.byUser.values()].flatMap((s) => [...s]);
  }

  /** Sends a frame (queued until the end of the batch, if one runs). */
  write(conn: Conn, frame: Frame): void {
    if (conn.closed || !conn.ws) return;
    if (!this.batching) {
      this.sendNow(conn, conn.ws, frame);
      return;
    }
    if (conn.outbox) {
      conn.outbox.push(frame);
    } else {
      conn.outbox = [frame];
      this.queued.push(conn);
    }
  }

  /**
   * Runs `fn` with writes queued per socket, then sends each socket its frames
   * in order, corked into one write. Nested calls join the outer batch.
   */
  batch(fn: () => void): void {
    if (this.batching) {
      fn();
      return;
    }
    this.batching = true;
    try {
      fn();
    } finally {
      this.batching = false;
      this.flushQueued();
    }
  }

  /**
   * Runs `fn` with writes queued per socket until the end of this event-loop turn (setImmediate), joining
   * a batch already open. Frames written by other callbacks of the same turn join the same corked writes.
   */
  turn(fn: () => void): void {
    if (!this.batching) {
      this.batching = true;
      this.endOfTurn.schedule();
    }
    fn();
  }

  /** Closes a socket after sending the frames queued for it. */
  end(conn: Conn, code: number, reason: string): void {
    const ws = conn.ws;
    if (conn.closed || !ws) return;
    if (conn.outbox) this.flushOne(conn);
    if (conn.closed) return;
    conn.closed = true;
    ws.end(code, reason);
  }

  private flushQueued(): void {
    const conns = this.queued;
    this.queued = [];
    for (const conn of conns) this.flushOne(conn);
  }

  private flushOne(conn: Conn): void {
    try {
      this.flush(conn);
    } catch (err) {
      conn.outbox = null;
      this.logger.warn({ err, conn: conn.id }, 'socket write failed');
    }
  }

  private flush(conn: Conn): void {
    const frames = conn.outbox;
    // Already sent (a socket closed with `end` mid-batch).
    if (!frames) return;
    conn.outbox = null;
    const ws = conn.ws;
    if (conn.closed || !ws) return;
    if (frames.length === 1) {
      this.sendNow(conn, ws, frames[0]!);
      return;
    }
    let tooSlow = false;
    ws.cork(() => {
      for (const frame of frames) {
        // A failed write may close the socket under us.
        if (conn.closed) break;
        if (ws.send(frame, false) === 2) {
          tooSlow = true;
          break;
        }
      }
    });
    if (tooSlow) this.drop(conn, ws);
  }

  /** Sends a frame; a client that cannot keep up is dropped rather than buffered without bound. */
  private sendNow(conn: Conn, ws: WebSocket<Conn>, frame: Frame): void {
    if (ws.send(frame, false) === 2) this.drop(conn, ws);
  }

  private drop(conn: Conn, ws: WebSocket<Conn>): void {
    wsDropped.inc({ reason: 'backpressure' });
    conn.closed = true;
    ws.end(1013, 'client too slow');
  }

  private follows(conn: Conn, chatId: string): boolean {
    return conn.kind === 'all' || conn.chatId === chatId;
  }

  private targets(entry: InboxEntry): Conn[] {
    const out: Conn[] = [];
    if (entry.users === '*') {
      for (const c of this.multiplexed) out.push(c);
      for (const c of this.byChat.get(entry.chatId) ?? []) out.push(c);
      return out;
    }
    for (const login of entry.users) {
      const conns = this.byUser.get(login);
      if (!conns) continue;
      for (const c of conns) if (!entry.chatId || this.follows(c, entry.chatId)) out.push(c);
    }
    return out;
  }

  /** Pushes one inbox entry to the local sockets it is for. */
  dispatch(entry: InboxEntry): void {
    const targets = this.targets(entry);
    if (targets.length === 0) return;
    let payload: Record<string, unknown>;
    try {
      payload = entry.data ?? (JSON.parse(entry.payload) as Record<string, unknown>);
    } catch {
      this.logger.warn({ type: entry.type }, 'dropping malformed inbox entry');
      return;
    }
    switch (entry.type) {
      case 'new_message':
        this.dispatchMessage(entry, payload, targets);
        return;
      case 'message_status': {
        const except = payload.except;
        delete payload.except;
        const render = chatFrames(entry.chatId, (chat) => eventJson('message_status', { chat, ...payload }));
        for (const c of targets) {
          if (c.login === except) continue;
          this.write(c, render(c.login));
        }
        return;
      }
      case 'typing': {
        const render = chatFrames(entry.chatId, (chat) => eventJson('typing', { chat, ...payload }));
        for (const c of targets) {
          if (c.login === payload.user_login || c.id === entry.excludeConn) continue;
          this.write(c, render(c.login));
        }
        return;
      }
      case 'user_status': {
        const frame = sharedFrame(eventJson('user_status', payload), targets.length);
        for (const c of targets) this.write(c, frame);
        return;
      }
    }
  }

  private dispatchMessage(entry: InboxEntry, payload: Record<string, unknown>, targets: Conn[]): void {
    const id = Number(payload.id);
    const sender = String(payload.sender);
    const clientId = payload.client_id;
    delete payload.client_id;
    // Group chats render the same frame for every non-sender (serialized once, sent as shared bytes);
    // dialogs differ per side.
    const isDialog = entry.chatId.startsWith('d:');
    let shared: Frame | null = null;
    let perSocket: Map<string, Frame> | null = null;
    const now = Date.now();
    const latency = entry.storedAtMs ? Math.max(0, now - entry.storedAtMs) / 1000 : -1;
    let delivered = 0;
    for (const c of targets) {
      if (c.id === entry.excludeConn) continue;
      const isSender = c.login === sender;
      let frame: Frame | undefined;
      if (!isSender && !isDialog) {
        shared ??= sharedFrame(
          eventJson('new_message', { chat: chatRef(entry.chatId, c.login), ...payload }),
          2,
        );
        frame = shared;
      } else {
        perSocket ??= new Map();
        const key = isSender ? `s:${c.login}` : `r:${c.login}`;
        frame = perSocket.get(key);
        if (!frame) {
          const body: Record<string, unknown> = { chat: chatRef(entry.chatId, c.login), ...payload };
          if (isSender && clientId) body.client_id = clientId;
          frame = eventJson('new_message', body);
          perSocket.set(key, frame);
        }
      }
      if (this.deliver(c, entry.chatId, id, frame) && !isSender) {
        this.hooks.delivered(entry.chatId, c.login, id);
        delivered++;
        if (latency >= 0) deliverySeconds.observe(latency);
      }
    }
    if (delivered > 0) messagesDelivered.inc(delivered);
  }

  /**
   * Delivers message `id` of a chat to one socket in order and at most once.
   * Returns true when the message was (or is queued to be) written.
   */
  deliver(conn: Conn, chatId: string, id: number, json: Frame): boolean {
    if (conn.closed) return false;
    let cursor = conn.cursors.get(chatId);
    if (cursor === undefined) {
      // Dialogs unknown at connect had no messages then; a group joined later starts where we meet it.
      cursor = chatId.startsWith('d:') ? 0 : id - 1;
      conn.cursors.set(chatId, cursor);
    }
    if (id <= cursor) return false;
    if (id === cursor + 1) {
      this.write(conn, json);
      conn.cursors.set(chatId, id);
      this.drainHeld(conn, chatId);
      return true;
    }
    conn.holdback ??= new Map();
    let held = conn.holdback.get(chatId);
    if (!held) {
      held = new Map();
      conn.holdback.set(chatId, held);
    }
    held.set(id, json);
    if (held.size > 1000) {
      // Something is badly behind: repair right away rather than hold more.
      void this.repair(conn, chatId);
    } else {
      setTimeout(() => void this.repair(conn, chatId), REPAIR_AFTER_MS).unref();
    }
    return true;
  }

  private drainHeld(conn: Conn, chatId: string): void {
    const held = conn.holdback?.get(chatId);
    if (!held) return;
    let cursor = conn.cursors.get(chatId)!;
    for (;;) {
      const json = held.get(cursor + 1);
      if (json === undefined) break;
      held.delete(cursor + 1);
      cursor++;
      this.write(conn, json);
    }
    for (const id of held.keys()) if (id <= cursor) held.delete(id);
    conn.cursors.set(chatId, cursor);
    if (held.size === 0) conn.holdback!.delete(chatId);
  }

  /** Fills a gap that did not close by itself from the chat's history. */
  private async repair(conn: Conn, chatId: string): Promise<void> {
    const held = conn.holdback?.get(chatId);
    if (!held || held.size === 0 || conn.closed || conn.repairing?.has(chatId)) return;
    conn.repairing ??= new Set();
    conn.repairing.add(chatId);
    try {
      const cursor = conn.cursors.get(chatId) ?? 0;
      const missing = await this.hooks.fetchAfter(conn, chatId, cursor);
      for (const m of missing) if (m.id > cursor && !held.has(m.id)) held.set(m.id, m.json);
      if (!held.has(cursor + 1)) {
        // History has nothing for the gap: move on rather than stall the chat.
        const next = Math.min(...held.keys());
        this.logger.warn({ chat: chatId, from: cursor, to: next }, 'skipping unrecoverable gap');
        conn.cursors.set(chatId, next - 1);
      }
      this.drainHeld(conn, chatId);
    } catch (err) {
      this.logger.debug({ err, chat: chatId }, 'gap repair failed; retrying');
      setTimeout(() => void this.repair(conn, chatId), REPAIR_AFTER_MS * 4).unref();
    } finally {
      conn.repairing?.delete(chatId);
    }
  }
}

/** UTF-8 bytes of a frame that goes to several sockets (uWS then copies them without re-encoding). */
function sharedFrame(json: string, sockets: number): Frame {
  return sockets > 1 ? Buffer.from(json) : json;
}

/**
 * Renders a chat event per viewer: a group's frame is the same for everyone (rendered once), a
 * dialog's names the other participant.
 */
function chatFrames(
  chatId: string,
  render: (chat: { type: 'dialog' | 'group'; id: string }) => string,
): (viewer: string) => Frame {
  if (!chatId.startsWith('d:')) {
    let frame: Frame | null = null;
    return (viewer) => (frame ??= sharedFrame(render(chatRef(chatId, viewer)), 2));
  }
  return (viewer) => render(chatRef(chatId, viewer));
}

function addTo<K, V>(map: Map<K, Set<V>>, key: K, value: V): void {
  let set = map.get(key);
  if (!set) {
    set = new Set();
    map.set(key, set);
  }
  set.add(value);
}

function removeFrom<K, V>(map: Map<K, Set<V>>, key: K, value: V): void {
  const set = map.get(key);
  if (!set) return;
  set.delete(value);
  if (set.size === 0) map.delete(key);
}
