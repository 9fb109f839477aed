/**
 * UserStore on Cassandra (tables: users, users_by_name, user_name_buckets,
 * user_prefixes; see cassandra/migrations.ts and cassandra/layout.ts).
 *
 * Registration is `INSERT ... IF NOT EXISTS` on `users` (Paxos); `[applied]`
 * says whether the login was free. Only then are the listing and search rows
 * written: plain upserts derived from (login, username) alone, so they are
 * safe to retry and to repeat. If a process dies between the two, the next
 * attempt to register that login loses the conditional insert, gets the stored
 * row back with the result, and rewrites those rows from it, so the indexes
 * converge without a repair job.
 */
import type { UserStore } from './user-store.js';
import type { UserProfile, UserRecord } from './types.js';
import {
  listByName,
  nameBucket,
  planSearch,
  runSearch,
  searchPrefixes,
  type NameCursor,
} from './cassandra/layout.js';
import { FANOUT, mapLimit } from './cassandra/parallel.js';
import { blob, millis, optText, text, type CqlSession, type Statement } from './cassandra/session.js';
import type { types } from 'cassandra-driver';

function profile(row: types.Row): UserProfile {
  return { login: text(row, 'login'), username: text(row, 'username') };
}

/** Every statement of the users adapter (exported for the schema cross-check in cassandra/schema.test.ts). */
export function userQueries(ks: string) {
  return {
    insertUser: `INSERT INTO ${ks}.users (login, username, password_hash, created_at) VALUES (?, ?, ?, ?) IF NOT EXISTS`,
    user: `SELECT login, username, password_hash, created_at FROM ${ks}.users WHERE login = ?`,
    profile: `SELECT login, username FROM ${ks}.users WHERE login = ?`,
    insertByName: `INSERT INTO ${ks}.users_by_name (bucket, username, login) VALUES (?, ?, ?)`,
    insertBucket: `INSERT INTO ${ks}.user_name_buckets (shard, bucket) VALUES (0, ?)`,
    insertPrefix: `INSERT INTO ${ks}.user_prefixes (prefix, login, username) VALUES (?, ?, ?)`,
    buckets: `SELECT bucket FROM ${ks}.user_name_buckets WHERE shard = 0`,
    bucketsFrom: `SELECT bucket FROM ${ks}.user_name_buckets WHERE shard = 0 AND bucket >= ?`,
    byName: `SELECT username, login FROM ${ks}.users_by_name WHERE bucket = ? LIMIT ?`,
    byNameAfter: `SELECT username, login FROM ${ks}.users_by_name WHERE bucket = ? AND (username, login) > (?, ?) LIMIT ?`,
    prefix: `SELECT login, username FROM ${ks}.user_prefixes WHERE prefix = ? LIMIT ?`,
    prefixAll: `SELECT login, username FROM ${ks}.user_prefixes WHERE prefix = ?`,
  };
}

export class CassandraUserStore implements UserStore {
  private readonly q: ReturnType<typeof userQueries>;

  constructor(
    private readonly db: CqlSession,
    ks: string,
  ) {
    this.q = userQueries(ks);
  }

  createUser(user: UserRecord): Promise<boolean> {
    return this.db.op('user_create', async () => {
      const result = await this.db.conditional(this.q.insertUser, [
        user.login,
        user.username,
        user.passwordHash,
        user.createdAt,
      ]);
      if (result.wasApplied()) {
        await this.index(user.login, user.username);
        return true;
      }
      const existing = result.first();
      const login = existing ? optText(existing, 'login') : null;
      const username = existing ? optText(existing, 'username') : null;
      if (login !== null && username !== null) await this.index(login, username);
      return false;
    });
  }

  /** Listing and search rows of one user; idempotent upserts. */
  private async index(login: string, username: string): Promise<void> {
    const bucket = nameBucket(username);
    const writes: Statement[] = [
      { query: this.q.insertByName, params: [bucket, username, login] },
      { query: this.q.insertBucket, params: [bucket] },
      ...searchPrefixes(login, username).map((prefix) => ({
        query: this.q.insertPrefix,
        params: [prefix, login, username],
      })),
    ];
    await mapLimit(writes, FANOUT, (s) => this.db.write(s.query, s.params));
  }

  getUser(login: string): Promise<UserRecord | null> {
    return this.db.op('user_get', async () => {
      const row = await this.db.first(this.q.user, [login]);
      if (!row) return null;
      return {
        login: text(row, 'login'),
        username: text(row, 'username'),
        passwordHash: text(row, 'password_hash'),
        createdAt: millis(row, 'created_at'),
      };
    });
  }

  getProfiles(logins: readonly string[]): Promise<Map<string, UserProfile>> {
    return this.db.op('user_profiles', async () => {
      const rows = await mapLimit([...new Set(logins)], FANOUT, (login) =>
        this.db.first(this.q.profile, [login]),
      );
      const out = new Map<string, UserProfile>();
      for (const row of rows) {
        if (!row) continue;
        const p = profile(row);
        out.set(p.login, p);
      }
      return out;
    });
  }

  listByName(after: NameCursor | null, limit: number): Promise<UserProfile[]> {
    return this.db.op('users_list', () =>
      listByName(
        after,
        Math.floor(limit),
        (from) => this.bucketDirectory(from),
        async (bucket, cursor, max) => {
          const rows = cursor
            ? await this.db.all(this.q.byNameAfter, [bucket, cursor.username, cursor.login, max])
            : await this.db.all(this.q.byName, [bucket, max]);
          return rows.map(profile);
        },
      ),
    );
  }

  private async *bucketDirectory(from: Buffer | null): AsyncGenerator<Buffer> {
    const rows = from ? this.db.rows(this.q.bucketsFrom, [from]) : this.db.rows(this.q.buckets, []);
    for await (const row of rows) yield blob(row, 'bucket');
  }

  search(prefix: string, limit: number): Promise<UserProfile[]> {
    return this.db.op('users_search', () =>
      runSearch(planSearch(prefix), Math.floor(limit), (partition, max) =>
        this.searchPartition(partition, max),
      ),
    );
  }

  private async *searchPartition(partition: string, limit: number | null): AsyncGenerator<UserProfile> {
    const rows =
      limit === null
        ? this.db.rows(this.q.prefixAll, [partition])
        : this.db.rows(this.q.prefix, [partition, limit]);
    for await (const row of rows) yield profile(row);
  }
}
