/** The gateway's open sockets, indexed by user, by followed chat and by session. */
import type { WebSocket } from 'uWebSockets.js';
import type { InboxEntry } from '../delivery/index.js';
import type { Conn } from './conn.js';

export class SocketRegistry {
  readonly byUser = new Map<string, Set<Conn>>();
  private readonly byChat = new Map<string, Set<Conn>>();
  private readonly multiplexed = new Set<Conn>();
  private readonly byToken = new Map<string, Set<Conn>>();

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

  /** The sockets an inbox entry is for: its users' sockets that follow its chat, or every follower. */
  targets(entry: InboxEntry): Conn[] {
    const out: Conn[] = [];
    if (entry.users === '*') {
      for (const c of this.multiplexed) out.push(c);
      for (const c of this.byChat.get(entry.chatId) ?? []) out.push(c);
      return out;
    }
    for (const login of entry.users) {
      const conns = this.byUser.get(login);
      if (!conns) continue;
      for (const c of conns) if (!entry.chatId || follows(c, entry.chatId)) out.push(c);
    }
    return out;
  }
}

function follows(conn: Conn, chatId: string): boolean {
  return conn.kind === 'all' || conn.chatId === chatId;
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
