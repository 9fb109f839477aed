/**
 * The conformance suite's frame: every adapter family runs the same cases
 * against the `Store` interface (store.contract*.test.ts). SQLite always runs
 * (a fresh file per suite); Cassandra runs on the test run's node
 * (test/harness/cassandra.ts; `npm test` starts one), in a throwaway keyspace
 * that is dropped afterwards.
 *
 * Cases share one store per suite, so each uses its own logins, group ids and
 * chat ids (a random suite suffix plus a per-case counter), and cases over
 * global listings (listByName, search, publicGroups) look only at their own rows.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe } from 'node:test';
import { cassandraMissing, releaseVersion, testCassandra } from '../../test/harness/cassandra.js';
import type { Store } from '../store.js';
import { openSqliteStore } from '../store.sqlite.js';
import type { StoredMessage, UserProfile, UserRecord } from '../types.js';

/** Byte order of the UTF-8 encodings, which is code point order: how both adapters sort text. */
export function compareText(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

export function byNameThenLogin(a: UserProfile, b: UserProfile): number {
  return compareText(a.username, b.username) || compareText(a.login, b.login);
}

export function profile(u: UserProfile): UserProfile {
  return { login: u.login, username: u.username };
}

/** A plain copy of a returned record, so comparisons see its own fields only. */
export function plain<T extends object>(value: T): T {
  return { ...value };
}

export function byLogin<T extends { login: string }>(rows: readonly T[]): T[] {
  return [...rows].sort((a, b) => compareText(a.login, b.login));
}

/** The store under test and the helpers that keep each case's rows its own. */
export interface Contract {
  /** The suite's store (open from the suite's `before` on). */
  readonly store: Store;
  /** A login unique to this suite and call: lower case, [a-z0-9_.-], at most 32 chars. */
  login(tag: string): string;
  groupId(): string;
  user(login: string, username: string, createdAt?: number): UserRecord;
  message(chatId: string, id: number, sender?: string, text?: string): StoredMessage;
  range(from: number, to: number): number[];
  /** Random per suite: rows named with it are the suite's own. */
  readonly suffix: string;
  /** Advances the suite's counter and returns it. */
  next(): number;
  /** The suite's counter as last advanced. */
  readonly counter: number;
}

function describeStoreContract(name: string, open: () => Promise<Store>, cases: (c: Contract) => void): void {
  describe(name, () => {
    let store: Store | undefined;
    const suffix = randomBytes(3).toString('hex');
    let counter = 0;
    /** A login unique to this suite and call: lower case, [a-z0-9_.-], at most 32 chars. */
    const login = (tag: string): string => `${tag}${++counter}_${suffix}`;
    const groupId = (): string => `grp${++counter}-${suffix}`;

    const user = (l: string, username: string, createdAt = 1_700_000_000_000): UserRecord => ({
      login: l,
      username,
      passwordHash: `$argon2id$v=19$m=65536,t=3,p=4$${l}`,
      createdAt,
    });

    const message = (chatId: string, id: number, sender = 'sender', text = `text ${id}`): StoredMessage => ({
      chatId,
      id,
      sender,
      text,
      time: 1_700_000_000_000 + id * 1000,
      clientId: id % 2 === 0 ? null : `client-${chatId}-${id}`,
    });

    const range = (from: number, to: number): number[] =>
      Array.from({ length: to - from + 1 }, (_, i) => from + i);

    before(async () => {
      store = await open();
    });

    after(async () => {
      // Unset when opening failed; that failure is the one to report.
      if (store) await store.close();
    });

    cases({
      get store() {
        return store!;
      },
      login,
      groupId,
      user,
      message,
      range,
      suffix,
      next: () => ++counter,
      get counter() {
        return counter;
      },
    });
  });
}

/** Runs `cases` on every adapter family: SQLite always, Cassandra where the run has a node. */
export function storeContract(part: string, cases: (c: Contract) => void): void {
  describeStoreContract(
    `sqlite store contract: ${part}`,
    async () => {
      const dir = mkdtempSync(join(tmpdir(), 'gm-store-contract-'));
      const store = await openSqliteStore(join(dir, 'store.db'));
      return {
        users: store.users,
        groups: store.groups,
        messages: store.messages,
        close: async () => {
          await store.close();
          rmSync(dir, { recursive: true, force: true });
        },
      };
    },
    cases,
  );

  const node = testCassandra();
  if (!('unavailable' in node)) {
    describeStoreContract(
      `cassandra store contract: ${part}`,
      async () => {
        console.log(
          `cassandra store contract (${part}): Apache Cassandra ${await releaseVersion(node)} at ${node.contactPoints.join(',')}`,
        );
        const options: CassandraStoreOptions = {
          contactPoints: node.contactPoints,
          localDataCenter: node.localDataCenter,
          keyspace: `gm_test_${randomBytes(4).toString('hex')}`,
          replication: 'SimpleStrategy:1',
          consistency: 'LOCAL_QUORUM',
          username: node.username,
          password: node.password,
        };
        // A computed specifier: the adapter is loaded only when a cluster is configured.
        const adapter = '../store.cassandra.js';
        const { openCassandraStore } = (await import(adapter)) as CassandraStoreModule;
        let store: Store;
        try {
          store = await openCassandraStore(options);
        } catch (err) {
          await dropKeyspace(options);
          throw err;
        }
        return {
          users: store.users,
          groups: store.groups,
          messages: store.messages,
          close: async () => {
            await store.close();
            await dropKeyspace(options);
          },
        };
      },
      cases,
    );
  } else {
    cassandraMissing(`cassandra store contract: ${part}`, node.unavailable);
  }
}

/** What store.cassandra.ts exports; named here so this suite does not depend on its types. */
interface CassandraStoreOptions {
  contactPoints: string[];
  localDataCenter: string;
  keyspace: string;
  replication: string;
  consistency: string;
  username: string;
  password: string;
}
interface CassandraStoreModule {
  openCassandraStore(options: CassandraStoreOptions): Promise<Store>;
}

/** Drops the suite's keyspace once its store is closed. */
async function dropKeyspace(options: CassandraStoreOptions): Promise<void> {
  const { default: cassandra } = await import('cassandra-driver');
  const client = new cassandra.Client({
    contactPoints: options.contactPoints,
    localDataCenter: options.localDataCenter,
    ...(options.username
      ? { authProvider: new cassandra.auth.PlainTextAuthProvider(options.username, options.password) }
      : {}),
  });
  try {
    await client.execute(`DROP KEYSPACE IF EXISTS ${options.keyspace}`);
  } finally {
    await client.shutdown();
  }
}
