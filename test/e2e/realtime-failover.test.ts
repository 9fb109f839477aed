/**
 * Shard failover end to end (DESIGN.md invariants 3, 4 and 6). Several
 * senders keep sending dialog messages, each with a client_id, retrying every
 * unacknowledged one as a real client would, while
 *
 * 1. the shard that owns some of the chats is SIGKILLed: its chats must resume
 *    on the surviving shard within a few seconds (LEASE_TTL_MS is 2000 here);
 * 2. a third shard joins: the chats that now hash to it are handed over
 *    (leases released by the old owner and acquired by the new one).
 *
 * Either way no acknowledged message may be missing from history, no id may be
 * used twice, no client_id may be stored twice, and every receiver socket
 * (on the other gateway) gets each message once, in id order. The measured
 * unavailability is printed as test diagnostics.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { Redis } from 'ioredis';
import { dialogChatId } from '../../common/ids.js';
import { ownerOf, type ShardInfo } from '../../shards/index.js';
import { api, connectWs, uniqueLogin, type Cluster } from '../harness/index.js';
import {
  Flow,
  SETTLE_MS,
  leaseHolder,
  liveShards,
  longestGap,
  metric,
  resumedAfter,
  verify,
  withTraffic,
  type Pair,
} from './flows.js';
import { historyAfter, sharedCluster, sleep, waitFor } from './realtime.js';

const LEASE_TTL_MS = 2000;
/** "Within a few seconds": the bound on how long a chat may stop accepting messages. */
const MAX_UNAVAILABLE_MS = 10_000;

const cluster = sharedCluster(
  {
    gateways: 2,
    shards: 2,
    relay: false,
    env: { LEASE_TTL_MS: String(LEASE_TTL_MS) },
  },
  (c) => choosePairs(c),
);

const shardRef = (id: string): ShardInfo => ({ id, address: '' });
let pairs: Pair[] = [];
let redis: Redis;

after(() => redis?.disconnect());

async function choosePairs(c: Cluster): Promise<void> {
  redis = new Redis(c.redis.url, { maxRetriesPerRequest: null });
  const live = await liveShards(redis, c.prefix);
  assert.deepEqual(live.map((s) => s.id).sort(), ['shard-1', 'shard-2']);
  // Pick dialogs so that each phase has chats that move and chats that stay: by the chat id alone
  // (HRW hashes shard id and chat id), before the shards of the second phase exist.
  const want = (ownerNow: string, ownerAfterJoin: string) => (chatId: string) =>
    ownerOf(chatId, [shardRef('shard-1'), shardRef('shard-2')])?.id === ownerNow &&
    ownerOf(chatId, [shardRef('shard-2'), shardRef('shard-3')])?.id === ownerAfterJoin;
  const slots = [
    want('shard-1', 'shard-3'),
    want('shard-1', 'shard-3'),
    want('shard-1', 'shard-2'),
    want('shard-2', 'shard-3'),
    want('shard-2', 'shard-2'),
    want('shard-2', 'shard-2'),
  ];
  const chosen: [string, string][] = [];
  for (const fits of slots) {
    for (;;) {
      const [a, b] = [uniqueLogin('fo'), uniqueLogin('fo')];
      if (fits(dialogChatId(a, b))) {
        chosen.push([a, b]);
        break;
      }
    }
  }
  const client = api(c.gateways[0]!.url);
  pairs = await Promise.all(
    chosen.map(async ([a, b]) => ({
      sender: await client.register(a),
      receiver: await client.register(b),
      chatId: dialogChatId(a, b),
    })),
  );
}

/** Opens a sender socket on one gateway and its receiver on the other, per pair. */
async function openFlows(t: { after(fn: () => unknown): void }, phase: string): Promise<Flow[]> {
  const gws = cluster().gateways;
  return Promise.all(
    pairs.map(async (pair, i) => {
      const from = gws[i % 2]!;
      const to = gws[(i + 1) % 2]!;
      const senderWs = await connectWs(`${from.wsUrl}/dialog/${pair.receiver.login}/ws`, {
        token: pair.sender.token,
        timeoutMs: 15_000,
      });
      const receiverWs = await connectWs(`${to.wsUrl}/dialog/${pair.sender.login}/ws`, {
        token: pair.receiver.token,
        timeoutMs: 15_000,
      });
      t.after(async () => {
        await senderWs.close();
        await receiverWs.close();
      });
      return new Flow(`${phase}${i}`, pair, senderWs, receiverWs);
    }),
  );
}

async function storedTexts(pair: Pair): Promise<Set<string>> {
  const history = await historyAfter(
    api(cluster().gateways[0]!.url),
    pair.sender,
    `/dialog/${pair.receiver.login}`,
  );
  return new Set(history.map((m) => m.text));
}

