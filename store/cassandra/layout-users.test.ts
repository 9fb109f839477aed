/**
 * The user listing and search layout of the Cassandra store (name buckets,
 * search prefixes), checked against reference answers over in-memory
 * partitions that behave like Cassandra's, as in layout.test.ts.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { UserProfile } from '../types.js';
import {
  LOGIN_ALPHABET,
  SEARCH_PREFIX_MAX,
  foldCase,
  listByName,
  nameBucket,
  planSearch,
  runSearch,
  searchPrefixes,
} from './layout.js';

const compareText = (a: string, b: string): number => Buffer.compare(Buffer.from(a), Buffer.from(b));
const byNameThenLogin = (a: UserProfile, b: UserProfile): number =>
  compareText(a.username, b.username) || compareText(a.login, b.login);

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
