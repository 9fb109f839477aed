import assert from 'node:assert/strict';
import fs from 'node:fs';
import { test } from 'node:test';
import { Redis } from 'ioredis';
import { pingRedis } from '../../launcher/index.js';
import { api, connectWs, expectUpgradeRefused, uniqueLogin } from './client.js';
import { startCluster } from './cluster.js';
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

test(
  'startCluster: real services wired together, each gateway on its own port',
  { timeout: 120_000 },
  async (t) => {
    const cluster = await startCluster({ gateways: 2, shards: 1, t });
    const [gw1, gw2] = cluster.gateways;
    assert.ok(gw1 && gw2);
    assert.notEqual(gw1.port, gw2.port);
    assert.equal(gw1.wsUrl, `ws://127.0.0.1:${gw1.port}`);
    assert.match(cluster.prefix, /^t[0-9a-f]{8}:$/);
    for (const p of cluster.processes) {
      assert.equal(p.env.REDIS_PREFIX, cluster.prefix);
      assert.equal(p.env.SQLITE_PATH, cluster.sqlitePath);
      assert.equal((await fetch(`${p.metricsUrl}/readyz`)).status, 200, `${p.name} ready`);
    }

    const alice = await api(gw1.url).register(uniqueLogin('a'));
    const bob = await api(gw2.url).register(uniqueLogin('b'));
    const me = await api(gw2.url).request<{ login: string }>('GET', '/me', { token: alice.token });
    assert.equal(me.status, 200, 'a session made on one gateway works on the other');
    assert.equal(me.json?.login, alice.login);
    assert.equal((await api(gw1.url).request('POST', '/login', { body: '{"login":' })).status, 400);

    assert.equal(await expectUpgradeRefused(`${gw1.wsUrl}/chats/ws`), 401);
    const wsA = await connectWs(`${gw1.wsUrl}/dialog/${bob.login}/ws`, { token: alice.token });
    const wsB = await connectWs(`${gw2.wsUrl}/dialog/${alice.login}/ws`, { cookie: bob.cookie });
    wsA.send({ type: 'send_message', payload: { text: 'hello', client_id: 'c-1' } });
    const ack = await wsA.next((e) => e.type === 'new_message' && e.payload.client_id === 'c-1', 10_000);
    const got = await wsB.next('new_message', 10_000);
    assert.equal(got.payload.id, ack.payload.id);
    assert.equal(got.payload.text, 'hello');
    await wsA.close();
    await wsB.close();
  },
);

test('startCluster: kill, restart, add and stop', { timeout: 120_000 }, async (t) => {
  const cluster = await startCluster({ relay: false, presence: false, t });
  const [shard] = cluster.shards;
  assert.ok(shard);
  const { pid, env } = shard;

  assert.deepEqual(await cluster.kill(shard), { code: null, signal: 'SIGKILL' });
  assert.equal(shard.running, false);
  await cluster.restart(shard);
  assert.ok(shard.running);
  assert.notEqual(shard.pid, pid);
  assert.equal(shard.env, env, 'restarted with the same environment');
  assert.equal((await fetch(`${shard.metricsUrl}/readyz`)).status, 200);

  const gateway = cluster.gateways[0]!;
  await cluster.restart(gateway);
  assert.match(cluster.logs(gateway), /harness: restarting gateway-1/);

  const added = await cluster.add('shard');
  assert.equal(added.name, 'shard-2');
  assert.equal(cluster.shards.length, 2);
  assert.deepEqual(cluster.unexpectedExits, []);

  const pids = cluster.processes.map((p) => p.pid!);
  await cluster.stop();
  for (const p of pids) assert.throws(() => process.kill(p, 0), 'process is gone');
  assert.equal(fs.existsSync(cluster.dir), false);
  assert.equal(cluster.redis.running, false);
});
