/**
 * The load generator against a real gmessenger cluster (two gateways, a
 * shard, relay, presence, redis-server; needs `npm run build`): each
 * scenario runs briefly at a small size and its bookkeeping must add up —
 * every acknowledged message delivered once, every group member served,
 * every storm client caught up, every idle socket opened and counted by the
 * gateway. No timing is asserted.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GmTransport } from '../lib/gm-transport.js';
import { Histogram } from '../lib/histogram.js';
import { startTarget } from '../lib/target.js';
import { UserPool } from '../lib/users.js';
import { restScenarios, runRest, writeHistory } from '../rest.js';
import { memoryModel, runConnections } from './connections.js';
import { runDialog } from './dialog.js';
import { runFanout } from './fanout.js';
import { runReconnect } from './reconnect.js';

test('connection memory: marginal cost from the two halves, projected linearly', () => {
  // 10 MB baseline; +30 MB at 10,000 sockets (fixed costs included), +20 MB more for the next 10,000.
  const mb = 1_000_000;
  const m = memoryModel(10 * mb, 40 * mb, 60 * mb, 10_000, 20_000, 100_000);
  assert.equal(m.marginalBytesPerConnection, 2000);
  // (60 − 10) MB over 20,000 sockets, plus 80,000 more at 2,000 B, over 100,000.
  assert.equal(m.projectedBytesPerConnection, (50 * mb + 80_000 * 2000) / 100_000);
  // Nothing to project once the count was reached; nothing to compute without a reading.
  assert.equal(
    memoryModel(10 * mb, 40 * mb, 60 * mb, 50_000, 100_000, 100_000).projectedBytesPerConnection,
    null,
  );
  assert.equal(memoryModel(10 * mb, null, 60 * mb, 10_000, 20_000, 100_000).marginalBytesPerConnection, null);
});

test('scenarios against a local cluster', { timeout: 300_000 }, async (t) => {
  const target = await startTarget({ gateways: 2, shards: 1 });
  t.after(() => target.stop());
  const transport = new GmTransport(target.httpUrls, target.wsUrls);
  const pool = new UserPool(target.httpUrls[0]!, { concurrency: 4 });
  const users = await pool.ensure(14);
  assert.equal(pool.registered, 14);

  await t.test('dialog, saturate and fixed rate: delivered once, nothing lost', async () => {
    for (const mode of ['saturate', 'rate'] as const) {
      const r = await runDialog(transport, users.slice(0, 3), users.slice(3, 6), {
        mode,
        window: 2,
        rate: 60,
        durationMs: 1000,
        graceMs: 10_000,
      });
      assert.ok(r.sent > 0, mode);
      assert.deepEqual(r.errors, {}, mode);
      assert.equal(r.acked, r.sent, mode);
      assert.equal(r.delivered, r.sent, mode);
      assert.deepEqual(
        [r.lost, r.unacked, r.duplicates, r.duplicateAcks, r.outOfOrder],
        [0, 0, 0, 0, 0],
        mode,
      );
      assert.equal(Histogram.fromJSON(r.e2e).count, r.delivered, mode);
      if (mode === 'rate') assert.equal(r.sent, 60);
    }
  });

  await t.test('fan-out: every member has every message', async () => {
    const r = await runFanout(transport, users.slice(0, 6), {
      mode: 'rate',
      rate: 10,
      durationMs: 1000,
      graceMs: 10_000,
    });
    assert.equal(r.sent, 10);
    assert.deepEqual(r.errors, {});
    assert.equal(r.complete, 10);
    assert.equal(r.deliveries, 50);
    assert.deepEqual([r.incomplete, r.duplicates, r.outOfOrder], [0, 0, 0]);
  });

  await t.test('reconnect storm: every client catches up', async () => {
    const r = await runReconnect(users.slice(0, 10), users.slice(10, 12), {
      clients: 20,
      httpUrls: target.httpUrls,
      wsUrls: target.wsUrls,
    });
    assert.equal(r.caughtUp, 20);
    assert.equal(r.failed, 0);
    assert.equal(Histogram.fromJSON(r.catchUp).count, 20);
  });

  await t.test(
    'connections: idle sockets from several agents and addresses, counted by the gateway',
    async () => {
      const r = await runConnections({
        count: 300,
        wsUrl: target.wsUrls[1]!,
        metricsUrl: target.metricsUrls[1],
        pid: target.gatewayPids()[1],
        tokens: users.map((u) => u.token),
        holdMs: 1500,
        heartbeatS: 1,
        perAgent: 150,
        perAddress: 100,
      });
      assert.equal(r.agents, 2);
      assert.equal(r.sourceAddresses, 4);
      assert.equal(r.opened, 300, JSON.stringify(r.errors));
      assert.equal(r.gatewayConnections, 300);
      assert.equal(r.serverClosed, 0);
      assert.ok(r.heartbeats >= 300, `${r.heartbeats} heartbeats`);
      assert.ok(r.rssBaseline !== null && r.rssHeld !== null);
      // Opened in two halves, memory read after each.
      assert.equal(r.openedFirst, 150);
      assert.ok(r.rssHalf !== null && r.marginalBytesPerConnection !== null);
      assert.ok(r.rssHeldPeak !== null && r.rssHeldPeak >= r.rssHeld);
      assert.equal(r.marginalBytesPerConnection, (r.rssHeld - r.rssHalf) / 150);
      assert.equal(r.projectionCount, 100_000);
      assert.ok(r.projectedBytesPerConnection !== null);
    },
  );

  await t.test('REST: autocannon against login, chats and history', async () => {
    const [a, b] = [users[12]!, users[13]!];
    await writeHistory(target.wsUrls[0]!, a, b, 120);
    for (const s of restScenarios(users, { a, b }, { durationS: 1, connections: 2, loginConnections: 1 })) {
      const r = await runRest(target.httpUrls[0]!, s);
      assert.ok(r.requests > 0, s.name);
      assert.equal(r.non2xx, 0, `${s.name}: ${JSON.stringify(r.statuses)}`);
      assert.equal(r.errors, 0, s.name);
      if (s.name.startsWith('GET /dialog'))
        assert.ok(r.bytesPerResponse > 100 * 60, `${r.bytesPerResponse} bytes`);
    }
  });
});
