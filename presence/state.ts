/**
 * presence:state, the presence service's decision per user, and how readers
 * (gateways for REST, the relay, PresenceService.Get) read it. One source for
 * every reader keeps /chats, /users, member lists and GET /user/active agreeing
 * with the user_status events that announced each change.
 */
import type { Redis } from 'ioredis';
import type { Keys } from '../common/keys.js';

/** What a reader needs to know about a user. */
export interface PresenceInfo {
  online: boolean;
  /**
   * The last moment the user was online, ms since the epoch: `now` while online,
   * the end of the last session when offline, null when never seen.
   */
  lastSeen: number | null;
}

/** Parses a presence:state value ("1:<sinceMs>" / "0:<lastSeenMs>"; missing: never seen). */
export function parseState(value: string | null | undefined, now: number): PresenceInfo {
  if (!value) return { online: false, lastSeen: null };
  const online = value.charCodeAt(0) === 49; /* '1' */
  if (online) return { online: true, lastSeen: now };
  const ms = Number(value.slice(2));
  return { online: false, lastSeen: Number.isFinite(ms) && ms > 0 ? ms : null };
}

/** Reads the presence of many users with one HMGET (unknown logins read as never seen). */
export async function readPresence(
  redis: Redis,
  keys: Keys,
  logins: readonly string[],
  now = Date.now(),
): Promise<Map<string, PresenceInfo>> {
  const out = new Map<string, PresenceInfo>();
  if (logins.length === 0) return out;
  const values = await redis.hmget(keys.presenceState(), ...logins);
  logins.forEach((login, i) => out.set(login, parseState(values[i], now)));
  return out;
}
