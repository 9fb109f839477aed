/**
 * Ordered, exactly-once delivery of a chat's messages to one socket. Each
 * socket keeps, per chat, the id of the last message it was sent (its
 * cursor): a message at or below the cursor is a duplicate and dropped; one
 * above cursor + 1 waits in a small hold-back buffer until the gap fills, and a
 * gap that does not fill quickly is repaired from history. So every socket
 * receives each chat's messages once and in id order, whichever path (the
 * sender's own ack over gRPC, or the inbox stream) delivered them first.
 * Cursors move when a frame is queued, so this holds whichever path wrote first.
 */
import type { Logger } from '../common/logger.js';
import type { Conn, Frame } from './conn.js';

/** Fetches messages of a chat after `after` as rendered new_message JSON per id (for gap repair). */
export type FetchAfter = (
  conn: Conn,
  chatId: string,
  after: number,
) => Promise<{ id: number; json: string }[]>;

/** How long a gap may stay open before it is repaired from history. */
export const REPAIR_AFTER_MS = 250;
/** Held-back messages of one chat beyond which the gap is repaired at once. */
const HOLDBACK_MAX = 1000;

export class OrderedDelivery {
  constructor(
    /** Queues a frame for the socket (the hub's corked writer). */
    private readonly write: (conn: Conn, frame: Frame) => void,
    private readonly fetchAfter: FetchAfter,
    private readonly logger: Logger,
  ) {}

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
    if (held.size > HOLDBACK_MAX) {
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
      const missing = await this.fetchAfter(conn, chatId, cursor);
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
