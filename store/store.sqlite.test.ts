/**
 * SQLite-only cases: connection settings, schema migrations, several
 * processes sharing one file, and the edges of better-sqlite3 that the
 * shared contract does not reach. The port semantics are in store.contract.test.ts.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { registry } from '../common/metrics.js';
import { openSqliteDatabase } from './sqlite/database.js';
import { MIGRATIONS, migrate, type Migration } from './sqlite/migrations.js';
import { openSqliteStore } from './store.sqlite.js';
import type { StoredMessage } from './types.js';

const repoRoot = fileURLToPath(new URL('..', import.meta.url));
// The module under test, as source (through tsx) or compiled (from dist/), matching this file.
const storeModule = new URL(
  `./store.sqlite.${import.meta.url.endsWith('.ts') ? 'ts' : 'js'}`,
  import.meta.url,
).href;

interface Exit {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Node processes started by the running case, ended by PID if a case fails before they exit. */
const children = new Set<ChildProcess>();

/** Runs an ES module snippet in a fresh Node process (TypeScript imports through tsx). */
function runNode(code: string, env: Record<string, string>): { child: ChildProcess; exit: Promise<Exit> } {
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], {
    cwd: repoRoot,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exit = new Promise<Exit>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => {
      children.delete(child);
      resolve({ code, stdout, stderr });
    });
  });
  return { child, exit };
}

/** Resolves once the child printed `line`, or rejects when it exits first. */
function waitForLine(child: ChildProcess, line: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let seen = '';
    const onData = (chunk: Buffer | string) => {
      seen += chunk.toString();
      if (seen.split('\n').includes(line)) {
        child.stdout!.off('data', onData);
        resolve();
      }
    };
    child.stdout!.on('data', onData);
    child.once('exit', (code) => reject(new Error(`child exited (${code}) before printing ${line}`)));
  });
}

const message = (chatId: string, id: number): StoredMessage => ({
  chatId,
  id,
  sender: 'alice',
  text: `text ${id}`,
  time: 1_700_000_000_000 + id,
  clientId: null,
});

function appliedVersions(path: string): { version: number; name: string; applied_at: number }[] {
  const db = new Database(path, { readonly: true });
  try {
    return db.prepare('SELECT version, name, applied_at FROM schema_version ORDER BY version').all() as {
      version: number;
      name: string;
      applied_at: number;
    }[];
  } finally {
    db.close();
  }
}

