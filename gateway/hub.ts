/**
 * The gateway's local sockets and how events reach them. Each socket keeps,
 * per chat, the id of the last message it was sent (its cursor): a message at
 * or below the cursor is a duplicate and dropped; one above cursor + 1 waits
 * in a small hold-back buffer until the gap fills, and a gap that does not
 * fill quickly is repaired from history. So every socket receives each chat's
 * messages exactly once and in id order, whichever path (the sender's own ack
 * over gRPC, or the inbox stream) delivered them first.
 */
import type { WebSocket } from 'uWebSockets.js';
import type { InboxEntry } from '../common/inbox.js';
import { dialogPeer } from '../common/ids.js';
import type { Logger } from '../common/logger.js';
import { deliverySeconds, messagesDelivered, wsDropped } from '../common/metrics.js';

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
  holdback: Map<string, Map<number, string>>;
  repairing: Set<string>;
  ws: WebSocket<Conn> | null;
  closed: boolean;
  errors: number;
  errorWindowStart: number;
  typingAt: Map<string, number>;
}

export interface HubHooks {
  /** Fetches messages of a chat after `after` as rendered new_message JSON per id (for gap repair). */
  fetchAfter(conn: Conn, chatId: string, after: number): Promise<{ id: number; json: string }[]>;
  /** A message reached a recipient socket (advances the delivered mark). */
  delivered(chatId: string, login: string, id: number): void;
}

const REPAIR_AFTER_MS = 250;

export function chatRef(chatId: string, viewer: string): { type: 'dialog' | 'group'; id: string } {
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

  connsOfToken(tokenHash: string): Conn[] {
    return [...(this.byToken.get(tokenHash) ?? [])];
  }

  all(): Conn[] {
    return [...this.byUser.values()].flatMap((s) => [...s]);
  }

  /** Sends a frame; a client that cannot keep up is dropped rather than buffered without bound. */
  write(conn: Conn, json: string): void {
    if (conn.closed || !conn.ws) return;
    const result = conn.ws.send(json, false);
    if (result === 2) {
      wsDropped.inc({ reason: 'backpressure' });
      conn.closed = true;
      conn.ws.end(1013, 'client too slow');
    }
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
      payload = JSON.parse(entry.payload) as Record<string, unknown>;
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
        for (const c of targets) {
          if (c.login === except) continue;
          this.write(c, eventJson('message_status', { chat: chatRef(entry.chatId, c.login), ...payload }));
        }
        return;
      }
      case 'typing':
        for (const c of targets) {
          if (c.login === payload.user_login || c.id === entry.excludeConn) continue;
          this.write(c, eventJson('typing', { chat: chatRef(entry.chatId, c.login), ...payload }));
        }
        return;
      case 'user_status': {
        const json = eventJson('user_status', payload);
        for (const c of targets) this.write(c, json);
        return;
      }
    }
  }

  private dispatchMessage(entry: InboxEntry, payload: Record<string, unknown>, targets: Conn[]): void {
    const id = Number(payload.id);
    const sender = String(payload.sender);
    const clientId = payload.client_id;
    delete payload.client_id;
    // Group chats render the same frame for every non-sender; dialogs differ per side.
    const rendered = new Map<string, string>();
    const now = Date.now();
    for (const c of targets) {
      if (c.id === entry.excludeConn) continue;
      const isSender = c.login === sender;
      const key = isSender ? `s:${c.login}` : entry.chatId.startsWith('d:') ? `r:${c.login}` : 'r';
      let json = rendered.get(key);
      if (!json) {
        const body: Record<string, unknown> = { chat: chatRef(entry.chatId, c.login), ...payload };
        if (isSender && clientId) body.client_id = clientId;
        json = eventJson('new_message', body);
        rendered.set(key, json);
      }
      if (this.deliver(c, entry.chatId, id, json) && !isSender) {
        this.hooks.delivered(entry.chatId, c.login, id);
        messagesDelivered.inc();
        if (entry.storedAtMs) deliverySeconds.observe(Math.max(0, now - entry.storedAtMs) / 1000);
      }
    }
  }

  /**
   * Delivers message `id` of a chat to one socket in order and at most once.
   * Returns true when the message was (or is queued to be) written.
   */
  deliver(conn: Conn, chatId: string, id: number, json: string): boolean {
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
    const held = conn.holdback.get(chatId);
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
    if (held.size === 0) conn.holdback.delete(chatId);
  }

  /** Fills a gap that did not close by itself from the chat's history. */
  private async repair(conn: Conn, chatId: string): Promise<void> {
    const held = conn.holdback.get(chatId);
    if (!held || held.size === 0 || conn.closed || conn.repairing.has(chatId)) return;
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
      conn.repairing.delete(chatId);
    }
  }
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
