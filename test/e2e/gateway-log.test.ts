/**
 * A gateway's log stays clean from its start through its first requests and
 * WebSocket upgrades: every line is a pino JSON line below error level, and
 * nothing else (uWS prints its warnings, such as a write outside a corked
 * callback, straight to stderr, which `npm start` shows as error lines).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { test } from 'node:test';
import { api, connectWs, expectUpgradeRefused, startCluster, uniqueLogin } from '../harness/index.js';

/** The levels a clean log may hold (the gateway's pino writes level labels). */
const FINE = new Set(['trace', 'debug', 'info', 'warn']);

test('a gateway start and its first upgrades log no error line', { timeout: 120_000 }, async (t) => {
  const cluster = await startCluster({ relay: false, t });
  const gateway = cluster.gateways[0]!;
  const http = api(gateway.url);
  assert.equal((await http.request('GET', '/')).status, 200);
  const [alice, bob] = await Promise.all([
    http.register(uniqueLogin('lg')),
    http.register(uniqueLogin('lg')),
  ]);
  // The first upgrade finds no other socket open on the gateway; the ones after do, and a refused one
  // answers over plain HTTP.
  const first = await connectWs(`${gateway.wsUrl}/chats/ws`, { token: alice.token });
  await first.close();
  const sockets = await Promise.all([
    connectWs(`${gateway.wsUrl}/chats/ws`, { token: alice.token }),
    connectWs(`${gateway.wsUrl}/dialog/${alice.login}/ws`, { token: bob.token }),
  ]);
  assert.equal(await expectUpgradeRefused(`${gateway.wsUrl}/chats/ws`, { token: 'nonsense' }), 401);
  sockets[0]!.send({
    type: 'send_message',
    payload: { text: 'hello', client_id: 'c1', chat: { type: 'dialog', id: bob.login } },
  });
  await sockets[1]!.next('new_message', 10_000);
  await Promise.all(sockets.map((ws) => ws.close()));
  const again = await connectWs(`${gateway.wsUrl}/chats/ws`, { token: bob.token });
  await again.close();

  const lines = fs.readFileSync(gateway.logFile, 'utf8').split('\n').filter(Boolean);
  assert.ok(
    lines.some((l) => l.includes('gateway ready')),
    'the log holds the start',
  );
  const bad = lines.filter((line) => {
    try {
      const entry = JSON.parse(line) as { level?: unknown };
      return typeof entry.level !== 'string' || !FINE.has(entry.level);
    } catch {
      return true;
    }
  });
  assert.deepEqual(bad, [], 'error lines, or lines that are not pino JSON');
});