test('SIGKILL of the owning shard: sends resume on the other shard, nothing acknowledged is lost or duplicated', async (t) => {
  const c = cluster();
  const victim = c.shards.find((s) => s.name === 'shard-1')!;
  const flows = await openFlows(t, 'k');
  const live = await liveShards(redis, c.prefix);
  const onVictim = flows.filter((f) => ownerOf(f.pair.chatId, live)?.id === 'shard-1');
  const onSurvivor = flows.filter((f) => ownerOf(f.pair.chatId, live)?.id === 'shard-2');
  assert.equal(onVictim.length, 3);
  assert.equal(onSurvivor.length, 3);

  let killedAt = 0;
  await withTraffic(flows, async () => {
    await sleep(2000);
    for (const f of onVictim) assert.ok(f.acks.size > 0, `${f.name} flowed before the kill`);
    for (const f of onVictim) assert.equal(await leaseHolder(redis, c.prefix, f.pair.chatId), 'shard-1');
    killedAt = Date.now();
    await c.kill(victim, 'SIGKILL');
    await sleep(8000);
  });
  // Acks the dead shard sent may be lost on the way: retrying them on the new owner creates nothing new.
  for (const f of onVictim) {
    f.replay(
      [...f.acks]
        .filter(([, a]) => a.at < killedAt)
        .slice(0, 5)
        .map(([clientId]) => clientId),
    );
  }
  await waitFor(
    () => onVictim.every((f) => [...f.replayed.values()].every(Boolean)),
    SETTLE_MS,
    () => 'the new owner to acknowledge the replayed sends',
  );

  for (const f of flows) await verify(f, c.gateways[1]!.url, new Set());
  for (const f of onVictim) {
    assert.equal(await leaseHolder(redis, c.prefix, f.pair.chatId), 'shard-2', `${f.name} moved to shard-2`);
  }
  const resumed = onVictim.map((f) => resumedAfter(f, killedAt));
  const gaps = onVictim.map((f) => longestGap(f, killedAt - 1000));
  const survivorGaps = onSurvivor.map((f) => longestGap(f, killedAt - 1000));
  const total = flows.reduce((n, f) => n + f.acks.size, 0);
  const errors = flows.flatMap((f) => [...f.errors].map(([code, n]) => `${code}×${n}`));
  t.diagnostic(
    `SIGKILL failover (LEASE_TTL_MS=${LEASE_TTL_MS}): ${total} messages acknowledged; killed chats resumed after ` +
      `${resumed.join(', ')} ms; longest ack gap ${gaps.join(', ')} ms (chats on the survivor: ` +
      `${survivorGaps.join(', ')} ms); error events: ${errors.join(', ') || 'none'}`,
  );
  for (const [i, ms] of resumed.entries()) {
    assert.ok(ms < MAX_UNAVAILABLE_MS, `${onVictim[i]!.name} resumed after ${ms} ms`);
  }
});

test('a third shard joins while messages flow: chats move with their leases, nothing lost or duplicated', async (t) => {
  const c = cluster();
  const shard2 = c.shards.find((s) => s.name === 'shard-2')!;
  assert.ok(shard2.running, 'shard-2 is up');
  const already = await Promise.all(pairs.map(storedTexts));
  const flows = await openFlows(t, 'j');
  const moving = flows.filter(
    (f) => ownerOf(f.pair.chatId, [shardRef('shard-2'), shardRef('shard-3')])?.id === 'shard-3',
  );
  const staying = flows.filter((f) => !moving.includes(f));
  assert.equal(moving.length, 3);
  const releasedBefore = await metric(shard2.metricsUrl, 'gm_lease_changes_total', 'event="released"');

  let joinedAt = 0;
  let readyAt = 0;
  await withTraffic(flows, async () => {
    await sleep(2000);
    for (const f of flows) assert.equal(await leaseHolder(redis, c.prefix, f.pair.chatId), 'shard-2');
    joinedAt = Date.now();
    const shard3 = await c.add('shard');
    readyAt = Date.now();
    assert.equal(shard3.name, 'shard-3');
    await sleep(6000);
  });

  for (const [i, f] of flows.entries()) await verify(f, c.gateways[0]!.url, already[i]!);
  for (const f of moving) {
    assert.equal(await leaseHolder(redis, c.prefix, f.pair.chatId), 'shard-3', `${f.name} moved to shard-3`);
  }
  for (const f of staying) assert.equal(await leaseHolder(redis, c.prefix, f.pair.chatId), 'shard-2');
  const released =
    (await metric(shard2.metricsUrl, 'gm_lease_changes_total', 'event="released"')) - releasedBefore;
  assert.ok(released >= moving.length, `shard-2 released the leases of the moving chats (${released})`);

  const gaps = moving.map((f) => longestGap(f, joinedAt));
  const stayingGaps = staying.map((f) => longestGap(f, joinedAt));
  const total = flows.reduce((n, f) => n + f.acks.size, 0);
  const errors = flows.flatMap((f) => [...f.errors].map(([code, n]) => `${code}×${n}`));
  t.diagnostic(
    `shard join: ${total} messages acknowledged; shard-3 ready ${readyAt - joinedAt} ms after start; ` +
      `longest ack gap of moved chats ${gaps.join(', ')} ms (staying chats ${stayingGaps.join(', ')} ms); ` +
      `error events: ${errors.join(', ') || 'none'}`,
  );
  for (const [i, ms] of gaps.entries())
    assert.ok(ms < MAX_UNAVAILABLE_MS, `${moving[i]!.name} stalled ${ms} ms`);
});
