/**
 * The partitioning math and paging algorithms of the Cassandra store, checked
 * against reference answers over in-memory partitions that behave like
 * Cassandra's (byte-ordered clustering, per-bucket slices, LIMIT). The
 * driver-facing code is covered by the contract suite on a real cluster.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { Marks, StoredMessage, UserProfile } from '../types.js';
import {
  LOGIN_ALPHABET,
  MESSAGE_BUCKET_SIZE,
  PUBLIC_GROUP_SHARDS,
  SEARCH_PREFIX_MAX,
  checkAppendIds,
  foldCase,
  groupByBucket,
  groupByChat,
  listByName,
  messageBucket,
  nameBucket,
  planHistory,
  planSearch,
  publicGroupShard,
  raiseMarks,
  readHistory,
  runSearch,
  searchPrefixes,
  type HistoryPlan,
} from './layout.js';

const compareText = (a: string, b: string): number => Buffer.compare(Buffer.from(a), Buffer.from(b));
const byNameThenLogin = (a: UserProfile, b: UserProfile): number =>
  compareText(a.username, b.username) || compareText(a.login, b.login);

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

/** Listing partitions as Cassandra would hold them: blob-ordered buckets, (username, login)-ordered rows. */
function nameIndex(users: readonly UserProfile[]) {
  const buckets = new Map<string, UserProfile[]>();
  for (const u of users) {
    const key = nameBucket(u.username).toString('hex');
    buckets.set(key, [...(buckets.get(key) ?? []), u]);
  }
  for (const rows of buckets.values()) rows.sort(byNameThenLogin);
  const directory = [...buckets.keys()].map((k) => Buffer.from(k, 'hex')).sort(Buffer.compare);
  let reads = 0;
  return {
    reads: () => reads,
    async *directory(from: Buffer | null): AsyncGenerator<Buffer> {
      for (const b of directory) if (!from || Buffer.compare(b, from) >= 0) yield b;
    },
    async readBucket(bucket: Buffer, after: UserProfile | null, limit: number): Promise<UserProfile[]> {
      reads++;
      const rows = buckets.get(bucket.toString('hex')) ?? [];
      return rows.filter((r) => !after || byNameThenLogin(r, after) > 0).slice(0, limit);
    },
  };
}

describe('listing by name', () => {
  it('buckets by the first two bytes of the UTF-8 username', () => {
    assert.deepEqual(nameBucket('Alice'), Buffer.from('Al'));
    assert.deepEqual(nameBucket('A'), Buffer.from('A'));
    assert.deepEqual(nameBucket(''), Buffer.from([0]));
    assert.deepEqual(nameBucket('\u0000x'), Buffer.from([0, 0x78]));
    assert.deepEqual(nameBucket('Ärger'), Buffer.from([0xc3, 0x84]));
    assert.deepEqual(nameBucket('🙂 smile'), Buffer.from([0xf0, 0x9f]));
  });

  it('bucket order never contradicts (username, login) byte order', () => {
    fc.assert(
      fc.property(
        fc.string({ unit: 'binary', maxLength: 6 }),
        fc.string({ unit: 'binary', maxLength: 6 }),
        (a, b) => {
          if (compareText(a, b) <= 0) assert.ok(Buffer.compare(nameBucket(a), nameBucket(b)) <= 0);
        },
      ),
      { numRuns: 2_000 },
    );
  });

  const profiles = fc.uniqueArray(
    fc.record({
      login: fc.stringMatching(/^[a-z0-9_.-]{3,8}$/),
      username: fc.oneof(
        fc.string({ unit: 'binary', maxLength: 5 }),
        fc.constantFrom('Bob', 'Bob', 'alice', 'Alice', 'Ärger', 'émile', '日本語', '🙂 smile', 'Z', 'Zed'),
      ),
    }),
    { selector: (p) => p.login, maxLength: 60 },
  );

  it('pages through everyone in (username, login) byte order for any page size', async () => {
    await fc.assert(
      fc.asyncProperty(profiles, fc.integer({ min: 1, max: 7 }), async (users, pageSize) => {
        const index = nameIndex(users);
        const seen: UserProfile[] = [];
        let cursor: UserProfile | null = null;
        for (;;) {
          const page: UserProfile[] = await listByName(cursor, pageSize, index.directory, index.readBucket);
          assert.ok(page.length <= pageSize);
          seen.push(...page);
          if (page.length < pageSize) break;
          cursor = page[page.length - 1]!;
        }
        assert.deepEqual(seen, [...users].sort(byNameThenLogin));
      }),
      { numRuns: 200 },
    );
  });

  it('starts strictly after any cursor, whether or not it names a user', async () => {
    await fc.assert(
      fc.asyncProperty(
        profiles,
        fc.record({
          username: fc.string({ unit: 'binary', maxLength: 4 }),
          login: fc.string({ maxLength: 4 }),
        }),
        fc.integer({ min: 1, max: 10 }),
        async (users, cursor, limit) => {
          const index = nameIndex(users);
          const sorted = [...users].sort(byNameThenLogin);
          for (const after of [cursor, ...sorted.slice(0, 3)]) {
            const expected = sorted.filter((u) => byNameThenLogin(u, after) > 0).slice(0, limit);
            assert.deepEqual(await listByName(after, limit, index.directory, index.readBucket), expected);
          }
        },
      ),
      { numRuns: 200 },
    );
  });

  it('fills a page from one dense bucket with one read', async () => {
    const users = Array.from({ length: 50 }, (_, i) => ({ login: `u${i}`, username: `Same ${i}` }));
    const index = nameIndex([...users, { login: 'zz', username: 'Zed' }]);
    const page = await listByName(null, 10, index.directory, index.readBucket);
    assert.equal(page.length, 10);
    assert.equal(index.reads(), 1);
  });

  it('returns nothing for a non-positive limit', async () => {
    const index = nameIndex([{ login: 'abc', username: 'Abc' }]);
    assert.deepEqual(await listByName(null, 0, index.directory, index.readBucket), []);
    assert.equal(index.reads(), 0);
  });
});