describe('sqlite store', () => {
  let dir: string;
  let path: string;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'gm-store-sqlite-'));
    path = join(dir, 'store.db');
  });

  afterEach(() => {
    for (const child of children) child.kill('SIGKILL');
    children.clear();
    rmSync(dir, { recursive: true, force: true });
  });

  it('opens a private in-memory database', async () => {
    const store = await openSqliteStore(':memory:');
    await store.messages.append([message('g:mem', 1)]);
    assert.equal((await store.messages.history('g:mem', { limit: 5 })).length, 1);
    await store.close();
  });

  it('creates the parent folder of the file', async () => {
    const nested = join(dir, 'a', 'b', 'store.db');
    const store = await openSqliteStore(nested);
    await store.close();
    assert.ok(existsSync(nested));
  });

  it('uses WAL, fsyncs every commit and waits 5 s for locks', () => {
    const db = openSqliteDatabase(path);
    try {
      assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
      assert.equal(db.pragma('synchronous', { simple: true }), 2, 'synchronous=FULL');
      assert.equal(db.pragma('busy_timeout', { simple: true }), 5000);
    } finally {
      db.close();
    }
  });

  it('applies migrations once; reopening keeps schema and data', async () => {
    const first = await openSqliteStore(path);
    await first.users.createUser({ login: 'alice', username: 'Alice', passwordHash: 'h', createdAt: 1 });
    await first.messages.append([message('d:alice:bob', 1), message('d:alice:bob', 2)]);
    await first.messages.saveMarks('d:alice:bob', [{ login: 'bob', deliveredId: 2, readId: 1 }]);
    await first.close();
    const applied = appliedVersions(path);
    assert.deepEqual(
      applied.map((m) => m.version),
      MIGRATIONS.map((m) => m.version),
    );

    const second = await openSqliteStore(path);
    assert.deepEqual(appliedVersions(path), applied);
    assert.equal((await second.users.getUser('alice'))?.username, 'Alice');
    assert.deepEqual(
      (await second.messages.history('d:alice:bob', { limit: 10 })).map((m) => m.id),
      [1, 2],
    );
    assert.equal((await second.messages.chatStates(['d:alice:bob'])).get('d:alice:bob')?.lastId, 2);
    assert.deepEqual(await second.messages.marks('d:alice:bob'), [
      { login: 'bob', deliveredId: 2, readId: 1 },
    ]);
    assert.deepEqual(await second.messages.dialogsOfUser('bob'), ['d:alice:bob']);
    await second.close();
  });

  it('migrate applies only newer migrations, in order, and rolls a failing one back whole', () => {
    const one: Migration = { version: 1, name: 'one', sql: 'CREATE TABLE one (a INTEGER) STRICT;' };
    // Without IF NOT EXISTS: running it twice would fail.
    const two: Migration = {
      version: 2,
      name: 'two',
      sql: 'CREATE TABLE two (b INTEGER REFERENCES one (a));',
    };
    const broken: Migration = {
      version: 3,
      name: 'broken',
      sql: 'CREATE TABLE three (c); SELECT no_such_fn();',
    };
    const db = new Database(path);
    try {
      assert.equal(migrate(db, [one]), 1);
      assert.equal(migrate(db, [one, two]), 2);
      assert.equal(migrate(db, [one, two]), 2);
      assert.throws(() => migrate(db, [one, two, broken]), /no_such_fn/);
      const tables = db
        .prepare("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name")
        .pluck()
        .all() as string[];
      assert.deepEqual(tables, ['one', 'schema_version', 'two']);
      assert.deepEqual(
        db.prepare('SELECT version FROM schema_version ORDER BY version').pluck().all(),
        [1, 2],
      );
      assert.throws(() => migrate(db, [one]), /newer than this build supports/);
      assert.throws(() => migrate(db, [one, { ...two, version: 3 }]), /expected 2/);
    } finally {
      db.close();
    }
  });

  it('two processes opening a new file at once migrate it once and both write', async () => {
    const writer = `
      const { openSqliteStore } = await import(${JSON.stringify(storeModule)});
      const store = await openSqliteStore(process.env.GM_PATH);
      const tag = process.env.GM_TAG;
      for (let b = 0; b < 40; b++) {
        const batch = [];
        for (let i = 1; i <= 10; i++) {
          batch.push({ chatId: 'g:' + tag, id: b * 10 + i, sender: tag, text: 'm', time: i, clientId: null });
        }
        await store.messages.append(batch);
        await store.users.createUser({ login: tag + '-' + b, username: tag, passwordHash: 'h', createdAt: b });
        await store.messages.saveMarks('g:shared', [{ login: tag, deliveredId: b, readId: b }]);
      }
      await store.close();
    `;
    const runs = ['one', 'two'].map((tag) => runNode(writer, { GM_PATH: path, GM_TAG: tag }));
    for (const exit of await Promise.all(runs.map((r) => r.exit))) {
      assert.equal(exit.code, 0, exit.stderr);
    }
    assert.deepEqual(
      appliedVersions(path).map((m) => m.version),
      MIGRATIONS.map((m) => m.version),
    );
    const store = await openSqliteStore(path);
    for (const tag of ['one', 'two']) {
      assert.equal((await store.messages.history(`g:${tag}`, { after: 0, limit: 1000 })).length, 400);
      assert.equal((await store.messages.chatStates([`g:${tag}`])).get(`g:${tag}`)?.lastId, 400);
    }
    assert.equal((await store.users.search('one-', 100)).length, 40);
    assert.equal((await store.users.search('two-', 100)).length, 40);
    assert.equal((await store.messages.marks('g:shared')).length, 2);
    await store.close();
  });

  it("a write waits for another process's open transaction instead of failing", async () => {
    await (await openSqliteStore(path)).close();
    const holder = runNode(
      `
      import Database from 'better-sqlite3';
      const db = new Database(process.env.GM_PATH);
      db.exec('BEGIN IMMEDIATE');
      db.prepare("INSERT INTO users VALUES ('holder', 'Holder', 'holder', 'h', 1)").run();
      console.log('locked');
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1000);
      db.exec('COMMIT');
      db.close();
    `,
      { GM_PATH: path },
    );
    await waitForLine(holder.child, 'locked');
    const store = await openSqliteStore(path);
    await store.messages.append([message('g:waiter', 1)]);
    // The append returned, so the holder's transaction had committed before it: it waited.
    assert.equal((await store.users.getUser('holder'))?.username, 'Holder');
    assert.equal((await store.messages.history('g:waiter', { limit: 1 })).length, 1);
    await store.close();
    assert.equal((await holder.exit).code, 0);
  });

  it('a failing append stores nothing of its batch, in any chat', async () => {
    const store = await openSqliteStore(path);
    await store.messages.append([message('g:taken', 1)]);
    await assert.rejects(
      store.messages.append([message('d:ann:ben', 1), message('g:fresh', 1), message('g:taken', 1)]),
      /UNIQUE|PRIMARY KEY/,
    );
    assert.deepEqual(await store.messages.history('d:ann:ben', { limit: 5 }), []);
    assert.deepEqual(await store.messages.history('g:fresh', { limit: 5 }), []);
    assert.equal((await store.messages.chatStates(['d:ann:ben', 'g:fresh'])).size, 0);
    assert.deepEqual(await store.messages.dialogsOfUser('ann'), []);
    await store.close();
  });

  it('history with a non-positive limit is empty (SQLite reads LIMIT -1 as no limit)', async () => {
    const store = await openSqliteStore(path);
    await store.messages.append([message('g:limits', 1), message('g:limits', 2)]);
    assert.deepEqual(await store.messages.history('g:limits', { limit: 0 }), []);
    assert.deepEqual(await store.messages.history('g:limits', { limit: -1 }), []);
    assert.deepEqual(await store.messages.history('g:limits', { before: 3, limit: -1 }), []);
    assert.deepEqual(await store.users.listByName(null, -1), []);
    assert.deepEqual(await store.users.search('', -1), []);
    await store.close();
  });

  it('rejects what the port rules out: both history bounds, a non-integer id', async () => {
    const store = await openSqliteStore(path);
    await assert.rejects(store.messages.history('g:x', { before: 5, after: 1, limit: 5 }), RangeError);
    await assert.rejects(store.messages.append([{ ...message('g:x', 1), id: 1.5 }]));
    assert.deepEqual(await store.messages.history('g:x', { limit: 5 }), []);
    await store.close();
  });

  it('search treats an empty prefix as every user, by login', async () => {
    const store = await openSqliteStore(path);
    for (const login of ['carol', 'alice', 'bob']) {
      await store.users.createUser({ login, username: login.toUpperCase(), passwordHash: 'h', createdAt: 1 });
    }
    assert.deepEqual(
      (await store.users.search('', 10)).map((u) => u.login),
      ['alice', 'bob', 'carol'],
    );
    await store.close();
  });

  it('records operations in the store latency histogram', async () => {
    const count = async (op: string): Promise<number> => {
      const metric = await registry.getSingleMetric('gm_store_operation_duration_seconds')!.get();
      const sample = metric.values.find(
        (v) => v.labels.op === op && (v as { metricName?: string }).metricName?.endsWith('_count'),
      );
      return sample?.value ?? 0;
    };
    const store = await openSqliteStore(path);
    const before = await count('append');
    await store.messages.append([message('g:metrics', 1)]);
    await store.messages.history('g:metrics', { limit: 1 });
    assert.equal(await count('append'), before + 1);
    assert.ok((await count('history')) >= 1);
    await store.close();
  });

  it('a closed store rejects calls; closing again is harmless', async () => {
    const store = await openSqliteStore(path);
    await store.close();
    await store.close();
    await assert.rejects(store.users.getUser('alice'));
  });
});
