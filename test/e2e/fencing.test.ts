/**
 * The zombie owner (DESIGN.md invariants 3 and 9): the shard that owns a set
 * of dialogs is paused with SIGSTOP while careful senders keep writing to it,
 * for longer than its leases, so the other shard takes the chats over and
 * writes them; then it is resumed with SIGCONT and wakes up in the middle of
 * whatever it was doing (a group commit waiting for the store, an append
 * between its message rows and its commit, a lease renewal), believing for a
 * moment that it still owns the chats. The pause starts at a random point of
 * the traffic each time, and the chats move back to it after it rejoins, so
 * the next round pauses an owner that has just claimed them again.
 *
 * After every round and the settled traffic: no acknowledged message is lost
 * or overwritten (history holds each acknowledged text under its acknowledged
 * id), no id is acknowledged for two different sends, no client_id is stored
 * twice, ids strictly increase, and each receiver got every message once, in
 * order. Runs on SQLite here and on Cassandra in
 * test/cassandra/fencing.cassandra.test.ts; FENCING_ROUNDS sets the count.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { Redis } from 'ioredis';
import { dialogChatId } from '../../common/ids.js';
import { ownerOf, type ShardInfo } from '../../shards/index.js';
import { api, connectWs, uniqueLogin, type Cluster } from '../harness/index.js';
import { Flow, leaseHolder, verify, withTraffic, type Pair } from './flows.js';
import { sharedCluster, sleep, waitFor } from './realtime.js';

const LEASE_TTL_MS = 2000;
const ROUNDS = Number(process.env.FENCING_ROUNDS ?? 8);
const STORE = process.env.TEST_STORE === 'cassandra' ? 'Cassandra' : 'SQLite';
const MOVE_TIMEOUT_MS = 20_000;

let pairs: Pair[] = [];
let redis: Redis;
after(() => redis?.disconnect());

const shardRef = (id: string): ShardInfo => ({ id, address: '' });

const cluster = sharedCluster(
  { gateways: 2, shards: 2, relay: false, env: { LEASE_TTL_MS: String(LEASE_TTL_MS) } },
  async (c: Cluster) => {
    redis = new Redis(c.redis.url, { maxRetriesPerRequest: null });
    // Dialogs owned by shard-1 while both shards live, so they move to shard-2 while it is paused.
    const chosen: [string, string][] = [];
    while (chosen.length < 4) {
      const [a, b] = [uniqueLogin('zo'), uniqueLogin('zo')];
      if (ownerOf(dialogChatId(a, b), [shardRef('shard-1'), shardRef('shard-2')])?.id === 'shard-1') {
        chosen.push([a, b]);
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
  },
);

async function allHeldBy(shard: string): Promise<boolean> {
  const holders = await Promise.all(pairs.map((p) => leaseHolder(redis, cluster().prefix, p.chatId)));
  return holders.every((h) => h === shard);
}

test(
  `SIGSTOP of the owning shard past its leases, then SIGCONT, ${ROUNDS} times on ${STORE}: nothing acknowledged is lost, overwritten or acknowledged twice`,
  {
    timeout: 60_000 + ROUNDS * 40_000,
  },
  async (t) => {
    const c = cluster();
    const victim = c.shards.find((s) => s.name === 'shard-1')!;
    const gws = c.gateways;
    const flows = await Promise.all(
      pairs.map(async (pair, i) => {
        const senderWs = await connectWs(`${gws[i % 2]!.wsUrl}/dialog/${pair.receiver.login}/ws`, {
          token: pair.sender.token,
          timeoutMs: 15_000,
        });
        const receiverWs = await connectWs(`${gws[(i + 1) % 2]!.wsUrl}/dialog/${pair.sender.login}/ws`, {
          token: pair.receiver.token,
          timeoutMs: 15_000,
        });
        t.after(async () => {
          await senderWs.close();
          await receiverWs.close();
        });
        return new Flow(`z${i}`, pair, senderWs, receiverWs);
      }),
    );

    const rounds: string[] = [];
    await withTraffic(flows, async () => {
      for (let round = 1; round <= ROUNDS; round++) {
        await waitFor(
          () => allHeldBy('shard-1'),
          MOVE_TIMEOUT_MS,
          () => `round ${round}: shard-1 to own the chats`,
        );
        const acksBefore = flows.reduce((n, f) => n + f.acks.size, 0);
        // A random point of the write path: the senders keep the shard's group commit busy.
        await sleep(300 + Math.floor(Math.random() * 700));
        const stoppedAt = Date.now();
        process.kill(victim.pid!, 'SIGSTOP');
        try {
          await waitFor(
            () => allHeldBy('shard-2'),
            MOVE_TIMEOUT_MS,
            () => `round ${round}: shard-2 to take the chats over from the paused shard-1`,
          );
          // Let the new owner write a little (0-1.5 s) before the old one wakes up.
          await sleep(Math.floor(Math.random() * 1500));
        } finally {
          process.kill(victim.pid!, 'SIGCONT');
        }
        const pausedMs = Date.now() - stoppedAt;
        const acks = flows.reduce((n, f) => n + f.acks.size, 0) - acksBefore;
        rounds.push(`${pausedMs} ms`);
        t.diagnostic(`round ${round}: shard-1 paused ${pausedMs} ms; ${acks} acknowledgements meanwhile`);
        for (const f of flows) assert.deepEqual(f.conflicts, [], `${f.name}: after round ${round}`);
      }
      await sleep(2000);
    });

    for (const f of flows) await verify(f, c.gateways[1]!.url, new Set());
    assert.ok(victim.running, 'the paused shard is still running');
    const total = flows.reduce((n, f) => n + f.acks.size, 0);
    const errors = flows.flatMap((f) => [...f.errors].map(([code, n]) => `${code}×${n}`));
    t.diagnostic(
      `fencing on ${STORE}: ${ROUNDS} rounds (pauses ${rounds.join(', ')}), ${total} messages acknowledged and ` +
        `all in history; error events: ${errors.join(', ') || 'none'}`,
    );
  },
);
