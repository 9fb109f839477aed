/**
 * The route lookup against a real redis-server, with routes written by real presence clients (gateways;
 * presence/testing/fixture.ts).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setup } from '../presence/testing/fixture.js';
import { routesOf } from './index.js';

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
