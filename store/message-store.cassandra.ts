/**
 * MessageStore on Cassandra (tables: messages, chat_state, marks,
 * marks_by_user, dialogs_by_user; see cassandra/migrations.ts).
 *
 * Fencing (invariant 3 without trusting leases or clocks). `chat_state.fence`
 * is the chat writer's token, changed only by lightweight transactions
 * (Paxos v2):
 * - `claim` raises it: `UPDATE chat_state SET fence = f + 1 IF fence = f AND
 *   last_id = L` (or `INSERT ... IF NOT EXISTS` for a new chat). When it
 *   applies, L is the chat's committed last id at that point of the Paxos
 *   order, and no write under an older fence can commit after it.
 * - `append` commits last: `UPDATE chat_state SET last_id = ... IF fence = f
 *   AND last_id = <previous>`. It applies only while the writer's claim is the
 *   newest and the writer's idea of the last id is the stored one, so a paused
 *   owner that wakes up after its chat moved cannot acknowledge anything, and
 *   an append never moves last_id other than forward by its own messages.
 * - every row the writer writes outside chat_state (messages, marks,
 *   marks_by_user) carries the write timestamp `2^61 + fence * 2^32 + seq`,
 *   seq rising with each write under the claim. The 2^61 base puts these
 *   above every wall-clock timestamp (microseconds since 1970), so rows
 *   written with the clock (an older version, a hand-made fix) never outrank
 *   a fenced write; every writer of these tables must use the claim's
 *   timestamps. A stale owner's rows therefore
 *   lose to the new owner's rows whatever order they arrive in (Cassandra
 *   keeps the cell with the highest timestamp), so it cannot overwrite an
 *   acknowledged message or lower a mark either. Rows it wrote above the
 *   committed last id stay invisible (history stops at last_id) and are
 *   overwritten when the new owner reaches those ids.
 * The claim keeps the last committed id, so the hot path needs no read before
 * writing: one unlogged batch per (chat, bucket) partition, then the one
 * commit LWT per chat per group commit. An append that fails (including an
 * ambiguous timeout of the commit) breaks its claim: every later write under
 * it is refused and the writer must claim again, which re-reads the truth.
 *
 * Append, per chat (chats of one call run in parallel):
 * 1. check the ids against the claim's last id (in memory).
 * 2. write the messages as one unlogged batch per (chat, bucket) partition,
 *    at the claim's timestamp.
 * 3. on a dialog's first message, index the dialog for both participants
 *    (idempotent; written before the commit so a retry indexes again).
 * 4. commit chat_state (LWT, above).
 *
 * Marks: read, raise to the max, write back at the claim's timestamp; the
 * chat's actor is the only writer, and an older claim's late write loses.
 * `marks` is written as one partition batch and `marks_by_user` per user; if
 * one of them fails, the next raise of that user's marks rewrites both.
 *
 * Both read-then-write paths are queued per chat inside this process, so
 * overlapping calls for one chat (which SQLite would serialize in its
 * transactions) cannot interleave a read of one with the write of another.
 */
import { types } from 'cassandra-driver';
import type { MarksWrite, MessageStore } from './message-store.js';
import type { ChatState, HistoryQuery, Marks, StoredMessage } from './types.js';
import { ChatWriteError, FencedError, type Claim } from './fence.js';
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
import { CassandraClaim, isCassandraClaim } from './cassandra/claim.js';

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
    fencedState: `SELECT fence, last_id, last_sender, last_body, last_sent_at FROM ${ks}.chat_state WHERE chat_id = ?`,
    claimNew: `INSERT INTO ${ks}.chat_state (chat_id, fence, last_id) VALUES (?, 1, 0) IF NOT EXISTS`,
    claimNext: `UPDATE ${ks}.chat_state SET fence = ? WHERE chat_id = ? IF fence = ? AND last_id = ?`,
    insertMessage: `INSERT INTO ${ks}.messages (chat_id, bucket, ${columns}) VALUES (?, ?, ?, ?, ?, ?, ?)`,
    commitState: `UPDATE ${ks}.chat_state SET last_id = ?, last_sender = ?, last_body = ?, last_sent_at = ? WHERE chat_id = ? IF fence = ? AND last_id = ?`,
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

/** How many times a claim retries its compare-and-set when another writer got in between. */
const CLAIM_ATTEMPTS = 8;

function stateOf(chatId: string, row: types.Row): ChatState | null {
  const lastId = optNum(row, 'last_id') ?? 0;
  if (lastId === 0) return null;
  return {
    chatId,
    lastId,
    lastText: optText(row, 'last_body'),
    lastSender: optText(row, 'last_sender'),
    lastTime: optMillis(row, 'last_sent_at'),
  };
}

