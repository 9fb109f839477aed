/**
 * A shard that stops answering (SIGSTOP, its lease still valid): a send the gateway cannot retry safely
 * (no client_id) fails with a retryable `unavailable` error when its request times out, the call is
 * counted in gm_grpc_client_handling_seconds with that code, and sends go through again once the shard
 * runs. Real gateway, shard, presence and Redis processes.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { api, connectWs, startCluster, uniqueLogin } from '../harness/index.js';
import { errorEvent, sendAndAck, sendText } from './realtime.js';

/** The gateway's per-request timeout (shards/client.ts REQUEST_TIMEOUT_MS). */
const REQUEST_TIMEOUT_MS = 8_000;

async function timedOutSends(metricsUrl: string): Promise<number> {
  const text = await (await fetch(`${metricsUrl}/metrics`)).text();
  const line = text
    .split('\n')
    .find(
      (l) =>
        l.startsWith('gm_grpc_client_handling_seconds_count{') &&
        l.includes('method="Exchange/send"') &&
        l.includes('code="unavailable"'),
    );
  return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : 0;
}

test('a send to a shard that stopped answering fails with unavailable after the request timeout', async (t) => {
  // A lease far longer than the test: the stopped shard stays the chat's owner, so the request times out.
  const cluster = await startCluster({ relay: false, env: { LEASE_TTL_MS: '60000' }, t });
  const [gateway] = cluster.gateways;
  const [shard] = cluster.shards;
  const client = api(gateway!.url);
  const alice = await client.register(uniqueLogin('sto'));
  const bob = await client.register(uniqueLogin('sto'));
  const ws = await connectWs(`${gateway!.wsUrl}/dialog/${bob.login}/ws`, { token: alice.token });
  t.after(() => ws.close());
  await sendAndAck(ws, 'before the stop');
  const before = await timedOutSends(gateway!.metricsUrl);

  const pid = shard!.pid!;
  process.kill(pid, 'SIGSTOP');
  t.after(() => {
    if (shard!.running) process.kill(pid, 'SIGCONT');
  });
  const sentAt = Date.now();
  sendText(ws, 'while stopped');
  const error = await ws.next(errorEvent(), REQUEST_TIMEOUT_MS + 7_000);
  const waited = Date.now() - sentAt;
  assert.equal(error.payload.code, 'unavailable');
  assert.ok(
    waited >= REQUEST_TIMEOUT_MS - 500,
    `the error came when the request timed out (${waited} ms), not before`,
  );
  assert.equal(await timedOutSends(gateway!.metricsUrl), before + 1, 'the timed-out call is counted');

  process.kill(pid, 'SIGCONT');
  const ack = await sendAndAck(ws, 'after the stop');
  assert.ok(Number(ack.payload.id) >= 2);
});
