import type Database from 'better-sqlite3';
import { storeTimer } from './sqlite/timer.js';
import type { UserProfile, UserRecord } from './types.js';
import type { UserStore } from './user-store.js';

/**
 * The exclusive upper bound of the strings starting with `prefix` in code
 * point order (SQLite's BINARY collation compares UTF-8 bytes, which orders
 * the same way): the prefix with its last code point incremented. Null when
 * there is none (empty prefix, or only U+10FFFF).
 */
export function prefixEnd(prefix: string): string | null {
  const chars = Array.from(prefix);
  while (chars.length > 0) {
    const last = chars.pop()!.codePointAt(0)!;
    if (last < 0x10ffff) {
      const next = last + 1 === 0xd800 ? 0xe000 : last + 1;
      return chars.join('') + String.fromCodePoint(next);
    }
  }
  return null;
}

/**
 * Users in SQLite: `users` keyed by login, indexed by (username, login) and by
 * the lower-cased username. Text orders by code point (BINARY collation), as
 * Cassandra orders UTF-8 text.
 */
export class SqliteUserStore implements UserStore {
  private readonly insert;
  private readonly byLogin;
  private readonly profiles;
  private readonly firstByName;
  private readonly afterByName;
  private readonly searchRange;
  private readonly searchFrom;
  private readonly timeCreate = storeTimer('user_create');
  private readonly timeGet = storeTimer('user_get');
  private readonly timeProfiles = storeTimer('user_profiles');
  private readonly timeList = storeTimer('users_list');
  private readonly timeSearch = storeTimer('users_search');

  constructor(db: Database.Database) {
    this.insert = db.prepare<[string, string, string, string, number]>(
      `INSERT INTO users (login, username, username_lower, password_hash, created_at) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (login) DO NOTHING`,
    );
    this.byLogin = db.prepare<[string], UserRecord>(
      `SELECT login, username, password_hash AS passwordHash, created_at AS createdAt FROM users WHERE login = ?`,
    );
    this.profiles = db.prepare<[string], UserProfile>(
      `SELECT login, username FROM users WHERE login IN (SELECT value FROM json_each(?))`,
    );
    this.firstByName = db.prepare<[number], UserProfile>(
      `SELECT login, username FROM users ORDER BY username, login LIMIT ?`,
    );
    this.afterByName = db.prepare<[string, string, number], UserProfile>(
      `SELECT login, username FROM users WHERE (username, login) > (?, ?) ORDER BY username, login LIMIT ?`,
    );
    this.searchRange = db.prepare<{ from: string; to: string; limit: number }, UserProfile>(
      `SELECT login, username FROM users WHERE login >= :from AND login < :to
       UNION
       SELECT login, username FROM users WHERE username_lower >= :from AND username_lower < :to
       ORDER BY login LIMIT :limit`,
    );
    this.searchFrom = db.prepare<{ from: string; limit: number }, UserProfile>(
      `SELECT login, username FROM users WHERE login >= :from
       UNION
       SELECT login, username FROM users WHERE username_lower >= :from
       ORDER BY login LIMIT :limit`,
    );
  }

  async createUser(user: UserRecord): Promise<boolean> {
    return this.timeCreate(
      () =>
        this.insert.run(
          user.login,
          user.username,
          user.username.toLowerCase(),
          user.passwordHash,
          user.createdAt,
        ).changes === 1,
    );
  }

  async getUser(login: string): Promise<UserRecord | null> {
    return this.timeGet(() => this.byLogin.get(login) ?? null);
  }

  async getProfiles(logins: readonly string[]): Promise<Map<string, UserProfile>> {
    if (logins.length === 0) return new Map();
    const rows = this.timeProfiles(() => this.profiles.all(JSON.stringify(logins)));
    return new Map(rows.map((p) => [p.login, p]));
  }

  async listByName(after: { username: string; login: string } | null, limit: number): Promise<UserProfile[]> {
    limit = Math.floor(limit);
    if (!(limit > 0)) return [];
    return this.timeList(() =>
      after === null ? this.firstByName.all(limit) : this.afterByName.all(after.username, after.login, limit),
    );
  }

  async search(prefix: string, limit: number): Promise<UserProfile[]> {
    limit = Math.floor(limit);
    if (!(limit > 0)) return [];
    const from = prefix.toLowerCase();
    const to = prefixEnd(from);
    return this.timeSearch(() =>
      to === null ? this.searchFrom.all({ from, limit }) : this.searchRange.all({ from, to, limit }),
    );
  }
}