function applied(result: types.ResultSet): boolean {
  return result.first()?.get('[applied]') === true;
}

function marksOf(row: types.Row, login: string): Marks {
  return { login, deliveredId: num(row, 'delivered_id'), readId: num(row, 'read_id') };
}

export class CassandraMessageStore implements MessageStore {
  private readonly q: ReturnType<typeof messageQueries>;
  private readonly appends = new KeyedSerializer();
  private readonly raises = new KeyedSerializer();
  /** Claims this instance made for writes that came without one (tools and tests). */
  private readonly implicit = new Map<string, CassandraClaim>();

  constructor(
    private readonly db: CqlSession,
    ks: string,
  ) {
    this.q = messageQueries(ks);
  }

  claim(chatIds: readonly string[]): Promise<Map<string, Claim>> {
    return this.db.op('claim', async () => {
      const unique = [...new Set(chatIds)];
      const claims = await mapLimit(unique, FANOUT, (chatId) => this.claimOne(chatId));
      return new Map(claims.map((c) => [c.chatId, c]));
    });
  }

  /** Compare-and-set of the fence, retried while other writers get in between (see the header). */
  private async claimOne(chatId: string): Promise<CassandraClaim> {
    let row: types.Row | null = await this.db.first(this.q.fencedState, [chatId]);
    for (let attempt = 0; attempt < CLAIM_ATTEMPTS; attempt++) {
      if (!row) {
        const result = await this.db.conditional(this.q.claimNew, [chatId]);
        if (applied(result)) return new CassandraClaim(chatId, 1, null, 0);
        row = result.first();
        continue;
      }
      const fence = optNum(row, 'fence') ?? 0;
      const lastId = optNum(row, 'last_id') ?? 0;
      const result = await this.db.conditional(this.q.claimNext, [
        fence + 1,
        chatId,
        fence === 0 ? null : fence,
        lastId,
      ]);
      if (applied(result)) return new CassandraClaim(chatId, fence + 1, stateOf(chatId, row), lastId);
      // Someone changed the row since it was read: read it again through Paxos, previews included.
      row = await this.db.first(this.q.fencedState, [chatId], { serial: true });
    }
    throw new Error(`cassandra store: claiming chat ${chatId} lost ${CLAIM_ATTEMPTS} races in a row`);
  }

  /** The claim a write without one uses: this instance's own, made on first use. */
  private async implicitClaim(chatId: string): Promise<CassandraClaim> {
    const held = this.implicit.get(chatId);
    if (held && !held.broken) return held;
    const claim = await this.claimOne(chatId);
    this.implicit.set(chatId, claim);
    return claim;
  }

  append(messages: readonly StoredMessage[], claims?: ReadonlyMap<string, Claim>): Promise<void> {
    return this.db.op('append', async () => {
      const chats = [...groupByChat(messages)];
      const settled = await Promise.allSettled(
        chats.map(([chatId, list]) =>
          this.appends.run(chatId, async () => {
            const given = claims?.get(chatId);
            if (given !== undefined && !isCassandraClaim(given)) {
              throw new Error(`append: the claim of chat ${chatId} was not made by this store`);
            }
            const claim = given ?? (await this.implicitClaim(chatId));
            try {
              await this.appendChat(claim, list);
            } catch (err) {
              if (!(err instanceof AppendRefused) || err.breaks) claim.broken = true;
              throw err instanceof AppendRefused ? err.reason : err;
            }
          }),
        ),
      );
      const failed = new Map<string, Error>();
      settled.forEach((s, i) => {
        if (s.status === 'rejected') {
          failed.set(chats[i]![0], s.reason instanceof Error ? s.reason : new Error(String(s.reason)));
        }
      });
      if (failed.size === 0) return;
      const [only] = failed.values();
      throw failed.size === chats.length && failed.size === 1 ? only : new ChatWriteError(failed);
    });
  }

