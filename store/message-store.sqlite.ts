import type Database from 'better-sqlite3';
import { parseChatId } from '../common/ids.js';
import { ChatWriteError, FencedError, type Claim } from './fence.js';
import type { MarksWrite, MessageStore } from './message-store.js';
import { storeTimer, type StoreTimer } from './sqlite/timer.js';
import { SqliteWriterThread, type SqliteWrite } from './sqlite/writer-thread.js';
import type { ChatState, HistoryQuery, Marks, StoredMessage } from './types.js';

/** Per write of a group commit: the chats an append refused (fenced), or the error that failed the write. */
export type WriteResult = string[] | Error;

const MESSAGE_COLUMNS = 'chat_id AS chatId, id, sender, text, time, client_id AS clientId';
const MARK_COLUMNS = 'login, delivered_id AS deliveredId, read_id AS readId';

/**
 * Messages, chat state and marks in SQLite: `messages` clustered by
 * (chat_id, id), `chat_state` and `marks` by chat, and `chats_by_user`
 * indexing dialogs by participant.
 *
 * Fencing: `chat_fences` holds each chat's fence. A claim raises it in an
 * immediate transaction; an append with fences compares them inside its own
 * transaction, so the check and the write are one atomic step against every
 * other process on the file. Besides, the primary key refuses an id that
 * exists, and marks only ever rise (max in SQL), so a stale writer can
 * neither overwrite a message nor lower a mark.
 */
export class SqliteMessageStore implements MessageStore {
  private readonly insertMessage;
  private readonly upsertState;
  private readonly indexDialog;
  private readonly newest;
  private readonly newestBefore;
  private readonly oldestAfter;
  private readonly states;
  private readonly marksOfChat;
  private readonly marksOfLogin;
  private readonly raiseMarks;
  private readonly dialogs;
  private readonly fenceOf;
  private readonly raiseFence;
  private readonly stateOf;
  private readonly claimTx;
  private readonly appendTx;
  private readonly saveMarksBatchTx;
  private readonly writesTx;
  private readonly thread: SqliteWriterThread | null;
  private readonly timeAppend = storeTimer('append');
  private readonly timeHistory = storeTimer('history');
  private readonly timeStates = storeTimer('chat_states');
  private readonly timeMarks = storeTimer('marks');
  private readonly timeMarksOfUser = storeTimer('marks_of_user');
  private readonly timeSaveMarks = storeTimer('marks_save');
  private readonly timeDialogs = storeTimer('dialogs_of_user');

