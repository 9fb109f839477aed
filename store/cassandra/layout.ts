/**
 * How the Cassandra store lays rows out over partitions, and the paging
 * algorithms that read them back in the order the ports promise. Pure
 * functions only (no driver): the adapters pass small reader callbacks, so
 * the ordering arguments below are unit-tested without a cluster.
 *
 * - Messages: partition (chat_id, bucket), bucket = floor(id / 10 000), so a
 *   partition never holds more than 10 000 messages. History reads walk
 *   buckets newest→oldest (`before` / newest page) or oldest→newest (`after`).
 * - User listing by (username, login): partition = the first 2 bytes of the
 *   username's UTF-8. Truncating a byte string is monotone under byte order
 *   (which is how Cassandra orders `text` and `blob`, and how SQLite's BINARY
 *   collation compares), so reading buckets in order and each bucket in
 *   clustering order yields the global order. There are at most 65 536 + 256
 *   buckets; a directory partition lists the non-empty ones.
 * - User search: one row per (prefix, login) for every prefix of the lower-cased
 *   login and username up to 8 code points. Longer queries read the 8-char
 *   partition and filter.
 */
import type { HistoryQuery, Marks, StoredMessage, UserProfile } from '../types.js';

/** Messages per (chat_id, bucket) partition. */
export const MESSAGE_BUCKET_SIZE = 10_000;

/** The bucket of a message id: floor(id / 10 000). */
export function messageBucket(id: number): number {
  return Math.floor(id / MESSAGE_BUCKET_SIZE);
}

/** A history read: ids in (lo, hi], buckets visited from firstBucket to lastBucket (inclusive). */
export interface HistoryPlan {
  order: 'asc' | 'desc';
  /** Exclusive lower bound of ids. */
  lo: number;
  /** Inclusive upper bound of ids (never above the chat's last id). */
  hi: number;
  firstBucket: number;
  lastBucket: number;
  limit: number;
}

/**
 * Plans a history query against a chat whose newest id is `lastId`. `after`
 * reads the oldest `limit` above it (ascending); otherwise the newest `limit`
 * below `before` (or overall) are read descending. Returns null when nothing
 * can match. Ids above `lastId` are never returned: the chat state is written
 * after the messages, so it is the commit point of an append.
 */
export function planHistory(query: HistoryQuery, lastId: number): HistoryPlan | null {
  const limit = Math.floor(query.limit);
  if (!(limit > 0) || !(lastId > 0)) return null;
  let hi = lastId;
  if (query.before !== undefined) hi = Math.min(hi, Math.ceil(query.before) - 1);
  const lo = query.after !== undefined ? Math.max(0, Math.floor(query.after)) : 0;
  if (!(hi > lo)) return null;
  const low = messageBucket(lo + 1);
  const high = messageBucket(hi);
  return query.after !== undefined
    ? { order: 'asc', lo, hi, firstBucket: low, lastBucket: high, limit }
    : { order: 'desc', lo, hi, firstBucket: high, lastBucket: low, limit };
}

/** Reads one bucket's ids in (plan.lo, plan.hi], in plan order, at most `limit`. */
export type SliceReader = (bucket: number, plan: HistoryPlan, limit: number) => Promise<StoredMessage[]>;

/** Runs a plan bucket by bucket until `limit` messages are found; returns them ascending. */
export async function readHistory(plan: HistoryPlan, readSlice: SliceReader): Promise<StoredMessage[]> {
  const out: StoredMessage[] = [];
  const step = plan.order === 'asc' ? 1 : -1;
  for (let bucket = plan.firstBucket; ; bucket += step) {
    out.push(...(await readSlice(bucket, plan, plan.limit - out.length)));
    if (out.length >= plan.limit || bucket === plan.lastBucket) break;
  }
  if (out.length > plan.limit) out.length = plan.limit;
  return plan.order === 'asc' ? out : out.reverse();
}

