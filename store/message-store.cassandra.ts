/**
 * MessageStore on Cassandra (tables: messages, chat_state, marks,
 * marks_by_user, dialogs_by_user; see cassandra/migrations.ts).
 *
 * Append, per chat (chats of one call run in parallel):
 * 1. read chat_state.last_id and reject ids ≤ it. Only the chat's
 *    lease-holding actor writes a chat, so this read-then-write is the
 *    fencing backstop the port asks for (a stale actor writing after the new
 *    owner has written is refused) without Paxos on the hot path. Two writers
 *    racing within the same instant are the lease's job, not this check's.
 * 2. write the messages as one unlogged batch per (chat, bucket) partition:
 *    one mutation each, atomic and isolated per partition; the partitions of
 *    a call that spans a bucket boundary are written in parallel.
 * 3. on a dialog's first message, index the dialog for both participants.
 * 4. write chat_state last: it is the commit point. History never returns
 *    ids above last_id, so whatever part of an append landed before a failure
 *    stays invisible (no gap, no reordering can show), and a retry with the
 *    same ids overwrites it instead of being refused as a duplicate. The
 *    dialog index is written before it so that a retry after a failure at
 *    step 3 indexes again.
 *
 * Marks: read, raise to the max, write back. The chat's actor is the only
 * writer, so no Paxos; `marks` is written as one partition batch and
 * `marks_by_user` per user, both idempotent upserts. If a write fails after
 * the other succeeded, the next raise of that user's marks rewrites both.
 *
 * Both read-then-write paths are queued per chat inside this process, so
 * overlapping calls for one chat (which SQLite would serialize in its
 * transactions) cannot interleave a read of one with the write of another.
 */
import type { MessageStore } from './message-store.js';
import type { ChatState, HistoryQuery, Marks, StoredMessage } from './types.js';
import { parseChatId } from '../common/ids.js';
import {
  checkAppendIds,
  groupByBucket,
  groupByChat,
  planHistory,
  raiseMarks,
  readHistory,
} from './cassandra/layout.js';
import { FANOUT, KeyedSerializer, mapLimit, settleAll } from './cassandra/parallel.js';
import { millis, num, optMillis, optNum, optText, text, type CqlSession } from './cassandra/session.js';
import type { types } from 'cassandra-driver';

/**
 * client_id of a message sent without one. Not null: a null is a tombstone per
 * message, and leaving the column unset would keep the value of an
 * uncommitted message that a retry overwrites. Real client ids are 1-64
 * printable characters, so the empty string is free.
 */
const NO_CLIENT_ID = '';

/** Values per `IN ?` list and statements per marks batch. */
const CHUNK = 100;

/** Every statement of the messages adapter (exported for the schema cross-check in cassandra/schema.test.ts). */
export function messageQueries(ks: string) {
  const columns = 'id, sender, body, sent_at, client_id';
  return {
    lastId: `SELECT last_id FROM ${ks}.chat_state WHERE chat_id = ?`,
    state: `SELECT last_id, last_sender, last_body, last_sent_at FROM ${ks}.chat_state WHERE chat_id = ?`,
    insertMessage: `INSERT INTO ${ks}.messages (chat_id, bucket, ${columns}) VALUES (?, ?, ?, ?, ?, ?, ?)`,
    upsertState: `INSERT INTO ${ks}.chat_state (chat_id, last_id, last_sender, last_body, last_sent_at) VALUES (?, ?, ?, ?, ?)`,
    insertDialog: `INSERT INTO ${ks}.dialogs_by_user (login, chat_id) VALUES (?, ?)`,
    dialogs: `SELECT chat_id FROM ${ks}.dialogs_by_user WHERE login = ?`,
    sliceAsc: `SELECT ${columns} FROM ${ks}.messages WHERE chat_id = ? AND bucket = ? AND id > ? AND id <= ? ORDER BY id ASC LIMIT ?`,
    sliceDesc: `SELECT ${columns} FROM ${ks}.messages WHERE chat_id = ? AND bucket = ? AND id > ? AND id <= ? ORDER BY id DESC LIMIT ?`,
    marks: `SELECT login, delivered_id, read_id FROM ${ks}.marks WHERE chat_id = ?`,
    marksOfLogins: `SELECT login, delivered_id, read_id FROM ${ks}.marks WHERE chat_id = ? AND login IN ?`,
    upsertMarks: `INSERT INTO ${ks}.marks (chat_id, login, delivered_id, read_id) VALUES (?, ?, ?, ?)`,
    userMarks: `SELECT chat_id, delivered_id, read_id FROM ${ks}.marks_by_user WHERE login = ? AND chat_id IN ?`,
    upsertUserMarks: `INSERT INTO ${ks}.marks_by_user (login, chat_id, delivered_id, read_id) VALUES (?, ?, ?, ?)`,
  };
}

function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

function marksOf(row: types.Row, login: string): Marks {
  return { login, deliveredId: num(row, 'delivered_id'), readId: num(row, 'read_id') };
}

export class CassandraMessageStore implements MessageStore {
  private readonly q: ReturnType<typeof messageQueries>;
  private readonly appends = new KeyedSerializer();
  private readonly raises = new KeyedSerializer();

  constructor(
    private readonly db: CqlSession,
    ks: string,
  ) {
    this.q = messageQueries(ks);
  }

  append(messages: readonly StoredMessage[]): Promise<void> {
    return this.db.op('append', async () => {
      const chats = groupByChat(messages);
      await settleAll(
        [...chats].map(([chatId, list]) => this.appends.run(chatId, () => this.appendChat(chatId, list))),
      );
    });
  }

