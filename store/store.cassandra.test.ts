/**
 * Cassandra-only cases: option validation (always runs), and, on the test
 * run's node (test/harness/cassandra.ts), migrations under concurrent
 * starts, the keyspace's replication, bucket boundaries, the append commit
 * point, index repair on re-registration, metrics and close. The port
 * semantics are in store.contract.test.ts. Each cluster case works in its own
 * throwaway keyspace, dropped afterwards.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { Client } from 'cassandra-driver';
import { storeSeconds } from '../common/metrics.js';
import { openCassandraStore, type CassandraStoreOptions } from './store.cassandra.js';
import type { Store } from './store.js';
import type { StoredMessage } from './types.js';
import { cassandraMissing, testCassandra } from '../test/harness/cassandra.js';

const node = testCassandra();
const contactPoints = 'unavailable' in node ? [] : node.contactPoints;

function options(overrides: Partial<CassandraStoreOptions> = {}): CassandraStoreOptions {
  return {
    contactPoints,
    localDataCenter: process.env.CASSANDRA_LOCAL_DC ?? 'datacenter1',
    keyspace: `gm_cass_${randomBytes(4).toString('hex')}`,
    replication: 'SimpleStrategy:1',
    consistency: 'LOCAL_QUORUM',
    username: process.env.CASSANDRA_USERNAME ?? '',
    password: process.env.CASSANDRA_PASSWORD ?? '',
    ...overrides,
  };
}

const msg = (chatId: string, id: number, text = `m${id}`): StoredMessage => ({
  chatId,
  id,
  sender: 'alice',
  text,
  time: 1_700_000_000_000 + id,
  clientId: null,
});

describe('cassandra store options', () => {
  // Port 1 on loopback: nothing listens there, and validation must fail before any connection anyway.
  const offline = (overrides: Partial<CassandraStoreOptions>) =>
    openCassandraStore({ ...options({ contactPoints: ['127.0.0.1:1'] }), ...overrides });

  it('rejects a malformed replication before connecting', async () => {
    await assert.rejects(offline({ replication: 'SimpleStrategy:zero' }), /CASSANDRA_REPLICATION/);
    await assert.rejects(offline({ replication: 'NetworkTopologyStrategy:dc1' }), /CASSANDRA_REPLICATION/);
  });

  it('rejects a keyspace name that would need quoting', async () => {
    await assert.rejects(offline({ keyspace: 'Bad-Name' }), /CASSANDRA_KEYSPACE/);
  });

  it('rejects an unknown consistency and missing contact points', async () => {
    await assert.rejects(
      offline({ consistency: 'TWO' as CassandraStoreOptions['consistency'] }),
      /CASSANDRA_CONSISTENCY/,
    );
    await assert.rejects(offline({ contactPoints: [] }), /CASSANDRA_CONTACT_POINTS/);
  });

  it('rejects when no host answers, and leaves no client running', async () => {
    await assert.rejects(offline({}), /All host\(s\) tried for query failed|No host/i);
  });
});

if ('unavailable' in node) {
  cassandraMissing('cassandra adapter cases', node.unavailable);
} else {
  describe('cassandra store on a cluster', { timeout: 300_000 }, () => {
    let admin: Client;
    const keyspaces: string[] = [];

    const open = async (overrides: Partial<CassandraStoreOptions> = {}): Promise<Store> => {
      const o = options(overrides);
      if (!keyspaces.includes(o.keyspace)) keyspaces.push(o.keyspace);
      return openCassandraStore(o);
    };

    before(async () => {
      const o = options();
      admin = new Client({
        contactPoints: o.contactPoints,
        localDataCenter: o.localDataCenter,
        credentials: o.username ? { username: o.username, password: o.password } : undefined,
      });
      await admin.connect();
    });

    after(async () => {
      for (const ks of keyspaces) await admin.execute(`DROP KEYSPACE IF EXISTS ${ks}`);
      await admin.shutdown();
    });

    it('four stores starting at once migrate the keyspace once, with the configured replication', async () => {
      const keyspace = options().keyspace;
      const [a, b, ...others] = (await Promise.all([1, 2, 3, 4].map(() => open({ keyspace })))) as [
        Store,
        Store,
        ...Store[],
      ];
      try {
        await Promise.all(others.map((s) => s.close()));
        const records = await admin.execute(`SELECT version, state FROM ${keyspace}.schema_migrations`);
        assert.deepEqual(
          records.rows.map((r) => [r.get('version'), r.get('state')]),
          [
            [1, 'applied'],
            [2, 'applied'],
          ],
        );
        const ks = await admin.execute(
          'SELECT replication FROM system_schema.keyspaces WHERE keyspace_name = ?',
          [keyspace],
        );
        const replication = ks.first().get('replication') as Record<string, string>;
        assert.match(replication.class ?? '', /SimpleStrategy$/);
        assert.equal(replication.replication_factor, '1');
        // Both stores work on the same schema.
        await a.messages.append([msg('g:shared', 1)]);
        assert.equal((await b.messages.history('g:shared', { limit: 5 })).length, 1);
      } finally {
        await Promise.all([a.close(), b.close()]);
      }
      const again = await open({ keyspace });
      await again.close();
    });

    it('stores messages in 10 000-id buckets and pages across the boundary both ways', async () => {
      const keyspace = options().keyspace;
      const store = await open({ keyspace });
      try {
        const chat = 'g:buckets';
        await store.messages.append([9_995, 9_996, 9_997].map((id) => msg(chat, id)));
        await store.messages.append([9_998, 9_999, 10_000, 10_001, 10_002].map((id) => msg(chat, id)));
        const ids = async (q: { before?: number; after?: number; limit: number }) =>
          (await store.messages.history(chat, q)).map((m) => m.id);
        assert.deepEqual(await ids({ limit: 4 }), [9_999, 10_000, 10_001, 10_002]);
        assert.deepEqual(await ids({ before: 10_001, limit: 3 }), [9_998, 9_999, 10_000]);
        assert.deepEqual(await ids({ after: 9_997, limit: 3 }), [9_998, 9_999, 10_000]);
        assert.deepEqual(await ids({ after: 9_999, limit: 100 }), [10_000, 10_001, 10_002]);
        const rows = await admin.execute(
          `SELECT bucket, id FROM ${keyspace}.messages WHERE chat_id = ? AND bucket IN (0, 1)`,
          [chat],
          { prepare: true },
        );
        const placed = rows.rows
          .map((r) => [Number(r.get('bucket')), Number(r.get('id'))])
          .sort((x, y) => x[1]! - y[1]!);
        assert.deepEqual(placed, [
          [0, 9_995],
          [0, 9_996],
          [0, 9_997],
          [0, 9_998],
          [0, 9_999],
          [1, 10_000],
          [1, 10_001],
          [1, 10_002],
        ]);
      } finally {
        await store.close();
      }
    });

    it('keeps messages written past chat_state invisible, and lets their ids be written again', async () => {
      const keyspace = options().keyspace;
      const store = await open({ keyspace });
      try {
        const chat = 'g:commit';
        await store.messages.append([1, 2, 3].map((id) => msg(chat, id)));
        // What a writer that died between the message batch and the chat_state write leaves behind.
        await admin.execute(
          `INSERT INTO ${keyspace}.messages (chat_id, bucket, id, sender, body, sent_at, client_id) VALUES (?, 0, 4, 'ghost', 'unacknowledged', 0, 'ghost-client-id')`,
          [chat],
          { prepare: true },
        );
        assert.deepEqual(
          (await store.messages.history(chat, { after: 0, limit: 10 })).map((m) => m.id),
          [1, 2, 3],
        );
        await store.messages.append([msg(chat, 4, 'retried')]);
        const [, retried] = await store.messages.history(chat, { limit: 2 });
        // Every column is overwritten, the absent client id included.
        assert.deepEqual(retried, msg(chat, 4, 'retried'));
      } finally {
        await store.close();
      }
    });

    it('re-registering a taken login rewrites its listing and search rows', async () => {
      const keyspace = options().keyspace;
      const store = await open({ keyspace });
      try {
        const user = {
          login: 'repairme',
          username: 'Repair Me',
          passwordHash: 'h',
          createdAt: 1_700_000_000_000,
        };
        assert.equal(await store.users.createUser(user), true);
        // What a process that died right after the conditional insert leaves behind.
        await admin.execute(`TRUNCATE ${keyspace}.users_by_name`);
        await admin.execute(`TRUNCATE ${keyspace}.user_prefixes`);
        assert.deepEqual(await store.users.search('repair', 10), []);
        assert.equal(await store.users.createUser({ ...user, username: 'Someone Else' }), false);
        assert.deepEqual(await store.users.search('repair', 10), [
          { login: 'repairme', username: 'Repair Me' },
        ]);
        assert.deepEqual(await store.users.listByName(null, 10), [
          { login: 'repairme', username: 'Repair Me' },
        ]);
      } finally {
        await store.close();
      }
    });

    it('records latency by operation and refuses calls after close', async () => {
      const store = await open();
      const count = async (op: string): Promise<number> =>
        (await storeSeconds.get()).values.find((v) => v.labels.op === op && v.metricName?.endsWith('_count'))
          ?.value ?? 0;
      const before = await count('chat_states');
      await store.messages.chatStates(['g:none']);
      assert.equal(await count('chat_states'), before + 1);
      const pending = store.messages.history('g:none', { limit: 1 });
      await store.close();
      assert.deepEqual(await pending, []);
      await assert.rejects(store.messages.chatStates(['g:none']), /store is closed/);
    });
  });
}
