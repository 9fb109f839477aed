/**
 * Presence across gateway and engine failures, with real parts
 * (presence/testing/fixture.ts): a gateway that stalls, is SIGKILLed, restarts
 * under its node id or stops gracefully, and an engine or presence process
 * that restarts.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { dialogChatId } from '../common/ids.js';
import { releasePorts, reservePort } from '../launcher/index.js';
import { createPresenceClient } from './index.js';
import {
  DEBOUNCE_MS,
  gatewayEnv,
  killChild,
  LEASE_MS,
  message,
  setup,
  sleep,
  spawnTs,
  waitFor,
  waitForLine,
} from './testing/fixture.js';

test('a gateway that stalled past its lease is swept, then resyncs itself', async (t) => {
  const f = await setup(t);
  await f.startEngine();
  const child = spawnTs('testing/gateway-process', ['alice>bob'], gatewayEnv(f, 'gw-stall'));
  t.after(() => killChild(child));
  await waitForLine(child, 'ready');
  await waitFor('alice online', async () => (await f.presenceOf('alice')).online, 5000);
  assert.deepEqual(await f.redis.hgetall(f.keys.watchers('bob')), { alice: '1' });

  child.kill('SIGSTOP'); // a stall: no heartbeats, sockets (in its memory) still open
  await waitFor(
    'alice offline after the sweep',
    async () => !(await f.presenceOf('alice')).online,
    LEASE_MS + 3000,
  );
  assert.equal(await f.redis.exists(f.keys.route('alice')), 0);
  assert.equal(await f.redis.exists(f.keys.watchers('bob')), 0, 'its watchers were dropped too');

  child.kill('SIGCONT'); // its next heartbeat finds the lease gone and pushes its state again
  await waitFor('alice online after resync', async () => (await f.presenceOf('alice')).online, LEASE_MS * 2);
  assert.deepEqual(await f.redis.hgetall(f.keys.route('alice')), { 'gw-stall': '1' });
  assert.deepEqual(await f.redis.hgetall(f.keys.watchers('bob')), { alice: '1' });
  assert.ok((await f.redis.zscore(f.keys.gateways(), 'gw-stall')) !== null);
});

test('a SIGKILLed gateway stops keeping its users online within about the lease', async (t) => {
  const f = await setup(t);
  await f.startEngine();
  const other = await f.gateway('gw-b');
  await other.connected('carol');
  const child = spawnTs('testing/gateway-process', ['alice', 'bob', 'carol'], gatewayEnv(f, 'gw-dead'));
  t.after(() => killChild(child));
  await waitForLine(child, 'ready');
  await waitFor('users online', async () => (await f.presenceOf('bob')).online, 5000);

  child.kill('SIGKILL');
  const killedAt = Date.now();
  await waitFor('alice offline', async () => !(await f.presenceOf('alice')).online, LEASE_MS + 3000);
  const took = Date.now() - killedAt;
  assert.ok(took <= LEASE_MS + 2500, `offline ${took} ms after the kill (lease ${LEASE_MS} ms)`);
  assert.equal((await f.presenceOf('bob')).online, false);
  assert.equal((await f.presenceOf('carol')).online, true, 'carol still has a socket on gw-b');
  const { lastSeen } = await f.presenceOf('alice');
  assert.ok(
    lastSeen !== null && lastSeen <= killedAt && lastSeen > killedAt - LEASE_MS,
    'last_seen = last heartbeat',
  );
  assert.equal(await f.redis.zscore(f.keys.gateways(), 'gw-dead'), null);
  assert.deepEqual(await f.redis.hkeys(f.keys.route('carol')), ['gw-b']);
});

test('a gateway restarted with the same node id drops what its killed predecessor left', async (t) => {
  const f = await setup(t);
  await f.startEngine();
  const child = spawnTs('testing/gateway-process', ['alice', 'bob'], gatewayEnv(f, 'gw-1'));
  t.after(() => killChild(child));
  await waitForLine(child, 'ready');
  await waitFor('bob online', async () => (await f.presenceOf('bob')).online, 5000);
  child.kill('SIGKILL');
  // Restarted at once (before its lease ran out); only alice reconnects to it.
  const gw = await f.gateway('gw-1');
  await gw.connected('alice');
  await waitFor('bob offline', async () => !(await f.presenceOf('bob')).online, DEBOUNCE_MS + 2000);
  assert.equal((await f.presenceOf('alice')).online, true);
  assert.deepEqual(await f.redis.smembers(f.keys.gatewayUsers('gw-1')), ['alice']);
});

test('a graceful gateway stop lets users move to another gateway without flapping', async (t) => {
  const f = await setup(t);
  await f.startEngine();
  const gwA = await f.gateway('gw-a');
  const gwB = await f.gateway('gw-b');
  await f.store.messages.append([message(dialogChatId('alice', 'bob'), 1, 'bob')]);
  await gwB.connected('bob');
  await gwA.connected('alice');
  await gwA.connected('zed');
  await waitFor('alice online', async () => (await f.presenceOf('alice')).online);
  await gwA.stop();
  await gwB.connected('alice');
  await waitFor('zed offline', async () => !(await f.presenceOf('zed')).online, DEBOUNCE_MS + 2000);
  await sleep(200);
  assert.equal((await f.presenceOf('alice')).online, true);
  assert.deepEqual(
    (await f.statuses('gw-b')).filter((s) => s.user_login === 'alice').map((s) => s.is_online),
    [true],
  );
  assert.equal(await f.redis.zscore(f.keys.gateways(), 'gw-a'), null);
});

test('a restarted engine rebuilds from Redis: changes made while it was down are settled', async (t) => {
  const f = await setup(t);
  const first = await f.startEngine();
  const gw = await f.gateway('gw-a');
  await gw.connected('alice');
  await waitFor('alice online', async () => (await f.presenceOf('alice')).online);
  await first.stop();

  await gw.disconnected('alice');
  await gw.connected('bob');
  await sleep(300);
  assert.equal((await f.presenceOf('alice')).online, true, 'nothing decides while presence is down');
  assert.equal((await f.presenceOf('bob')).online, false);

  await f.startEngine();
  await waitFor('bob online', async () => (await f.presenceOf('bob')).online, 3000);
  await waitFor('alice offline', async () => !(await f.presenceOf('alice')).online, DEBOUNCE_MS + 3000);
});

test('the presence process survives SIGKILL: restarted, it rebuilds and serves Get over gRPC', async (t) => {
  const f = await setup(t);
  const gw = await f.gateway('gw-a');
  const grpcPort = await reservePort();
  const metricsPort = await reservePort();
  t.after(() => releasePorts([grpcPort, metricsPort]));
  const env = {
    ...gatewayEnv(f, 'presence-1'),
    GRPC_PORT: String(grpcPort),
    METRICS_PORT: String(metricsPort),
  };
  const start = async () => {
    const child = spawnTs('main', [], env);
    child.stdout!.resume();
    t.after(() => killChild(child));
    await waitFor(
      'presence ready',
      async () => (await fetch(`http://127.0.0.1:${metricsPort}/readyz`).catch(() => null))?.status === 200,
      20_000,
    );
    return child;
  };
  const first = await start();
  const client = createPresenceClient(`127.0.0.1:${grpcPort}`);
  t.after(() => client.close());

  await gw.connected('alice');
  await waitFor('alice online', async () => (await f.presenceOf('alice')).online);
  first.kill('SIGKILL');
  await new Promise((r) => first.once('exit', r));
  await gw.disconnected('alice');
  await gw.connected('bob');

  const second = await start();
  await waitFor('bob online', async () => (await f.presenceOf('bob')).online, 3000);
  await waitFor('alice offline', async () => !(await f.presenceOf('alice')).online, DEBOUNCE_MS + 3000);
  const reply = await client.get({ logins: ['alice', 'bob', 'nobody'] });
  const byLogin = Object.fromEntries(reply.users.map((u) => [u.login, u]));
  assert.equal(byLogin.bob?.online, true);
  assert.equal(byLogin.alice?.online, false);
  assert.ok((byLogin.alice?.lastSeenMs ?? 0) > 0);
  assert.equal(byLogin.nobody?.lastSeenMs, 0);
  const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  assert.match(metrics, /gm_presence_changes_total\{[^}]*status="online"[^}]*\} [1-9]/);
  await waitFor('online gauge', async () =>
    /gm_presence_online_users\{[^}]*\} 1\n/.test(
      await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text(),
    ),
  );

  second.kill('SIGTERM');
  const code = await new Promise<number | null>((r) => second.once('exit', (c) => r(c)));
  assert.equal(code, 0, 'graceful stop exits 0');
});