describe('search', () => {
  it('indexes every prefix of the folded login and username up to 8 code points', () => {
    assert.equal(SEARCH_PREFIX_MAX, 8);
    assert.deepEqual(searchPrefixes('bob', 'Bo'), ['b', 'bo', 'bob']);
    const long = searchPrefixes('alexander_the_great', '🙂Ünïcode Name');
    assert.ok(long.includes('alexande') && !long.includes('alexander'));
    assert.ok(long.includes('🙂') && long.includes('🙂ünïcode') && !long.includes('🙂ünïcode '));
  });

  it('plans one exact partition for short queries and a filtered one for long queries', () => {
    assert.deepEqual(
      planSearch('AbC').map((s) => [s.partition, s.keep === null]),
      [['abc', true]],
    );
    const [long] = planSearch('Alexander');
    assert.equal(long?.partition, 'alexande');
    assert.ok(long?.keep?.({ login: 'alexandera', username: 'x' }));
    assert.ok(long?.keep?.({ login: 'zz', username: 'ALEXANDER the' }));
    assert.ok(!long?.keep?.({ login: 'alexandre', username: 'x' }));
  });

  it('stops reading a partition of the empty query at the first login past its character', async () => {
    const users = [
      { login: '0bob', username: 'a zero' },
      { login: 'amy', username: 'Amy' },
      { login: 'bea', username: 'a bea' },
      { login: 'zed', username: 'a zed' },
    ];
    const read: string[] = [];
    const partition = async function* (p: string): AsyncGenerator<UserProfile> {
      for (const u of users) {
        if (!u.login.startsWith(p) && !foldCase(u.username).startsWith(p)) continue;
        read.push(`${p}:${u.login}`);
        yield u;
      }
    };
    const found = await runSearch(planSearch(''), 10, partition);
    assert.deepEqual(
      found.map((u) => u.login),
      ['0bob', 'amy', 'bea', 'zed'],
    );
    assert.deepEqual(
      read.filter((r) => r.startsWith('a:')),
      ['a:0bob', 'a:amy', 'a:bea'],
    );
  });

  it('walks the login alphabet in code point order for an empty query', () => {
    assert.deepEqual([...LOGIN_ALPHABET], [...LOGIN_ALPHABET].sort(compareText));
    assert.equal(LOGIN_ALPHABET.length, 26 + 10 + 3);
    assert.deepEqual(
      planSearch('').map((s) => s.partition),
      [...LOGIN_ALPHABET],
    );
  });

  /** Search partitions as Cassandra would hold them: one per prefix, rows by login. */
  function searchIndex(users: readonly UserProfile[]) {
    const partitions = new Map<string, Map<string, UserProfile>>();
    for (const u of users) {
      for (const p of searchPrefixes(u.login, u.username)) {
        const rows = partitions.get(p) ?? new Map<string, UserProfile>();
        rows.set(u.login, u);
        partitions.set(p, rows);
      }
    }
    return async function* read(partition: string, limit: number | null): AsyncGenerator<UserProfile> {
      const rows = [...(partitions.get(partition)?.values() ?? [])].sort((a, b) =>
        compareText(a.login, b.login),
      );
      yield* limit === null ? rows : rows.slice(0, limit);
    };
  }

  it('matches the reference answer: login or folded username prefix, by login, limited', async () => {
    const users = fc.uniqueArray(
      fc.record({
        login: fc.stringMatching(/^[a-z0-9_.-]{3,12}$/),
        username: fc.oneof(
          fc.string({ unit: 'grapheme', minLength: 1, maxLength: 12 }),
          fc.stringMatching(/^[A-Za-z ]{1,14}$/),
        ),
      }),
      { selector: (p) => p.login, maxLength: 40 },
    );
    await fc.assert(
      fc.asyncProperty(
        users,
        fc.nat(),
        fc.integer({ min: 0, max: 14 }),
        fc.boolean(),
        fc.integer({ min: 1, max: 8 }),
        async (list, pick, length, upper, limit) => {
          const source =
            list.length === 0
              ? ''
              : [list[pick % list.length]!.login, list[pick % list.length]!.username][pick % 2]!;
          const cut = [...source].slice(0, length).join('');
          const query = upper ? cut.toUpperCase() : cut;
          const q = foldCase(query);
          const expected = list
            .filter((u) => u.login.startsWith(q) || foldCase(u.username).startsWith(q))
            .sort((a, b) => compareText(a.login, b.login))
            .slice(0, limit);
          assert.deepEqual(await runSearch(planSearch(query), limit, searchIndex(list)), expected);
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