  private async appendChat(claim: CassandraClaim, messages: StoredMessage[]): Promise<void> {
    const chatId = claim.chatId;
    if (claim.broken)
      throw new AppendRefused(
        new FencedError(chatId, 'an earlier append under this claim failed; claim again'),
      );
    try {
      checkAppendIds(chatId, messages, claim.lastId);
    } catch (err) {
      throw new AppendRefused(err as Error);
    }
    const timestamp = claim.nextTimestamp();
    await settleAll(
      groupByBucket(messages).map(([bucket, inBucket]) =>
        this.db.partitionBatch(
          inBucket.map((m) => ({
            query: this.q.insertMessage,
            params: [chatId, bucket, m.id, m.sender, m.text, m.time, m.clientId ?? NO_CLIENT_ID],
          })),
          { timestamp },
        ),
      ),
    );
    const parsed = parseChatId(chatId);
    if (claim.lastId === 0 && parsed?.kind === 'dialog' && parsed.members) {
      await settleAll(parsed.members.map((login) => this.db.write(this.q.insertDialog, [login, chatId])));
    }
    const newest = messages[messages.length - 1]!;
    const result = await this.db.conditional(this.q.commitState, [
      newest.id,
      newest.sender,
      newest.text,
      newest.time,
      chatId,
      claim.fence,
      claim.lastId,
    ]);
    if (!applied(result)) {
      const row = result.first();
      const fence = row ? optNum(row, 'fence') : null;
      throw new AppendRefused(
        fence !== claim.fence
          ? new FencedError(chatId)
          : new FencedError(
              chatId,
              `last id is ${row ? optNum(row, 'last_id') : 'unset'}, not ${claim.lastId}`,
            ),
        true,
      );
    }
    claim.lastId = newest.id;
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
        // A claimed chat has a row before its first message.
        const state = stateOf(chatId, row);
        if (state) out.set(chatId, state);
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

  saveMarks(chatId: string, marks: readonly Marks[], claim?: Claim): Promise<void> {
    return this.db.op('marks_save', () => this.raises.run(chatId, () => this.raise(chatId, marks, claim)));
  }

  /**
   * Cassandra has no cheap multi-partition atomic write, so the batch is
   * saved chat by chat, chats in parallel; entries of the same chat are merged
   * first, because two concurrent read-raise-writes of one row could lose the
   * higher value.
   */
  saveMarksBatch(batch: readonly MarksWrite[]): Promise<void> {
    return this.db.op('marks_save', async () => {
      const byChat = new Map<string, { marks: Marks[]; claim: Claim | undefined }>();
      for (const { chatId, marks, claim } of batch) {
        const entry = byChat.get(chatId);
        if (entry) {
          entry.marks.push(...marks);
          entry.claim = claim ?? entry.claim;
        } else byChat.set(chatId, { marks: [...marks], claim });
      }
      await mapLimit([...byChat], FANOUT, ([chatId, { marks, claim }]) =>
        this.raises.run(chatId, () => this.raise(chatId, marks, claim)),
      );
    });
  }

  private async raise(chatId: string, marks: readonly Marks[], given: Claim | undefined): Promise<void> {
    const given_ = new Map<string, Marks[]>();
    for (const m of marks) given_.set(m.login, [...(given_.get(m.login) ?? []), m]);
    if (given_.size === 0) return;
    if (given !== undefined && !isCassandraClaim(given)) {
      throw new Error(`saveMarks: the claim of chat ${chatId} was not made by this store`);
    }
    const claim = given ?? (await this.implicitClaim(chatId));
    const pages = await mapLimit(chunks([...given_.keys()], CHUNK), FANOUT, (logins) =>
      this.db.all(this.q.marksOfLogins, [chatId, logins]),
    );
    const stored = new Map<string, Marks>();
    for (const row of pages.flat()) {
      const login = text(row, 'login');
      stored.set(login, marksOf(row, login));
    }
    const updates: Marks[] = [];
    for (const [login, list] of given_) {
      const raised = raiseMarks(stored.get(login), list);
      if (raised?.changed) updates.push(raised.marks);
    }
    if (updates.length === 0) return;
    const timestamp = claim.nextTimestamp();
    await settleAll([
      mapLimit(chunks(updates, CHUNK), FANOUT, (chunk) =>
        this.db.partitionBatch(
          chunk.map((m) => ({
            query: this.q.upsertMarks,
            params: [chatId, m.login, m.deliveredId, m.readId],
          })),
          { timestamp },
        ),
      ),
      mapLimit(updates, FANOUT, (m) =>
        this.db.write(this.q.upsertUserMarks, [m.login, chatId, m.deliveredId, m.readId], { timestamp }),
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

/**
 * An append refused before anything was written (ids, a broken claim) or by
 * its commit: the claim stays usable unless `breaks`, since the store is
 * unchanged where it matters.
 */
class AppendRefused extends Error {
  constructor(
    readonly reason: Error,
    readonly breaks = false,
  ) {
    super(reason.message);
  }
}
