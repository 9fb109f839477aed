/**
 * The send rate limit holds across gateways: a user with sockets on two
 * gateways, each of which alone stays within its local budget, is still held
 * to SEND_RATE_LIMIT per second by the limiter in Redis.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { api, connectWs, startCluster, uniqueLogin, type WsEvent } from '../harness/index.js';

const RATE = 5;
const SECONDS = 3;

test('SEND_RATE_LIMIT holds for one user across two gateways', { timeout: 120_000 }, async (t) => {
  const cluster = await startCluster({
    gateways: 2,
    relay: false,
    t,
    env: { SEND_RATE_LIMIT: String(RATE) },
  });
  const http = api(cluster.gateways[0]!.url);
  const alice = await http.register(uniqueLogin('rla'));
  const bob = await http.register(uniqueLogin('rlb'));
  const sockets = await Promise.all(
    cluster.gateways.map((g) => connectWs(`${g.wsUrl}/dialog/${bob.login}/ws`, { token: alice.token })),
  );
  // Each gateway gets RATE sends per second, within its own token bucket; together they are twice the limit.
  let n = 0;
  const started = Date.now();
  while (Date.now() - started < SECONDS * 1000) {
    for (const ws of sockets) ws.send({ type: 'send_message', payload: { text: 'x', client_id: `c${++n}` } });
    await new Promise((r) => setTimeout(r, 1000 / RATE));
  }
  // Socket i sent the client_ids c<k> with k % 2 === (i + 1) % 2; its answers are the acks and errors of those
  // (every socket of the sender also sees the other socket's messages, with their client_id).
  const own = (i: number) => (e: WsEvent) =>
    (e.type === 'new_message' || e.type === 'error') &&
    typeof e.payload.client_id === 'string' &&
    Number(e.payload.client_id.slice(1)) % 2 === (i + 1) % 2;
  const answers = (await Promise.all(sockets.map((ws, i) => ws.take(own(i), n / 2, 30_000)))).flat();
  const acked = answers.filter((e) => e.type === 'new_message').length;
  const limited = answers.filter((e) => e.type === 'error' && e.payload.code === 'rate_limited').length;
  t.diagnostic(`sent ${n}, acked ${acked}, rate_limited ${limited}`);
  assert.equal(acked + limited, n, 'every send is either acknowledged or rate limited');
  assert.ok(limited > 0, 'some sends were rate limited');
  // Fixed one-second windows: at most RATE per window the sends touched (SECONDS + 1 windows).
  assert.ok(acked <= RATE * (SECONDS + 1), `acked ${acked} of ${n}`);
  for (const ws of sockets) await ws.close();
});
