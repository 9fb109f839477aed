/**
 * The delivery writer (the shards' fan-out) against a real redis-server: flushes are pipelined (a flush looks up its routes
 * while earlier XADDs await their replies), yet every gateway's inbox holds each chat's events in id
 * order, and a Redis restart in the middle loses nothing and keeps that order. Also: a group event is
 * split by gateway, users without a live gateway are reported offline, a gateway that joined a moment ago
 * gets its events, and an inbox that refuses its write is handed to the relay while the others are written.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Redis } from 'ioredis';
import { Keys } from '../common/keys.js';
import { createLogger } from '../common/logger.js';
import { startRedis } from '../test/harness/index.js';
import { decodeInboxEntries } from './format.js';
import { DeliveryWriter } from './writer.js';

const NODES = ['gw-a', 'gw-b'];
const CHATS = 6;

interface Setup {
  url: string;
  redis: Redis;
  keys: Keys;
  fanout: DeliveryWriter;
  /** "node chatId" → ids of events whose XADD failed on its own and was handed to the relay. */
  relayed: Map<string, number[]>;
}

/** Two live gateways; user u<i> on gw-a, v<i> on gw-b, dialog d:u<i>:v<i> between them. */
async function setup(url: string, t: { after(fn: () => unknown): void }): Promise<Setup> {
  const redis = new Redis(url, { maxRetriesPerRequest: 2, enableAutoPipelining: true });
  redis.on('error', () => undefined);
  t.after(() => redis.disconnect());
  const keys = new Keys('tfan:');
  const until = Date.now() + 10 * 60_000;
  await redis.zadd(keys.gateways(), until, NODES[0]!, until, NODES[1]!);
  for (let c = 0; c < CHATS; c++) {
    await redis.hset(keys.route(`u${c}`), NODES[0]!, 1);
    await redis.hset(keys.route(`v${c}`), NODES[1]!, 1);
  }
  const s: Setup = { url, redis, keys, fanout: null as unknown as DeliveryWriter, relayed: new Map() };
  s.fanout = new DeliveryWriter({
    redis,
    keys,
    redeliver: async (node, entry) => {
      const key = `${node} ${entry.chatId}`;
      s.relayed.set(key, [...(s.relayed.get(key) ?? []), Number(JSON.parse(entry.payload).id)]);
    },
    inboxMaxLen: 1_000_000,
    logger: createLogger('shard', 'test', 'silent'),
  });
  return s;
}

function publish(s: Setup, chat: number, id: number): void {
  s.fanout.publish({
    type: 'new_message',
    chatId: `d:u${chat}:v${chat}`,
    users: [`u${chat}`, `v${chat}`],
    excludeConn: '',
    payload: JSON.stringify({ id, text: `m${id}` }),
    storedAtMs: Date.now(),
  });
}

/** Per chat, the ids in `node`'s inbox in stream order. */
async function inboxIds(s: Setup, node: string): Promise<Map<string, number[]>> {
  const redis = new Redis(s.url);
  try {
    const rows = await redis.xrange(s.keys.inbox(node), '-', '+');
    const out = new Map<string, number[]>();
    for (const [, fields] of rows) {
      for (const e of decodeInboxEntries(fields)) {
        const list = out.get(e.chatId) ?? [];
        list.push(Number(e.data!.id));
        out.set(e.chatId, list);
      }
    }
    return out;
  } finally {
    redis.disconnect();
  }
}

/**
 * Every chat's ids 1..n reach both gateways, and the inbox holds them in order: an id may repeat (a write
 * resent after a lost reply; the gateway drops it) but never appears for the first time after a larger one.
 * An XADD that fails on its own goes to the relay (`relayed`), which writes it later, out of order by design.
 */
async function assertComplete(s: Setup, perChat: number): Promise<void> {
  for (const node of NODES) {
    const ids = await inboxIds(s, node);
    for (let c = 0; c < CHATS; c++) {
      const chatId = `d:u${c}:v${c}`;
      const seen = new Set<number>();
      let max = 0;
      for (const id of ids.get(chatId) ?? []) {
        if (!seen.has(id)) assert.ok(id > max, `${node}, ${chatId}: id ${id} first arrived after ${max}`);
        seen.add(id);
        max = Math.max(max, id);
      }
      for (const id of s.relayed.get(`${node} ${chatId}`) ?? []) seen.add(id);
      const missing = Array.from({ length: perChat }, (_, i) => i + 1).filter((id) => !seen.has(id));
      assert.deepEqual(missing, [], `${node}, ${chatId}: nothing lost`);
    }
  }
}

test('pipelined fan-out flushes keep each chat in id order on every gateway', async (t) => {
  const server = await startRedis({ appendonly: false, t });
  const s = await setup(server.url, t);
  const perChat = 400;
  for (let id = 1; id <= perChat; id++) {
    for (let c = 0; c < CHATS; c++) publish(s, c, id);
    // A few events per turn, so there are many small flushes with writes in flight behind each other.
    if (id % 3 === 0) await new Promise((r) => setImmediate(r));
  }
  await s.fanout.drain();
  await assertComplete(s, perChat);
  assert.equal(s.relayed.size, 0, 'with Redis up, no write needs the relay');
});

