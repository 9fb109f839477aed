/** The route lookup against a real redis-server, with routes written by real presence clients (gateways). */
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { Redis } from 'ioredis';
import { loadConfig } from '../common/config.js';
import { Keys } from '../common/keys.js';
import { createLogger } from '../common/logger.js';
import { PresenceClient } from '../presence/index.js';
import { startRedis } from '../test/harness/index.js';
import { routesOf } from './index.js';

async function setup(t: TestContext) {
  const server = await startRedis({ appendonly: false });
  const config = loadConfig('gateway', { REDIS_URL: server.url, REDIS_PREFIX: 'rt:', LOG_LEVEL: 'silent' });
  const keys = new Keys(config.redisPrefix);
  const logger = createLogger('routes-test', 'test', 'silent');
  const conns: Redis[] = [];
  const clients: PresenceClient[] = [];
  const connect = (): Redis => {
    const r = new Redis(server.url, { maxRetriesPerRequest: 2 });
    r.on('error', () => undefined);
    conns.push(r);
    return r;
  };
  t.after(async () => {
    for (const c of clients) await c.stop().catch(() => undefined);
    for (const r of conns) r.disconnect();
    await server.destroy();
  });
  return {
    keys,
    redis: connect(),
    async gateway(node: string): Promise<PresenceClient> {
      const client = new PresenceClient({ redis: connect(), keys, node, config, logger });
      clients.push(client);
      await client.start();
      return client;
    },
  };
}

test('routesOf returns live gateways only', async (t) => {
  const f = await setup(t);
  const gwA = await f.gateway('gw-a');
  const gwB = await f.gateway('gw-b');
  await gwA.connected('alice');
  await gwB.connected('alice');
  await gwB.connected('bob');
  const routes = await routesOf(f.redis, f.keys, ['alice', 'bob', 'carol']);
  assert.deepEqual(Object.fromEntries(routes), { 'gw-a': ['alice'], 'gw-b': ['alice', 'bob'] });
  // Routes of a gateway whose lease ran out (not swept yet) and of one never registered are not routes.
  await f.redis.zadd(f.keys.gateways(), Date.now() - 1, 'gw-expired');
  await f.redis.hset(f.keys.route('carol'), 'gw-expired', 1, 'gw-unknown', 1);
  await f.redis.hset(f.keys.route('bob'), 'gw-expired', 2);
  const later = await routesOf(f.redis, f.keys, ['alice', 'bob', 'carol']);
  assert.deepEqual(Object.fromEntries(later), { 'gw-a': ['alice'], 'gw-b': ['alice', 'bob'] });
  assert.deepEqual(await routesOf(f.redis, f.keys, []), new Map());
});
