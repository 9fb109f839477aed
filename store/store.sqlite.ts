/**
 * The embedded store: the three ports on one better-sqlite3 connection to a
 * file shared by the processes of one machine. better-sqlite3 is synchronous;
 * each port method runs its statements inline and returns a settled promise,
 * so a failure surfaces as a rejection, except message appends and mark raises
 * of a file-backed store, which commit on a writer thread (sqlite/writer-thread.ts)
 * so the caller's event loop does not stop for their fsync.
 */
import type Database from 'better-sqlite3';
import { SqliteGroupStore } from './group-store.sqlite.js';
import { SqliteMessageStore } from './message-store.sqlite.js';
import { openSqliteDatabase } from './sqlite/database.js';
import type { Store } from './store.js';
import { SqliteUserStore } from './user-store.sqlite.js';

class SqliteStore implements Store {
  readonly users: SqliteUserStore;
  readonly groups: SqliteGroupStore;
  readonly messages: SqliteMessageStore;

  constructor(private readonly db: Database.Database) {
    this.users = new SqliteUserStore(db);
    this.groups = new SqliteGroupStore(db);
    this.messages = new SqliteMessageStore(db);
  }

  /** Waits for the message writes on the writer thread; closing twice is harmless. */
  async close(): Promise<void> {
    await this.messages.close();
    if (!this.db.open) return;
    this.db.pragma('optimize');
    this.db.close();
  }
}

/**
 * Opens the SQLite store at `path` (':memory:' for a private in-memory
 * database; otherwise the parent folder is created), applying pending schema
 * migrations first.
 */
export async function openSqliteStore(path: string): Promise<Store> {
  return new SqliteStore(openSqliteDatabase(path));
}