test('a Redis restart during fan-out loses nothing and keeps each chat in id order', async (t) => {
  // appendfsync always: whatever Redis acknowledged survives its SIGKILL.
  const server = await startRedis({ appendonly: true, appendfsync: 'always', t });
  const s = await setup(server.url, t);
  const perChat = 300;
  for (let id = 1; id <= perChat; id++) {
    for (let c = 0; c < CHATS; c++) publish(s, c, id);
    if (id === 100) await server.kill();
    if (id === 150) await server.restart();
    await new Promise((r) => setTimeout(r, id >= 100 && id < 150 ? 10 : 1));
  }
  await s.fanout.drain();
  await assertComplete(s, perChat);
});

/** Events the fan-out reported offline, and a publish helper with users and an optional skip. */
function recorder(s: Setup) {
  const offline: string[][] = [];
  const send = (chatId: string, users: string[] | '*', id: number, skip?: { user: string; node: string }) =>
    s.fanout.publish({
      type: 'new_message',
      chatId,
      users,
      excludeConn: '',
      payload: JSON.stringify({ id, text: `m${id}` }),
      storedAtMs: Date.now(),
      onOffline: (logins) => offline.push(logins),
      ...(skip ? { skip } : {}),
    });
  return { offline, send };
}

/** The users named by each entry for `chatId` in `node`'s inbox, in stream order. */
async function inboxUsers(s: Setup, node: string, chatId: string): Promise<(string[] | '*')[]> {
  const rows = await s.redis.xrange(s.keys.inbox(node), '-', '+');
  return rows.flatMap(([, fields]) =>
    decodeInboxEntries(fields)
      .filter((e) => e.chatId === chatId)
      .map((e) => (e.users === '*' ? '*' : [...e.users].sort())),
  );
}

test('a group event is split by gateway, skips the sole socket, reports the offline', async (t) => {
  const server = await startRedis({ appendonly: false, t });
  const s = await setup(server.url, t);
  const { offline, send } = recorder(s);
  // u0 on gw-a, v0 and v1 on gw-b; "gone" has a route only on a gateway whose lease expired; "nobody" none.
  await s.redis.zadd(s.keys.gateways(), Date.now() - 1000, 'gw-dead');
  await s.redis.hset(s.keys.route('gone'), 'gw-dead', 1);
  await s.redis.hset(s.keys.route('u0'), NODES[1]!, 1);
  send('g:team', ['u0', 'v0', 'v1', 'gone', 'nobody'], 1, { user: 'u0', node: NODES[0]! });
  send('g:pub', '*', 2);
  await s.fanout.drain();
  // u0's socket on gw-a sent it (skipped there); its second socket on gw-b gets it with v0 and v1.
  assert.deepEqual(await inboxUsers(s, NODES[0]!, 'g:team'), []);
  assert.deepEqual(await inboxUsers(s, NODES[1]!, 'g:team'), [['u0', 'v0', 'v1']]);
  assert.deepEqual(offline, [['gone', 'nobody']]);
  // A broadcast goes to every live gateway and to no dead one.
  for (const node of NODES) assert.deepEqual(await inboxUsers(s, node, 'g:pub'), ['*']);
  assert.equal(await s.redis.exists(s.keys.inbox('gw-dead')), 0);
});

test('a gateway that joined a moment ago gets its events, in order', async (t) => {
  const server = await startRedis({ appendonly: false, t });
  const s = await setup(server.url, t);
  const { send } = recorder(s);
  send('d:u0:v0', ['u0', 'v0'], 1);
  await s.fanout.drain();
  // gw-c registers within the half second the fan-out keeps its list of gateways.
  await s.redis.zadd(s.keys.gateways(), Date.now() + 60_000, 'gw-c');
  await s.redis.hset(s.keys.route('v0'), 'gw-c', 1);
  for (let id = 2; id <= 20; id++) send('d:u0:v0', ['u0', 'v0'], id);
  await s.fanout.drain();
  const ids = (await inboxIds(s, 'gw-c')).get('d:u0:v0');
  assert.deepEqual(
    ids,
    Array.from({ length: 19 }, (_, i) => i + 2),
  );
  assert.deepEqual((await inboxIds(s, NODES[1]!)).get('d:u0:v0')?.length, 20);
});

test('an inbox that refuses its write goes to the relay; the other gateways get theirs', async (t) => {
  const server = await startRedis({ appendonly: false, t });
  const s = await setup(server.url, t);
  const { send } = recorder(s);
  // gw-b's inbox key holds a string: XADD fails there with WRONGTYPE.
  await s.redis.set(s.keys.inbox(NODES[1]!), 'not a stream');
  for (let id = 1; id <= 3; id++) send('d:u0:v0', ['u0', 'v0'], id);
  await s.fanout.drain();
  assert.deepEqual((await inboxIds(s, NODES[0]!)).get('d:u0:v0'), [1, 2, 3]);
  assert.deepEqual(s.relayed.get(`${NODES[1]!} d:u0:v0`), [1, 2, 3]);
  assert.equal(s.relayed.get(`${NODES[0]!} d:u0:v0`), undefined);
});