  private async appendChat(chatId: string, messages: StoredMessage[]): Promise<void> {
    const lastId = await this.lastId(chatId);
    checkAppendIds(chatId, messages, lastId);
    await settleAll(
      groupByBucket(messages).map(([bucket, inBucket]) =>
        this.db.partitionBatch(
          inBucket.map((m) => ({
            query: this.q.insertMessage,
            params: [chatId, bucket, m.id, m.sender, m.text, m.time, m.clientId ?? NO_CLIENT_ID],
          })),
        ),
      ),
    );
    const parsed = parseChatId(chatId);
    if (lastId === 0 && parsed?.kind === 'dialog' && parsed.members) {
      await settleAll(parsed.members.map((login) => this.db.write(this.q.insertDialog, [login, chatId])));
    }
    const newest = messages[messages.length - 1];
    if (newest) {
      await this.db.write(this.q.upsertState, [chatId, newest.id, newest.sender, newest.text, newest.time]);
    }
  }

  private async lastId(chatId: string): Promise<number> {
    const row = await this.db.first(this.q.lastId, [chatId]);
    return (row && optNum(row, 'last_id')) ?? 0;
  }

  history(chatId: string, query: HistoryQuery): Promise<StoredMessage[]> {
    return this.db.op('history', async () => {
      const plan = planHistory(query, await this.lastId(chatId));
      if (!plan) return [];
      return readHistory(plan, async (bucket, p, limit) => {
        const cql = p.order === 'asc' ? this.q.sliceAsc : this.q.sliceDesc;
        const rows = await this.db.all(cql, [chatId, bucket, p.lo, p.hi, limit]);
        return rows.map((row) => ({
          chatId,
          id: num(row, 'id'),
          sender: text(row, 'sender'),
          text: text(row, 'body'),
          time: millis(row, 'sent_at'),
          clientId: optText(row, 'client_id') || null,
        }));
      });
    });
  }

  chatStates(chatIds: readonly string[]): Promise<Map<string, ChatState>> {
    return this.db.op('chat_states', async () => {
      const unique = [...new Set(chatIds)];
      const rows = await mapLimit(unique, FANOUT, (chatId) => this.db.first(this.q.state, [chatId]));
      const out = new Map<string, ChatState>();
      rows.forEach((row, i) => {
        const chatId = unique[i];
        if (!row || chatId === undefined) return;
        out.set(chatId, {
          chatId,
          lastId: optNum(row, 'last_id') ?? 0,
          lastText: optText(row, 'last_body'),
          lastSender: optText(row, 'last_sender'),
          lastTime: optMillis(row, 'last_sent_at'),
        });
      });
      return out;
    });
  }

  marks(chatId: string): Promise<Marks[]> {
    return this.db.op('marks', async () => {
      const rows = await this.db.all(this.q.marks, [chatId]);
      return rows.map((row) => marksOf(row, text(row, 'login')));
    });
  }

  marksOfUser(login: string, chatIds: readonly string[]): Promise<Map<string, Marks>> {
    return this.db.op('marks_of_user', async () => {
      const pages = await mapLimit(chunks([...new Set(chatIds)], CHUNK), FANOUT, (ids) =>
        this.db.all(this.q.userMarks, [login, ids]),
      );
      const out = new Map<string, Marks>();
      for (const row of pages.flat()) out.set(text(row, 'chat_id'), marksOf(row, login));
      return out;
    });
  }

  saveMarks(chatId: string, marks: readonly Marks[]): Promise<void> {
    return this.db.op('marks_save', () => this.raises.run(chatId, () => this.raise(chatId, marks)));
  }

  /**
   * Cassandra has no cheap multi-partition atomic write, so the batch is
   * saved chat by chat, chats in parallel; entries of the same chat are merged
   * first, because two concurrent read-raise-writes of one row could lose the
   * higher value.
   */
  saveMarksBatch(batch: readonly { chatId: string; marks: readonly Marks[] }[]): Promise<void> {
    return this.db.op('marks_save', async () => {
      const byChat = new Map<string, Marks[]>();
      for (const { chatId, marks } of batch) byChat.set(chatId, [...(byChat.get(chatId) ?? []), ...marks]);
      await mapLimit([...byChat], FANOUT, ([chatId, marks]) =>
        this.raises.run(chatId, () => this.raise(chatId, marks)),
      );
    });
  }

  private async raise(chatId: string, marks: readonly Marks[]): Promise<void> {
    const given = new Map<string, Marks[]>();
    for (const m of marks) given.set(m.login, [...(given.get(m.login) ?? []), m]);
    if (given.size === 0) return;
    const pages = await mapLimit(chunks([...given.keys()], CHUNK), FANOUT, (logins) =>
      this.db.all(this.q.marksOfLogins, [chatId, logins]),
    );
    const stored = new Map<string, Marks>();
    for (const row of pages.flat()) {
      const login = text(row, 'login');
      stored.set(login, marksOf(row, login));
    }
    const updates: Marks[] = [];
    for (const [login, list] of given) {
      const raised = raiseMarks(stored.get(login), list);
      if (raised?.changed) updates.push(raised.marks);
    }
    await settleAll([
      mapLimit(chunks(updates, CHUNK), FANOUT, (chunk) =>
        this.db.partitionBatch(
          chunk.map((m) => ({
            query: this.q.upsertMarks,
            params: [chatId, m.login, m.deliveredId, m.readId],
          })),
        ),
      ),
      mapLimit(updates, FANOUT, (m) =>
        this.db.write(this.q.upsertUserMarks, [m.login, chatId, m.deliveredId, m.readId]),
      ),
    ]);
  }

  dialogsOfUser(login: string): Promise<string[]> {
    return this.db.op('dialogs_of_user', async () => {
      const rows = await this.db.all(this.q.dialogs, [login]);
      return rows.map((row) => text(row, 'chat_id'));
    });
  }
}
