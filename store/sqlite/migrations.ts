/**
 * Versioned schema of the embedded store. Migrations are numbered from 1 and
 * applied in order at open; each runs once per database file, recorded in
 * `schema_version`. Never edit a shipped migration: add the next number.
 *
 * Tables mirror the query-first model of DESIGN.md (one table or index per
 * read path). Tables are STRICT, so a non-integer id or a string in a number
 * column fails instead of being stored, and WITHOUT ROWID, so each row lives
 * once, clustered by its primary key.
 */
import type Database from 'better-sqlite3';

export interface Migration {
  /** 1, 2, 3, ... with no gaps. */
  version: number;
  name: string;
  sql: string;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'initial schema',
    sql: `
      CREATE TABLE users (
        login TEXT PRIMARY KEY,
        username TEXT NOT NULL,
        -- Lower-cased by the adapter (String#toLowerCase): SQLite's lower() folds ASCII only.
        username_lower TEXT NOT NULL,
        password_hash TEXT NOT NULL,
        created_at INTEGER NOT NULL
      ) STRICT, WITHOUT ROWID;
      CREATE INDEX users_by_name ON users (username, login);
      CREATE INDEX users_by_username_lower ON users (username_lower);

      CREATE TABLE groups (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        is_public INTEGER NOT NULL CHECK (is_public IN (0, 1)),
        owner TEXT NOT NULL,
        created_at INTEGER NOT NULL
      ) STRICT, WITHOUT ROWID;
      CREATE INDEX public_groups ON groups (id) WHERE is_public = 1;

      CREATE TABLE group_members (
        group_id TEXT NOT NULL,
        login TEXT NOT NULL,
        role TEXT NOT NULL CHECK (role IN ('owner', 'member')),
        PRIMARY KEY (group_id, login)
      ) STRICT, WITHOUT ROWID;
      CREATE INDEX groups_by_member ON group_members (login, group_id);

      CREATE TABLE messages (
        chat_id TEXT NOT NULL,
        id INTEGER NOT NULL CHECK (id > 0),
        sender TEXT NOT NULL,
        text TEXT NOT NULL,
        time INTEGER NOT NULL,
        client_id TEXT,
        PRIMARY KEY (chat_id, id)
      ) STRICT, WITHOUT ROWID;

      CREATE TABLE chat_state (
        chat_id TEXT PRIMARY KEY,
        last_id INTEGER NOT NULL,
        last_text TEXT,
        last_sender TEXT,
        last_time INTEGER
      ) STRICT, WITHOUT ROWID;

      CREATE TABLE marks (
        chat_id TEXT NOT NULL,
        login TEXT NOT NULL,
        delivered_id INTEGER NOT NULL,
        read_id INTEGER NOT NULL,
        PRIMARY KEY (chat_id, login),
        CHECK (read_id <= delivered_id)
      ) STRICT, WITHOUT ROWID;

      CREATE TABLE chats_by_user (
        login TEXT NOT NULL,
        chat_id TEXT NOT NULL,
        PRIMARY KEY (login, chat_id)
      ) STRICT, WITHOUT ROWID;
    `,
  },
  {
    version: 2,
    name: 'chat fences',
    sql: `
      -- The fence of each chat's writer (store/fence.ts): raised by every claim, checked by every append.
      CREATE TABLE chat_fences (
        chat_id TEXT PRIMARY KEY,
        fence INTEGER NOT NULL CHECK (fence > 0)
      ) STRICT, WITHOUT ROWID;
    `,
  },
];

/**
 * Brings the database to the newest version of `migrations` and returns it.
 * Runs in one BEGIN IMMEDIATE transaction that re-reads the version after
 * taking the write lock, so processes opening the same file at once apply
 * each migration exactly once (the others wait on the busy timeout, then find
 * nothing to do). Fails when the file is newer than this build knows.
 */
export function migrate(db: Database.Database, migrations: readonly Migration[] = MIGRATIONS): number {
  migrations.forEach((m, i) => {
    if (m.version !== i + 1)
      throw new Error(`migration ${m.name} has version ${m.version}, expected ${i + 1}`);
  });
  const latest = migrations.length;
  const run = db.transaction((): number => {
    db.exec(`CREATE TABLE IF NOT EXISTS schema_version (
      version INTEGER PRIMARY KEY,
      name TEXT NOT NULL,
      applied_at INTEGER NOT NULL
    ) STRICT`);
    const row = db.prepare('SELECT coalesce(max(version), 0) AS version FROM schema_version').get() as {
      version: number;
    };
    if (row.version > latest) {
      throw new Error(`database schema version ${row.version} is newer than this build supports (${latest})`);
    }
    const record = db.prepare('INSERT INTO schema_version (version, name, applied_at) VALUES (?, ?, ?)');
    for (const m of migrations.slice(row.version)) {
      db.exec(m.sql);
      record.run(m.version, m.name, Date.now());
    }
    return latest;
  });
  return run.immediate();
}
