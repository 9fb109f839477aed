import assert from 'node:assert/strict';
import fs from 'node:fs';
import { test } from 'node:test';
import { Redis } from 'ioredis';
import { pingRedis } from '../../launcher/redis-server.js';
import { startRedis } from './redis.js';

test(
  'startRedis: a real server on a free port, AOF survives SIGKILL and restart',
  { timeout: 60_000 },
  async (t) => {
    const server = await startRedis({ appendfsync: 'always', t });
    assert.equal(server.url, `redis://127.0.0.1:${server.port}`);
    assert.ok(server.running && server.pid);

    const client = new Redis(server.url, { lazyConnect: true, maxRetriesPerRequest: null });
    t.after(() => client.disconnect());
    await client.connect();
    await client.set('k', 'v1');
    await client.rpush('list', 'a', 'b');
    assert.equal(await client.get('k'), 'v1');

    await server.kill();
    assert.equal(server.running, false);
    assert.equal(await pingRedis(server.port), null, 'nothing answers on the port while it is down');

    await server.restart();
    assert.ok(server.running);
    assert.equal(await client.get('k'), 'v1', 'the AOF replayed the write acknowledged before SIGKILL');
    assert.deepEqual(await client.lrange('list', 0, -1), ['a', 'b']);
  },
);

test(
  'startRedis: graceful stop flushes the everysec AOF; restart keeps port and dir',
  { timeout: 60_000 },
  async (t) => {
    const server = await startRedis({ t });
    const { port, dir } = server;
    const client = new Redis(server.url, { maxRetriesPerRequest: null });
    t.after(() => client.disconnect());
    await client.set('before-stop', 'yes');

    await server.stop();
    await server.restart();
    assert.equal(server.port, port);
    assert.equal(server.dir, dir);
    assert.equal(await client.get('before-stop'), 'yes');
    assert.ok(fs.existsSync(`${dir}/appendonlydir`));
  },
);

test(
  'startRedis: appendonly false starts empty after a restart; destroy removes the dir',
  { timeout: 60_000 },
  async () => {
    const server = await startRedis({ appendonly: false });
    const client = new Redis(server.url, { maxRetriesPerRequest: null });
    try {
      await client.set('k', 'v');
      await server.restart();
      assert.equal(await client.get('k'), null);
    } finally {
      client.disconnect();
      await server.destroy();
    }
    assert.equal(server.running, false);
    assert.equal(fs.existsSync(server.dir), false);
    await server.destroy();
  },
);

test('two servers at once get different ports and dirs', { timeout: 60_000 }, async (t) => {
  const [a, b] = await Promise.all([startRedis({ t }), startRedis({ t })]);
  assert.notEqual(a.port, b.port);
  assert.notEqual(a.dir, b.dir);
});