/** Messages of one append call grouped by chat, in first-seen order. */
export function groupByChat(messages: readonly StoredMessage[]): Map<string, StoredMessage[]> {
  const chats = new Map<string, StoredMessage[]>();
  for (const m of messages) {
    const list = chats.get(m.chatId);
    if (list) list.push(m);
    else chats.set(m.chatId, [m]);
  }
  return chats;
}

/**
 * The fencing backstop of `append`: ids must be positive integers, strictly
 * increasing within the call and above the chat's stored last id.
 */
export function checkAppendIds(chatId: string, messages: readonly StoredMessage[], lastId: number): void {
  let previous = lastId;
  for (const m of messages) {
    if (!Number.isSafeInteger(m.id) || m.id < 1)
      throw new Error(`append: invalid message id ${m.id} in chat ${chatId}`);
    if (m.id <= previous) {
      throw new Error(
        m.id <= lastId
          ? `append: message id ${m.id} already exists in chat ${chatId} (last id ${lastId})`
          : `append: message ids of chat ${chatId} are not increasing (${m.id} after ${previous})`,
      );
    }
    previous = m.id;
  }
}

/** A chat's messages split by bucket, buckets ascending (ids inside keep their order). */
export function groupByBucket(messages: readonly StoredMessage[]): [number, StoredMessage[]][] {
  const buckets = new Map<number, StoredMessage[]>();
  for (const m of messages) {
    const b = messageBucket(m.id);
    const list = buckets.get(b);
    if (list) list.push(m);
    else buckets.set(b, [m]);
  }
  return [...buckets].sort((x, y) => x[0] - y[0]);
}

/** Bytes of a username's UTF-8 that name its listing partition. */
export const NAME_BUCKET_BYTES = 2;

/**
 * The listing partition of a username. The empty username gets [0x00]
 * instead of an empty key (Cassandra refuses empty partition keys); that is
 * still no greater than any other bucket, so the order argument holds.
 */
export function nameBucket(username: string): Buffer {
  if (username === '') return Buffer.from([0]);
  return Buffer.from(Buffer.from(username, 'utf8').subarray(0, NAME_BUCKET_BYTES));
}

/** The position after which a listing page starts. */
export interface NameCursor {
  username: string;
  login: string;
}

/** Non-empty name buckets in byte order, starting at `from` (inclusive) or at the first. */
export type BucketDirectory = (from: Buffer | null) => AsyncIterable<Buffer>;
/** One bucket's profiles in (username, login) byte order, strictly after `after` when given, at most `limit`. */
export type NameBucketReader = (
  bucket: Buffer,
  after: NameCursor | null,
  limit: number,
) => Promise<UserProfile[]>;

/** Most buckets read in parallel while paging sparse buckets. */
const MAX_BUCKET_WINDOW = 16;

/**
 * One page of the listing ordered by (username, login). Dense buckets fill a
 * page with one read; sparse ones are read in parallel windows that double
 * (1, 2, 4, ... 16) so a page of small buckets costs few round trips.
 */
export async function listByName(
  after: NameCursor | null,
  limit: number,
  directory: BucketDirectory,
  readBucket: NameBucketReader,
): Promise<UserProfile[]> {
  if (!(limit > 0)) return [];
  const start = after ? nameBucket(after.username) : null;
  const out: UserProfile[] = [];
  let window: Buffer[] = [];
  let windowSize = 1;
  const readWindow = async (): Promise<void> => {
    const remaining = limit - out.length;
    const pages = await Promise.all(
      window.map((bucket) => readBucket(bucket, start && bucket.equals(start) ? after : null, remaining)),
    );
    for (const page of pages) out.push(...page);
    window = [];
    windowSize = Math.min(windowSize * 2, MAX_BUCKET_WINDOW);
  };
  for await (const bucket of directory(start)) {
    window.push(bucket);
    if (window.length < windowSize) continue;
    await readWindow();
    if (out.length >= limit) break;
  }
  if (window.length > 0 && out.length < limit) await readWindow();
  return out.slice(0, limit);
}

/** Prefixes of the folded login and username up to this many code points get their own partition. */
export const SEARCH_PREFIX_MAX = 8;

