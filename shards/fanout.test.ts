/**
 * The shard's fan-out against a real redis-server: flushes are pipelined (a flush looks up its routes
 * while earlier XADDs await their replies), yet every gateway's inbox holds each chat's events in id
 * order, and a Redis restart in the middle loses nothing and keeps that order.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Redis } from 'ioredis';
import { decodeInboxEntries } from '../common/inbox.js';
import { Keys } from '../common/keys.js';
import { createLogger } from '../common/logger.js';
import { routesOf } from '../presence/index.js';
import { startRedis } from '../test/harness/index.js';
import { Fanout } from './fanout.js';

const NODES = ['gw-a', 'gw-b'];
const CHATS = 6;

interface Setup {
  url: string;
  redis: Redis;
  keys: Keys;
  fanout: Fanout;
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
  const s: Setup = { url, redis, keys, fanout: null as unknown as Fanout, relayed: new Map() };
  s.fanout = new Fanout(
    redis,
    keys,
    (logins) => routesOf(redis, keys, logins),
    async (node, entry) => {
      const key = `${node} ${entry.chatId}`;
      s.relayed.set(key, [...(s.relayed.get(key) ?? []), Number(JSON.parse(entry.payload).id)]);
    },
    1_000_000,
    createLogger('shard', 'test', 'silent'),
  );
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
