/**
 * The partitioning math and paging algorithms of the Cassandra store, checked
 * against reference answers over in-memory partitions that behave like
 * Cassandra's (byte-ordered clustering, per-bucket slices, LIMIT). The
 * driver-facing code is covered by the contract suite on a real cluster;
 * the user listing and search are in layout-users.test.ts.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { Marks, StoredMessage } from '../types.js';
import {
  MESSAGE_BUCKET_SIZE,
  PUBLIC_GROUP_SHARDS,
  checkAppendIds,
  groupByBucket,
  groupByChat,
  messageBucket,
  planHistory,
  publicGroupShard,
  raiseMarks,
  readHistory,
  type HistoryPlan,
} from './layout.js';

const msg = (chatId: string, id: number): StoredMessage => ({
  chatId,
  id,
  sender: 's',
  text: `t${id}`,
  time: id,
  clientId: null,
});

describe('message buckets', () => {
  it('hold 10 000 consecutive ids each', () => {
    assert.equal(MESSAGE_BUCKET_SIZE, 10_000);
    assert.deepEqual(
      [0, 1, 9_999, 10_000, 19_999, 20_000, 123_456_789].map(messageBucket),
      [0, 0, 0, 1, 1, 2, 12_345],
    );
  });

  it('split an append by bucket, ascending, keeping id order inside each', () => {
    const ids = [9_998, 9_999, 10_000, 10_001, 19_999, 20_000];
    const groups = groupByBucket(ids.map((id) => msg('c', id)));
    assert.deepEqual(
      groups.map(([b, ms]) => [b, ms.map((m) => m.id)]),
      [
        [0, [9_998, 9_999]],
        [1, [10_000, 10_001, 19_999]],
        [2, [20_000]],
      ],
    );
  });

  it('group an append by chat in first-seen order', () => {
    const chats = groupByChat([msg('a', 1), msg('b', 1), msg('a', 2)]);
    assert.deepEqual(
      [...chats].map(([c, ms]) => [c, ms.map((m) => m.id)]),
      [
        ['a', [1, 2]],
        ['b', [1]],
      ],
    );
  });
});

describe('append id checks', () => {
  it('accept increasing ids above the last id', () => {
    checkAppendIds('c', [msg('c', 5), msg('c', 6), msg('c', 9)], 4);
    checkAppendIds('c', [msg('c', 1)], 0);
  });

  it('reject an id at or below the last id, naming it', () => {
    assert.throws(() => checkAppendIds('c', [msg('c', 4)], 4), /id 4 already exists in chat c/);
    assert.throws(() => checkAppendIds('c', [msg('c', 5), msg('c', 3)], 4), /id 3 already exists/);
  });

  it('reject repeated, decreasing or malformed ids', () => {
    assert.throws(() => checkAppendIds('c', [msg('c', 5), msg('c', 5)], 0), /not increasing/);
    assert.throws(() => checkAppendIds('c', [msg('c', 7), msg('c', 6)], 0), /not increasing/);
    assert.throws(() => checkAppendIds('c', [msg('c', 0)], 0), /invalid message id 0/);
    assert.throws(() => checkAppendIds('c', [msg('c', 1.5)], 0), /invalid message id/);
  });
});

describe('history plans', () => {
  it('return nothing when nothing can match', () => {
    assert.equal(planHistory({ limit: 10 }, 0), null);
    assert.equal(planHistory({ limit: 0 }, 50), null);
    assert.equal(planHistory({ before: 1, limit: 10 }, 50), null);
    assert.equal(planHistory({ after: 50, limit: 10 }, 50), null);
    assert.equal(planHistory({ after: 70, limit: 10 }, 50), null);
  });

  it('read newest-first from the last id bucket down to bucket 0', () => {
    assert.deepEqual(planHistory({ limit: 5 }, 25_000), {
      order: 'desc',
      lo: 0,
      hi: 25_000,
      firstBucket: 2,
      lastBucket: 0,
      limit: 5,
    });
    assert.deepEqual(planHistory({ before: 10_001, limit: 5 }, 25_000), {
      order: 'desc',
      lo: 0,
      hi: 10_000,
      firstBucket: 1,
      lastBucket: 0,
      limit: 5,
    });
    assert.equal(planHistory({ before: 1_000_000, limit: 5 }, 25_000)?.hi, 25_000);
  });

  it('read oldest-first from the bucket after `after` up to the last id bucket', () => {
    assert.deepEqual(planHistory({ after: 9_999, limit: 5 }, 25_000), {
      order: 'asc',
      lo: 9_999,
      hi: 25_000,
      firstBucket: 1,
      lastBucket: 2,
      limit: 5,
    });
    assert.deepEqual(planHistory({ after: -3, limit: 5 }, 7), {
      order: 'asc',
      lo: 0,
      hi: 7,
      firstBucket: 0,
      lastBucket: 0,
      limit: 5,
    });
  });

  /** Partitions as Cassandra serves them: stored ids are 1..stored (ids above lastId are an unfinished append). */
  function sliceReader(stored: number, reads: number[]) {
    return async (bucket: number, plan: HistoryPlan, limit: number): Promise<StoredMessage[]> => {
      reads.push(bucket);
      const from = Math.max(bucket * MESSAGE_BUCKET_SIZE, plan.lo + 1, 1);
      const to = Math.min(bucket * MESSAGE_BUCKET_SIZE + MESSAGE_BUCKET_SIZE - 1, plan.hi, stored);
      const ids: number[] = [];
      if (plan.order === 'asc') for (let id = from; id <= to && ids.length < limit; id++) ids.push(id);
      else for (let id = to; id >= from && ids.length < limit; id--) ids.push(id);
      return ids.map((id) => msg('c', id));
    };
  }

  it('page across bucket boundaries in both directions', async () => {
    const run = async (query: { before?: number; after?: number; limit: number }, lastId: number) => {
      const plan = planHistory(query, lastId);
      return plan ? (await readHistory(plan, sliceReader(lastId, []))).map((m) => m.id) : [];
    };
    assert.deepEqual(await run({ before: 10_003, limit: 5 }, 30_000), [9_998, 9_999, 10_000, 10_001, 10_002]);
    assert.deepEqual(await run({ after: 9_997, limit: 5 }, 30_000), [9_998, 9_999, 10_000, 10_001, 10_002]);
    assert.deepEqual(await run({ limit: 3 }, 20_001), [19_999, 20_000, 20_001]);
    assert.deepEqual(await run({ limit: 3 }, 10_000), [9_998, 9_999, 10_000]);
    assert.deepEqual(await run({ after: 19_998, limit: 5 }, 20_001), [19_999, 20_000, 20_001]);
    assert.deepEqual(await run({ before: 3, limit: 5 }, 20_001), [1, 2]);
  });

  it('match the reference answer for any query, never past the last id, visiting each bucket once', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 45_000 }),
        fc.integer({ min: 0, max: 3 }),
        fc.oneof(
          fc.record({ limit: fc.integer({ min: 1, max: 25_000 }) }),
          fc.record({
            before: fc.integer({ min: -5, max: 50_000 }),
            limit: fc.integer({ min: 1, max: 25_000 }),
          }),
          fc.record({
            after: fc.integer({ min: -5, max: 50_000 }),
            limit: fc.integer({ min: 1, max: 25_000 }),
          }),
        ),
        async (lastId, unfinished, query) => {
          const reads: number[] = [];
          const plan = planHistory(query, lastId);
          const got = plan
            ? (await readHistory(plan, sliceReader(lastId + unfinished, reads))).map((m) => m.id)
            : [];
          const visible = Array.from({ length: lastId }, (_, i) => i + 1);
          const expected =
            'after' in query
              ? visible.filter((id) => id > query.after).slice(0, query.limit)
              : visible.filter((id) => !('before' in query) || id < query.before).slice(-query.limit);
          assert.deepEqual(got, expected);
          assert.equal(new Set(reads).size, reads.length);
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('marks', () => {
  const m = (deliveredId: number, readId: number): Marks => ({ login: 'u', deliveredId, readId });

  it('raise each field to the max and keep read ≤ delivered', () => {
    assert.deepEqual(raiseMarks(undefined, [m(0, 4)]), { marks: m(4, 4), changed: true });
    assert.deepEqual(raiseMarks(m(5, 3), [m(4, 1)]), { marks: m(5, 3), changed: false });
    assert.deepEqual(raiseMarks(m(5, 3), [m(2, 4)]), { marks: m(5, 4), changed: true });
    assert.deepEqual(raiseMarks(m(5, 3), [m(6, 1), m(2, 7)]), { marks: m(7, 7), changed: true });
    assert.deepEqual(raiseMarks(undefined, [m(0, 0)]), { marks: m(0, 0), changed: true });
    assert.equal(raiseMarks(m(1, 1), []), null);
  });

  it('equal the running maximum over any sequence of saves', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(50), fc.nat(50)), { maxLength: 30 }), (saves) => {
        let stored: Marks | undefined;
        let delivered = 0;
        let read = 0;
        for (const [d, r] of saves) {
          stored = raiseMarks(stored, [m(d, r)])!.marks;
          read = Math.max(read, r);
          delivered = Math.max(delivered, d, read);
          assert.deepEqual(stored, m(delivered, read));
        }
      }),
    );
  });
});

describe('public group shards', () => {
  it('are stable and within range', () => {
    fc.assert(
      fc.property(fc.string(), (id) => {
        const shard = publicGroupShard(id);
        assert.ok(Number.isInteger(shard) && shard >= 0 && shard < PUBLIC_GROUP_SHARDS);
        assert.equal(publicGroupShard(id), shard);
      }),
    );
    const spread = new Set(Array.from({ length: 200 }, (_, i) => publicGroupShard(`grp${i}`)));
    assert.equal(spread.size, PUBLIC_GROUP_SHARDS);
  });
});