  constructor(
    private readonly db: Database.Database,
    /** False in the writer thread itself, which commits inline. */
    useThread = true,
  ) {
    // A plain INSERT: an id that exists fails the statement and rolls the whole batch back.
    this.insertMessage = db.prepare<[string, number, string, string, number, string | null]>(
      'INSERT INTO messages (chat_id, id, sender, text, time, client_id) VALUES (?, ?, ?, ?, ?, ?)',
    );
    this.upsertState = db.prepare<[string, number, string, string, number]>(
      `INSERT INTO chat_state (chat_id, last_id, last_text, last_sender, last_time) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (chat_id) DO UPDATE SET
         last_id = excluded.last_id, last_text = excluded.last_text,
         last_sender = excluded.last_sender, last_time = excluded.last_time
       WHERE excluded.last_id > chat_state.last_id`,
    );
    this.indexDialog = db.prepare<[string, string]>(
      'INSERT OR IGNORE INTO chats_by_user (login, chat_id) VALUES (?, ?)',
    );
    this.newest = db.prepare<[string, number], StoredMessage>(
      `SELECT ${MESSAGE_COLUMNS} FROM messages WHERE chat_id = ? ORDER BY id DESC LIMIT ?`,
    );
    this.newestBefore = db.prepare<[string, number, number], StoredMessage>(
      `SELECT ${MESSAGE_COLUMNS} FROM messages WHERE chat_id = ? AND id < ? ORDER BY id DESC LIMIT ?`,
    );
    this.oldestAfter = db.prepare<[string, number, number], StoredMessage>(
      `SELECT ${MESSAGE_COLUMNS} FROM messages WHERE chat_id = ? AND id > ? ORDER BY id ASC LIMIT ?`,
    );
    this.states = db.prepare<[string], ChatState>(
      `SELECT chat_id AS chatId, last_id AS lastId, last_text AS lastText, last_sender AS lastSender,
         last_time AS lastTime
       FROM chat_state WHERE chat_id IN (SELECT value FROM json_each(?))`,
    );
    this.marksOfChat = db.prepare<[string], Marks>(`SELECT ${MARK_COLUMNS} FROM marks WHERE chat_id = ?`);
    this.marksOfLogin = db.prepare<[string, string], Marks & { chatId: string }>(
      `SELECT chat_id AS chatId, ${MARK_COLUMNS} FROM marks
       WHERE chat_id IN (SELECT value FROM json_each(?)) AND login = ?`,
    );
    // The caller binds delivered as max(delivered, read), so read ≤ delivered holds after every
    // write; the WHERE skips rewriting a row that would not change.
    this.raiseMarks = db.prepare<[string, string, number, number]>(
      `INSERT INTO marks (chat_id, login, delivered_id, read_id) VALUES (?, ?, ?, ?)
       ON CONFLICT (chat_id, login) DO UPDATE SET
         delivered_id = max(delivered_id, excluded.delivered_id),
         read_id = max(read_id, excluded.read_id)
       WHERE excluded.delivered_id > delivered_id OR excluded.read_id > read_id`,
    );
    this.dialogs = db.prepare<[string], { chatId: string }>(
      'SELECT chat_id AS chatId FROM chats_by_user WHERE login = ?',
    );

    this.fenceOf = db.prepare<[string], { fence: number }>('SELECT fence FROM chat_fences WHERE chat_id = ?');
    this.raiseFence = db.prepare<[string], { fence: number }>(
      `INSERT INTO chat_fences (chat_id, fence) VALUES (?, 1)
       ON CONFLICT (chat_id) DO UPDATE SET fence = fence + 1 RETURNING fence`,
    );
    this.stateOf = db.prepare<[string], ChatState>(
      `SELECT chat_id AS chatId, last_id AS lastId, last_text AS lastText, last_sender AS lastSender,
         last_time AS lastTime
       FROM chat_state WHERE chat_id = ?`,
    );
    this.claimTx = db.transaction((chatIds: readonly string[]) => {
      const out = new Map<string, Claim>();
      for (const chatId of chatIds) {
        if (out.has(chatId)) continue;
        const { fence } = this.raiseFence.get(chatId)!;
        out.set(chatId, { fence, state: this.stateOf.get(chatId) ?? null });
      }
      return out;
    });
    this.appendTx = db.transaction(
      (messages: readonly StoredMessage[], fences?: readonly (readonly [string, number])[]) =>
        this.appendRows(messages, fences),
    );
    this.saveMarksBatchTx = db.transaction((batch: readonly { chatId: string; marks: readonly Marks[] }[]) =>
      this.raiseRows(batch),
    );
    this.writesTx = db.transaction((writes: readonly SqliteWrite[]) => writes.map((w) => this.applyWrite(w)));
    this.thread = useThread && !db.memory && !db.readonly ? new SqliteWriterThread(db.name) : null;
  }

  /** Writes the messages of every chat whose fence (when given) still holds; returns the chats refused. */
  private appendRows(
    messages: readonly StoredMessage[],
    fences?: readonly (readonly [string, number])[],
  ): string[] {
    const refused: string[] = [];
    for (const [chatId, fence] of fences ?? []) {
      if ((this.fenceOf.get(chatId)?.fence ?? 0) !== fence) refused.push(chatId);
    }
    const newestOfChat = new Map<string, StoredMessage>();
    for (const m of messages) {
      if (refused.length > 0 && refused.includes(m.chatId)) continue;
      this.insertMessage.run(m.chatId, m.id, m.sender, m.text, m.time, m.clientId);
      const seen = newestOfChat.get(m.chatId);
      if (seen === undefined || m.id > seen.id) newestOfChat.set(m.chatId, m);
    }
    for (const m of newestOfChat.values()) {
      this.upsertState.run(m.chatId, m.id, m.text, m.sender, m.time);
      // Idempotent, so it needs no read of the chat's state to find its first message;
      // a batch touches each dialog's index rows once.
      const chat = parseChatId(m.chatId);
      if (chat?.kind === 'dialog' && chat.members) {
        this.indexDialog.run(chat.members[0], m.chatId);
        this.indexDialog.run(chat.members[1], m.chatId);
      }
    }
    return refused;
  }

  private raiseRows(batch: readonly { chatId: string; marks: readonly Marks[] }[]): void {
    for (const { chatId, marks } of batch) {
      for (const m of marks)
        this.raiseMarks.run(chatId, m.login, Math.max(m.deliveredId, m.readId), m.readId);
    }
  }

  private applyWrite(w: SqliteWrite): string[] {
    if (w.kind === 'append') return this.appendRows(w.messages, w.fences);
    this.raiseRows(w.batch);
    return [];
  }

  private applyOne(w: SqliteWrite): string[] {
    if (w.kind === 'append') return this.appendTx.immediate(w.messages, w.fences);
    this.saveMarksBatchTx.immediate(w.batch);
    return [];
  }

