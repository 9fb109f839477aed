/**
 * Batched lease acquisition (invariant 3) against a real redis-server: shards racing for overlapping chats
 * in one script call each never both hold a chat, single and batched acquisition agree, and a released
 * chat can be taken by the other shard.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Redis } from 'ioredis';
import { Keys } from '../common/keys.js';
import { startRedis } from '../test/harness/index.js';
import { LeaseManager, type LeaseHolder } from './leases.js';

function holder(chatId: string): LeaseHolder & { lost: number } {
  return {
    chatId,
    validUntil: 0,
    lost: 0,
    onLost() {
      this.lost++;
    },
  };
}

test('batched lease acquisition grants each chat to exactly one shard', async (t) => {
  const server = await startRedis({ appendonly: false, t });
  const clients = [new Redis(server.url), new Redis(server.url), new Redis(server.url)];
  t.after(() => clients.forEach((c) => c.disconnect()));
  const keys = new Keys('tlease:');
  const managers = clients.map((c, i) => new LeaseManager(c, keys, `shard-${i + 1}:test`, 5000));

  for (let round = 0; round < 20; round++) {
    // Overlapping batches in different orders, sent at the same time from separate connections.
    const chats = Array.from({ length: 200 }, (_, i) => `d:r${round}a${i}:r${round}b${i}`);
    const batches = managers.map((_, m) =>
      chats.filter((_, i) => (i + m) % 3 !== 0).map((chatId) => holder(chatId)),
    );
    batches[1]!.reverse();
    const results = await Promise.all(managers.map((lm, m) => lm.acquireMany(batches[m]!)));
    const winners = new Map<string, number[]>();
    results.forEach((granted, m) =>
      granted.forEach((until, i) => {
        const chatId = batches[m]![i]!.chatId;
        if (until !== null) {
          assert.ok(until > performance.now(), 'a granted lease is valid from now on');
          assert.equal(batches[m]![i]!.validUntil, until);
          winners.set(chatId, [...(winners.get(chatId) ?? []), m]);
        }
      }),
    );
    for (const chatId of chats) {
      const w = winners.get(chatId) ?? [];
      assert.equal(w.length, 1, `${chatId} granted to exactly one shard (got ${w.join(',')})`);
      assert.equal(await clients[0]!.get(keys.lease(chatId)), `shard-${w[0]! + 1}:test`);
    }
  }

  // A batch and a single acquisition of the same chat agree; re-acquiring one's own lease succeeds.
  const [a, b] = managers;
  const chat = 'd:solo1:solo2';
  assert.deepEqual(
    (await a!.acquireMany([holder(chat), holder('d:solo3:solo4')])).map((v) => v !== null),
    [true, true],
  );
  assert.equal(await b!.acquire(holder(chat)), null);
  assert.deepEqual(
    (await b!.acquireMany([holder(chat)])).map((v) => v !== null),
    [false],
  );
  assert.notEqual(await a!.acquireMany([holder(chat)]).then((r) => r[0]), null);

  // Once released, the other shard takes it in its next batch.
  const mine = holder('d:move1:move2');
  assert.notEqual((await a!.acquireMany([mine]))[0], null);
  await a!.release([mine.chatId]);
  assert.equal(mine.validUntil, 0, 'a released lease stops writes at once');
  assert.notEqual((await b!.acquireMany([holder(mine.chatId)]))[0], null);
  assert.equal(await clients[0]!.get(keys.lease(mine.chatId)), 'shard-2:test');
});
