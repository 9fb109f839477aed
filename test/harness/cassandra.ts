/**
 * The Cassandra node of a test run. `npm test` (scripts/run-tests.mjs) starts
 * one local node for the whole run and names it in
 * TEST_CASSANDRA_CONTACT_POINTS (or uses the cluster named there by the
 * caller); every suite and test cluster then works in a keyspace of its own,
 * dropped afterwards. Where no node could be had, TEST_CASSANDRA_UNAVAILABLE
 * says why: suites that need Cassandra then fail in CI and skip elsewhere,
 * saying so.
 */
import { randomBytes } from 'node:crypto';
import { it } from 'node:test';
import cassandra from 'cassandra-driver';
import { openCassandraStore } from '../../store/store.cassandra.js';

export interface TestCassandra {
  contactPoints: string[];
  localDataCenter: string;
  username: string;
  password: string;
  /** release_version as the runner read it ('' when the caller named the cluster). */
  version: string;
}

/** The run's Cassandra, or the reason there is none. */
export function testCassandra(): TestCassandra | { unavailable: string } {
  const raw = process.env.TEST_CASSANDRA_CONTACT_POINTS || process.env.CASSANDRA_CONTACT_POINTS || '';
  const contactPoints = raw
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (contactPoints.length === 0) {
    return {
      unavailable:
        process.env.TEST_CASSANDRA_UNAVAILABLE ||
        'no Cassandra node: run through `npm test` (which starts one) or set TEST_CASSANDRA_CONTACT_POINTS',
    };
  }
  return {
    contactPoints,
    localDataCenter: process.env.CASSANDRA_LOCAL_DC ?? 'datacenter1',
    username: process.env.CASSANDRA_USERNAME ?? '',
    password: process.env.CASSANDRA_PASSWORD ?? '',
    version: process.env.TEST_CASSANDRA_VERSION ?? '',
  };
}

/** Whether this is a CI run (CI set and not "false"). */
export function inCi(): boolean {
  return Boolean(process.env.CI) && process.env.CI !== 'false';
}

/**
 * Registers the stand-in for suites that cannot run without Cassandra: a
 * failing test in CI (nothing about Cassandra is skipped there), a skipped one
 * elsewhere, both naming the reason.
 */
export function cassandraMissing(name: string, reason: string): void {
  if (inCi()) {
    it(name, () => {
      throw new Error(`${name} needs Cassandra, and CI must run it: ${reason}`);
    });
  } else {
    console.log(`${name}: skipped (${reason})`);
    it(name, { skip: reason }, () => {});
  }
}

/** A fresh keyspace name: gm_<tag>_<8 hex>. */
export function testKeyspace(tag: string): string {
  return `gm_${tag}_${randomBytes(4).toString('hex')}`;
}

/** A driver client for administration (dropping keyspaces, reading what the services wrote). */
export function adminClient(c: TestCassandra): cassandra.Client {
  return new cassandra.Client({
    contactPoints: [...c.contactPoints],
    localDataCenter: c.localDataCenter,
    ...(c.username ? { authProvider: new cassandra.auth.PlainTextAuthProvider(c.username, c.password) } : {}),
  });
}

/** Creates the keyspace and applies every migration, as the services would at start. */
export async function migrateKeyspace(c: TestCassandra, keyspace: string): Promise<void> {
  const store = await openCassandraStore({
    contactPoints: c.contactPoints,
    localDataCenter: c.localDataCenter,
    keyspace,
    replication: 'SimpleStrategy:1',
    consistency: 'LOCAL_QUORUM',
    username: c.username,
    password: c.password,
  });
  await store.close();
}

/** Drops the keyspace (no snapshot on the test node: auto_snapshot is off). */
export async function dropKeyspace(c: TestCassandra, keyspace: string): Promise<void> {
  const client = adminClient(c);
  try {
    await client.execute(`DROP KEYSPACE IF EXISTS ${keyspace}`);
  } finally {
    await client.shutdown();
  }
}

/** The release version the node reports, for test output. */
export async function releaseVersion(c: TestCassandra): Promise<string> {
  if (c.version) return c.version;
  const client = adminClient(c);
  try {
    const row = (await client.execute('SELECT release_version FROM system.local')).first();
    return String(row?.get('release_version') ?? 'unknown');
  } finally {
    await client.shutdown();
  }
}
