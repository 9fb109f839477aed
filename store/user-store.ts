import type { UserProfile, UserRecord } from './types.js';

/**
 * Registered users. Logins are unique case-insensitively; callers pass the
 * canonical lower-case form.
 */
export interface UserStore {
  /**
   * Registers a user unless the login exists (conditional insert: unique key
   * in SQLite, `IF NOT EXISTS` in Cassandra). Returns false when it was taken.
   */
  createUser(user: UserRecord): Promise<boolean>;
  /** The user with that login, or null. */
  getUser(login: string): Promise<UserRecord | null>;
  /** Profiles of the given logins that exist; unknown logins are absent from the map. */
  getProfiles(logins: readonly string[]): Promise<Map<string, UserProfile>>;
  /**
   * All users ordered by (username, login), starting strictly after `after`
   * (null: from the start), at most `limit`. The stable order /chats pages by.
   */
  listByName(after: { username: string; login: string } | null, limit: number): Promise<UserProfile[]>;
  /**
   * Users whose login or username starts with `prefix` (case-insensitive),
   * ordered by login, at most `limit`.
   */
  search(prefix: string, limit: number): Promise<UserProfile[]>;
}