/** Characters a canonical login may start with, in code point order. */
export const LOGIN_ALPHABET = '-.0123456789_abcdefghijklmnopqrstuvwxyz';

/** Case folding used by search, for stored prefixes and queries alike. */
export function foldCase(s: string): string {
  return s.toLowerCase();
}

function codePointPrefix(s: string, n: number): string {
  let out = '';
  let count = 0;
  for (const ch of s) {
    if (count++ >= n) break;
    out += ch;
  }
  return out;
}

/** The search partitions a user is indexed under: every prefix (1..8 code points) of their folded login and username. */
export function searchPrefixes(login: string, username: string): string[] {
  const prefixes = new Set<string>();
  for (const source of [foldCase(login), foldCase(username)]) {
    let prefix = '';
    let count = 0;
    for (const ch of source) {
      if (count++ >= SEARCH_PREFIX_MAX) break;
      prefix += ch;
      prefixes.add(prefix);
    }
  }
  return [...prefixes];
}

/** One partition to read for a search; `keep` filters rows when the partition is wider than the query. */
export interface SearchStep {
  partition: string;
  keep: ((profile: UserProfile) => boolean) | null;
  /** True once no later row (rows come in login order) can be kept: reading stops there. */
  done?: (profile: UserProfile) => boolean;
}

/**
 * Partitions that answer a prefix search, in login order. A query of up to 8
 * code points is exactly one partition; a longer one reads its 8-char
 * partition and filters; the empty query walks the login alphabet and keeps
 * each user only in the partition of its login's first character.
 */
export function planSearch(prefix: string): SearchStep[] {
  const query = foldCase(prefix);
  if (query === '') {
    return [...LOGIN_ALPHABET].map((c) => ({
      partition: c,
      keep: (p: UserProfile) => p.login.startsWith(c),
      // Logins are ASCII, so JS comparison is the byte order the partition is sorted in.
      done: (p: UserProfile) => p.login > c && !p.login.startsWith(c),
    }));
  }
  const partition = codePointPrefix(query, SEARCH_PREFIX_MAX);
  if (partition === query) return [{ partition, keep: null }];
  return [{ partition, keep: (p) => p.login.startsWith(query) || foldCase(p.username).startsWith(query) }];
}

/** Reads a search partition in login order; `limit` bounds the read when every row is kept. */
export type SearchPartitionReader = (partition: string, limit: number | null) => AsyncIterable<UserProfile>;

export async function runSearch(
  steps: SearchStep[],
  limit: number,
  read: SearchPartitionReader,
): Promise<UserProfile[]> {
  const out: UserProfile[] = [];
  if (!(limit > 0)) return out;
  for (const step of steps) {
    for await (const profile of read(step.partition, step.keep ? null : limit - out.length)) {
      if (step.done?.(profile)) break;
      if (step.keep && !step.keep(profile)) continue;
      out.push(profile);
      if (out.length >= limit) return out;
    }
  }
  return out;
}

/**
 * New marks of one user: each value becomes max(stored, given) and read never
 * exceeds delivered (delivered is raised instead). `changed` is false when the
 * stored row already holds exactly that.
 */
export function raiseMarks(
  stored: Marks | undefined,
  given: readonly Marks[],
): { marks: Marks; changed: boolean } | null {
  const first = given[0];
  if (!first) return null;
  let readId = stored?.readId ?? 0;
  let deliveredId = stored?.deliveredId ?? 0;
  for (const m of given) {
    readId = Math.max(readId, m.readId);
    deliveredId = Math.max(deliveredId, m.deliveredId);
  }
  deliveredId = Math.max(deliveredId, readId);
  const changed = !stored || stored.readId !== readId || stored.deliveredId !== deliveredId;
  return { marks: { login: first.login, deliveredId, readId }, changed };
}

/** Public groups are spread over this many partitions so no single one holds them all. */
export const PUBLIC_GROUP_SHARDS = 8;

/** Stable shard of a public group id (FNV-1a of its UTF-16 code units). */
export function publicGroupShard(groupId: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < groupId.length; i++) {
    hash ^= groupId.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash % PUBLIC_GROUP_SHARDS;
}