  /**
   * Runs several writes in one transaction (one fsync); the writer thread's group commit. When that
   * fails, each write is retried in a transaction of its own, so one failing write rejects alone.
   * Returns, per write, the chats it refused (fenced) or its error.
   */
  commitWrites(writes: readonly SqliteWrite[]): WriteResult[] {
    if (writes.length > 1) {
      try {
        return this.writesTx.immediate(writes);
      } catch {
        // Fall through: find the failing write(s).
      }
    }
    return writes.map((w) => {
      try {
        return this.applyOne(w);
      } catch (err) {
        return err instanceof Error ? err : new Error(String(err));
      }
    });
  }

  /**
   * A file-backed store commits on its writer thread, so the process's event loop keeps running
   * while SQLite waits for the fsync (and writes queued meanwhile share the next commit); an
   * in-memory one commits inline.
   */
  private async write(w: SqliteWrite, timer: StoreTimer): Promise<readonly string[]> {
    if (!this.thread) return timer(() => this.applyOne(w));
    if (!this.db.open) throw new TypeError('The database connection is not open');
    const outcome = await this.thread.write(w);
    timer.observe(outcome.ms);
    return outcome.refused;
  }

  /** Waits for the writes in flight and stops the writer thread. */
  async close(): Promise<void> {
    await this.thread?.close();
  }

  async claim(chatIds: readonly string[]): Promise<Map<string, Claim>> {
    if (chatIds.length === 0) return new Map();
    return this.claimTx.immediate(chatIds);
  }

  /**
   * The whole batch is one transaction (one fsync): chats whose fence was raised are left out of it, and
   * any other failing message rejects the batch and stores nothing. Chats without a fence are not checked
   * (the primary key still refuses an id that exists).
   */
  async append(messages: readonly StoredMessage[], claims?: ReadonlyMap<string, Claim>): Promise<void> {
    if (messages.length === 0) return;
    const given =
      claims && claims.size > 0
        ? [...claims].map(([chatId, claim]) => [chatId, claim.fence] as const)
        : undefined;
    const refused = await this.write(
      given ? { kind: 'append', messages, fences: given } : { kind: 'append', messages },
      this.timeAppend,
    );
    if (refused.length > 0) {
      throw new ChatWriteError(new Map(refused.map((chatId) => [chatId, new FencedError(chatId)])));
    }
  }

  /** Rejects a query with both bounds, which the port rules out. */
  async history(chatId: string, query: HistoryQuery): Promise<StoredMessage[]> {
    const { before, after } = query;
    if (before !== undefined && after !== undefined) {
      throw new RangeError('history: before and after are exclusive');
    }
    const limit = Math.floor(query.limit);
    if (!(limit > 0)) return [];
    return this.timeHistory(() => {
      if (after !== undefined) return this.oldestAfter.all(chatId, after, limit);
      const rows =
        before !== undefined ? this.newestBefore.all(chatId, before, limit) : this.newest.all(chatId, limit);
      return rows.reverse();
    });
  }

  async chatStates(chatIds: readonly string[]): Promise<Map<string, ChatState>> {
    if (chatIds.length === 0) return new Map();
    const rows = this.timeStates(() => this.states.all(JSON.stringify(chatIds)));
    return new Map(rows.map((s) => [s.chatId, s]));
  }

  async marks(chatId: string): Promise<Marks[]> {
    return this.timeMarks(() => this.marksOfChat.all(chatId));
  }

  async marksOfUser(login: string, chatIds: readonly string[]): Promise<Map<string, Marks>> {
    if (chatIds.length === 0) return new Map();
    const rows = this.timeMarksOfUser(() => this.marksOfLogin.all(JSON.stringify(chatIds), login));
    return new Map(
      rows.map((r) => [r.chatId, { login: r.login, deliveredId: r.deliveredId, readId: r.readId }]),
    );
  }

  /** Marks only rise (max in SQL), so a write under an older claim cannot lower them: no fence check. */
  async saveMarks(chatId: string, marks: readonly Marks[]): Promise<void> {
    if (marks.length === 0) return;
    await this.write({ kind: 'marks', batch: [{ chatId, marks }] }, this.timeSaveMarks);
  }

  async saveMarksBatch(batch: readonly MarksWrite[]): Promise<void> {
    if (batch.every((b) => b.marks.length === 0)) return;
    const plain = batch.map(({ chatId, marks }) => ({ chatId, marks }));
    await this.write({ kind: 'marks', batch: plain }, this.timeSaveMarks);
  }

  async dialogsOfUser(login: string): Promise<string[]> {
    return this.timeDialogs(() => this.dialogs.all(login).map((row) => row.chatId));
  }
}
