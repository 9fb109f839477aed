/**
 * A chat's recent window: its newest messages in memory (history reads of
 * the newest pages need no store read, and receipts tell from them whose
 * messages a mark passes) and the (sender, client_id) pairs of its newest
 * DEDUP_MAX messages, so a repeated send returns the message it already stored.
 */
import type { StoredMessage } from '../store/index.js';

/** Messages kept in memory per chat (covers the default history page and recent retries). */
export const RECENT = 256;
/** client ids remembered per chat for deduplication, beyond the recent messages. */
export const DEDUP_MAX = 4096;

/** A send being committed: its message and its write. */
export interface PendingSend {
  message: StoredMessage;
  durable: Promise<void>;
}

/**
 * What the window remembers of a (sender, client_id): a send still being committed keeps its message and
 * write; every other entry is only the message id (4,096 chats × 4,096 full messages made the heap hundreds
 * of MB and every major GC a pause of 100+ ms): positive once this owner announced the message, negative
 * when it was loaded from the store (a previous owner may have died before publishing it, so a repeat
 * announces it again).
 */
export type Seen = PendingSend | number;

export function dedupKey(sender: string, clientId: string): string {
  return `${sender}\u0000${clientId}`;
}

export class RecentWindow {
  /** The newest messages, oldest first (ids are dense). */
  messages: StoredMessage[] = [];
  private readonly dedup = new Map<string, Seen>();

  /** Fills the window from the chat's newest messages (up to DEDUP_MAX of them) after activation. */
  load(newest: readonly StoredMessage[]): void {
    this.messages = newest.slice(-RECENT);
    for (const m of newest) if (m.clientId) this.remember(dedupKey(m.sender, m.clientId), -m.id);
  }

  push(message: StoredMessage): void {
    this.messages.push(message);
    if (this.messages.length > RECENT * 2) this.messages = this.messages.slice(-RECENT);
  }

  seen(key: string): Seen | undefined {
    return this.dedup.get(key);
  }

  /** Remembers a send; the oldest entry leaves when the window is full. */
  remember(key: string, entry: Seen): void {
    this.dedup.set(key, entry);
    if (this.dedup.size > DEDUP_MAX) {
      const oldest = this.dedup.keys().next().value;
      if (oldest !== undefined) this.dedup.delete(oldest);
    }
  }

  /** Replaces what `key` holds when it still holds `expected` (the window may have moved past it). */
  replace(key: string, expected: Seen, entry: Seen): boolean {
    if (this.dedup.get(key) !== expected) return false;
    this.dedup.set(key, entry);
    return true;
  }

  /** The message with `id` if it is in the window. */
  find(id: number): StoredMessage | undefined {
    const recent = this.messages;
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

  /** Senders of the messages with ids in (from, to]; null when the window does not reach back to `from`. */
  sendersBetween(from: number, to: number): Set<string> | null {
    const out = new Set<string>();
    if (to <= from) return out;
    if (!this.reaches(from)) return null;
    for (let i = this.messages.length - 1; i >= 0; i--) {
      const m = this.messages[i]!;
      if (m.id <= from) break;
      if (m.id <= to) out.add(m.sender);
    }
    return out;
  }

  /** Whether `user` sent a message with an id in (from, to]; true when the window cannot tell. */
  sentBetween(user: string, from: number, to: number): boolean {
    if (to <= from) return false;
    return this.anyBetween(from, to, (sender) => sender === user);
  }

  /** Whether anyone but `user` sent a message with an id in (from, to]; true when the window cannot tell. */
  othersWroteBetween(user: string, from: number, to: number): boolean {
    return this.anyBetween(from, to, (sender) => sender !== user);
  }

  private reaches(from: number): boolean {
    return from + 1 >= (this.messages[0]?.id ?? Infinity);
  }

  private anyBetween(from: number, to: number, match: (sender: string) => boolean): boolean {
    if (!this.reaches(from)) return true;
    for (let i = this.messages.length - 1; i >= 0; i--) {
      const m = this.messages[i]!;
      if (m.id <= from) break;
      if (m.id <= to && match(m.sender)) return true;
    }
    return false;
  }
}
