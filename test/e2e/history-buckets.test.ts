/**
 * History past 10,000 messages through the gateway, on the store the cluster
 * runs (SQLite here, Cassandra in test/cassandra/history-buckets.cassandra.test.ts):
 * Cassandra keeps a chat's messages in partitions of 10,000 ids, so paging
 * with `before` and `after` must cross from one partition to the next without
 * losing or repeating a message. The history is written straight into the
 * cluster's store (a previous owner), then the shard takes the chat over: its
 * claim must fence that writer and continue at the right id.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { dialogChatId } from '../../common/ids.js';
import {
  ChatWriteError,
  FencedError,
  type Claim,
  type Store,
  type StoredMessage,
} from '../../store/index.js';
import { openCassandraStore } from '../../store/store.cassandra.js';
import { openSqliteStore } from '../../store/store.sqlite.js';
import { testCassandra } from '../harness/cassandra.js';
import { uniqueLogin, type Cluster, type Session } from '../harness/index.js';
import {
  chatsSocket,
  dialog,
  ok,
  registerAll,
  sendMessages,
  TEST_TIMEOUT_MS,
  useCluster,
  walkPages,
} from './helpers.js';

const suite = useCluster();
const TOTAL = 10_050;

interface Message {
  id: number;
  sender: string;
  text: string;
}

/** The cluster's own store, opened beside its services. */
async function openClusterStore(cluster: Cluster): Promise<Store> {
  if (cluster.store === 'sqlite') return openSqliteStore(cluster.sqlitePath);
  const node = testCassandra();
  assert.ok(!('unavailable' in node), 'the Cassandra node of the run');
  return openCassandraStore({
    contactPoints: node.contactPoints,
    localDataCenter: node.localDataCenter,
    keyspace: cluster.keyspace!,
    replication: 'SimpleStrategy:1',
    consistency: 'LOCAL_QUORUM',
    username: node.username,
    password: node.password,
  });
}

const STORE = process.env.TEST_STORE === 'cassandra' ? 'Cassandra' : 'SQLite';

test(
  `history pages across the 10,000-id partition boundary on ${STORE}, and the shard fences the earlier writer`,
  { timeout: TEST_TIMEOUT_MS * 2 },
  async () => {
    const [erin, finn] = (await registerAll(suite.http, [uniqueLogin('be'), uniqueLogin('bf')])) as [
      Session,
      Session,
    ];
    const chatId = dialogChatId(erin.login, finn.login);
    const store = await openClusterStore(suite.cluster);
    try {
      const claim: Claim = (await store.messages.claim([chatId])).get(chatId)!;
      for (let from = 1; from <= TOTAL; from += 500) {
        const batch: StoredMessage[] = [];
        for (let id = from; id < Math.min(TOTAL + 1, from + 500); id++) {
          batch.push({
            chatId,
            id,
            sender: id % 2 ? erin.login : finn.login,
            text: `b ${id}`,
            time: 1_700_000_000_000 + id,
            clientId: null,
          });
        }
        await store.messages.append(batch, new Map([[chatId, claim]]));
      }
      await pageAndTakeOver(erin, finn, store, claim, chatId);
    } finally {
      await store.close();
    }
  },
);

async function pageAndTakeOver(erin: Session, finn: Session, store: Store, claim: Claim, chatId: string) {
  const path = `/dialog/${finn.login}`;

  // Newest first, 500 a page, back over the boundary.
  const back = await walkPages<Message>(suite.http, `${path}?limit=500`, erin, 100);
  const seen = back.pages.flat().map((m) => m.id);
  assert.equal(seen.length, TOTAL, 'every message once walking back');
  assert.deepEqual(
    [...seen].sort((a, b) => a - b),
    Array.from({ length: TOTAL }, (_, i) => i + 1),
  );
  // Pages that straddle the boundary, both ways.
  const before = ok(
    await suite.http.request<Message[]>('GET', `${path}?before=10003&limit=6`, { token: erin.token }),
    200,
    'before across the boundary',
  );
  assert.deepEqual(
    before.map((m) => m.id),
    [9997, 9998, 9999, 10000, 10001, 10002],
  );
  assert.deepEqual(
    before.map((m) => m.text),
    before.map((m) => `b ${m.id}`),
  );
  const after = ok(
    await suite.http.request<Message[]>('GET', `/dialog/${erin.login}?after=9996&limit=6`, {
      token: finn.token,
    }),
    200,
    'after across the boundary',
  );
  assert.deepEqual(
    after.map((m) => m.id),
    [9997, 9998, 9999, 10000, 10001, 10002],
  );

  // The shard takes the chat over from the writer above: it continues at the next id, in the new partition.
  const ws = await chatsSocket(suite.gateway, erin);
  try {
    const [ack] = await sendMessages(ws, dialog(finn.login), ['after the boundary']);
    assert.equal(ack!.payload.id, TOTAL + 1);
  } finally {
    await ws.close();
  }
  // The earlier writer's claim is fenced now: its next append is refused and changes nothing.
  await assert.rejects(
    store.messages.append(
      [{ chatId, id: TOTAL + 1, sender: erin.login, text: 'stale', time: Date.now(), clientId: null }],
      new Map([[chatId, claim]]),
    ),
    (err: Error) => err instanceof FencedError || (err instanceof ChatWriteError && err.chats.has(chatId)),
  );
  const newest = ok(
    await suite.http.request<Message[]>('GET', `${path}?limit=2`, { token: erin.token }),
    200,
    'newest',
  );
  assert.deepEqual(
    newest.map((m) => [m.id, m.text]),
    [
      [TOTAL, `b ${TOTAL}`],
      [TOTAL + 1, 'after the boundary'],
    ],
  );
}
