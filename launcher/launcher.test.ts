/**
 * `npm start` end to end: dist/launcher/main.js as a real process starting a
 * real cluster, restarting a crashed shard, stopping in order on SIGTERM, and
 * starting again on the same data (sessions and users survive).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { api, cleanEnv, startRedis, TEST_ENV, uniqueLogin } from '../test/harness/index.js';
import { trackDir, trackPid, removeDir } from '../test/harness/cleanup.js';
import { alive, launch } from '../test/harness/launched.js';
import { releasePorts, reservePort } from './ports.js';
import { waitReady } from './services.js';

test(
  'npm start: starts everything, restarts a crashed shard, stops in order, keeps data',
  { timeout: 240_000 },
  async (t) => {
    const data = fs.mkdtempSync(path.join(os.tmpdir(), 'gm-launcher-'));
    trackDir(data);
    const port = await reservePort();
    t.after(() => {
      releasePorts([port]);
      removeDir(data);
    });
    const env = { ...cleanEnv(), ...TEST_ENV };
    const args = ['--port', String(port), '--gateways', '2', '--shards', '2', '--data', data];

    const first = launch(args, env);
    t.after(() => first.child.kill('SIGKILL'));
    const up = await first.waitFor(/^gmessenger is up/, 120_000);
    assert.equal(up.url, `http://127.0.0.1:${port}/`);
    const { processes = [] } = await first.waitFor(/^processes:/, 1000);
    assert.deepEqual(
      processes.map((p) => p.name),
      ['redis', 'relay-1', 'presence-1', 'shard-1', 'shard-2', 'gateway-1', 'gateway-2'],
    );

    const client = api(`http://127.0.0.1:${port}`);
    const login = uniqueLogin('l');
    const session = await client.register(login);
    assert.equal((await client.request('GET', '/me', { token: session.token })).status, 200);

    const shard = processes.find((p) => p.name === 'shard-1')!;
    process.kill(shard.pid, 'SIGKILL');
    await first.waitFor(/^shard-1 was killed by SIGKILL; restarting/, 10_000);
    const restarted = await first.waitFor(/^shard-1 restarted/, 10_000);
    trackPid(restarted.pid);
    await waitReady(`http://127.0.0.1:${shard.metrics}/readyz`, { name: 'shard-1', timeoutMs: 60_000 });

    first.child.kill('SIGTERM');
    assert.equal(await first.exit, 0);
    const stopped = first.lines
      .filter((l) => l.service === 'launcher' && / stopped$/.test(l.msg ?? ''))
      .map((l) => l.node);
    const rank = (name: string | undefined) =>
      ['gateway', 'shard', 'relay', 'presence', 'redis'].indexOf(name!.split('-')[0]!);
    assert.equal(stopped.length, 7, `every process stopped: ${stopped.join(', ')}`);
    assert.deepEqual(
      stopped.map(rank),
      [...stopped.map(rank)].sort((a, b) => a - b),
      `stop order gateways, shards, relay, presence, redis: ${stopped.join(', ')}`,
    );
    for (const p of processes) assert.equal(alive(p.pid), false, `${p.name} is gone`);
    assert.ok(fs.existsSync(path.join(data, 'gmessenger.db')));
    assert.ok(fs.existsSync(path.join(data, 'redis', 'appendonlydir')));

    const second = launch(['--port', String(port), '--data', data], env);
    t.after(() => second.child.kill('SIGKILL'));
    await second.waitFor(/^gmessenger is up/, 120_000);
    assert.equal(
      (await client.request('GET', '/me', { token: session.token })).status,
      200,
      'the session survived',
    );
    assert.equal((await client.login(login)).login, login, 'the user survived');
    second.child.kill('SIGTERM');
    assert.equal(await second.exit, 0);
  },
);

test('npm start with REDIS_URL uses that Redis instead of starting one', { timeout: 120_000 }, async (t) => {
  const redis = await startRedis({ t });
  const data = fs.mkdtempSync(path.join(os.tmpdir(), 'gm-launcher-'));
  trackDir(data);
  const port = await reservePort();
  t.after(() => {
    releasePorts([port]);
    removeDir(data);
  });
  const run = launch(['--port', String(port), '--data', data], {
    ...cleanEnv(),
    ...TEST_ENV,
    REDIS_URL: redis.url,
  });
  t.after(() => run.child.kill('SIGKILL'));
  const { processes = [] } = await run.waitFor(/^processes:/, 120_000);
  assert.deepEqual(
    processes.map((p) => p.name),
    ['relay-1', 'presence-1', 'shard-1', 'gateway-1'],
  );
  await api(`http://127.0.0.1:${port}`).register(uniqueLogin('r'));
  run.child.kill('SIGTERM');
  assert.equal(await run.exit, 0);
  assert.ok(redis.running, 'the given Redis is left running');
});
