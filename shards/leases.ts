/**
 * Per-chat write leases (invariant 3: at most one actor writes a chat). An
 * actor writes only while `validUntil` (measured from *before* the Redis call
 * that granted or renewed the lease, minus a safety margin for clock drift and
 * pauses) is in the future, so it stops writing before the lease can expire
 * in Redis and be taken elsewhere. Deadlines are on this process's monotonic
 * clock (`performance.now()`), so a wall-clock jump neither extends nor cuts
 * them; a pause longer than the margin is what the store's fences are for
 * (store/fence.ts). All held leases are renewed together, one
 * script call per renewal tick; leases are released when a chat moves away.
 */
import type { Redis } from 'ioredis';
import { loadLua } from '../common/lua.js';
import type { Keys } from '../common/keys.js';
import { leaseChanges } from '../common/metrics.js';

const acquireLua = loadLua(import.meta.url, 'lease-acquire-1');
const acquireManyLua = loadLua(import.meta.url, 'lease-acquire-n');
const renewLua = loadLua(import.meta.url, 'lease-renew-n');
const releaseLua = loadLua(import.meta.url, 'lease-release-n');

type LeaseRedis = Redis & {
  gmLeaseAcquire(key: string, token: string, ttl: number): Promise<number>;
  gmLeaseAcquireMany(n: number, ...args: (string | number)[]): Promise<number[]>;
  gmLeaseRenew(n: number, ...args: (string | number)[]): Promise<number[]>;
  gmLeaseRelease(n: number, ...args: string[]): Promise<number>;
};

export interface LeaseHolder {
  chatId: string;
  /** Until when (`performance.now()` ms) this process may write the chat. */
  validUntil: number;
  /** Called when a renewal finds the lease gone (taken or expired). */
  onLost(): void;
}

export class LeaseManager {
  private readonly redis: LeaseRedis;
  private readonly held = new Map<string, LeaseHolder>();
  private timer: NodeJS.Timeout | null = null;
  /** Writes stop this long before the Redis lease could expire. */
  private readonly marginMs: number;

  constructor(
    redis: Redis,
    private readonly keys: Keys,
    /** "shardId:incarnation": unique per process start. */
    readonly token: string,
    private readonly ttlMs: number,
  ) {
    this.redis = redis as LeaseRedis;
    if (!('gmLeaseAcquire' in redis)) {
      redis.defineCommand('gmLeaseAcquire', { numberOfKeys: 1, lua: acquireLua });
      redis.defineCommand('gmLeaseAcquireMany', { lua: acquireManyLua });
      redis.defineCommand('gmLeaseRenew', { lua: renewLua });
      redis.defineCommand('gmLeaseRelease', { lua: releaseLua });
    }
    this.marginMs = Math.min(1000, Math.floor(ttlMs / 5));
  }

  start(): void {
    this.timer = setInterval(() => void this.renewAll(), Math.max(100, Math.floor(this.ttlMs / 4)));
    this.timer.unref();
  }

  /** Tries to take the chat's lease; resolves the validity deadline, or null when another owner holds it. */
  async acquire(holder: LeaseHolder): Promise<number | null> {
    const started = performance.now();
    const ok = await this.redis.gmLeaseAcquire(this.keys.lease(holder.chatId), this.token, this.ttlMs);
    if (ok !== 1) return null;
    holder.validUntil = started + this.ttlMs - this.marginMs;
    this.held.set(holder.chatId, holder);
    leaseChanges.inc({ event: 'acquired' });
    return holder.validUntil;
  }

  /**
   * Tries to take many chats' leases in one script call (activations of one tick); resolves, per holder
   * in order, its validity deadline or null when another owner holds that chat.
   */
  async acquireMany(holders: readonly LeaseHolder[]): Promise<(number | null)[]> {
    if (holders.length === 0) return [];
    const started = performance.now();
    const result = await this.redis.gmLeaseAcquireMany(
      holders.length,
      ...holders.map((h) => this.keys.lease(h.chatId)),
      this.token,
      this.ttlMs,
    );
    let acquired = 0;
    const out = holders.map((holder, i) => {
      if (result[i] !== 1) return null;
      holder.validUntil = started + this.ttlMs - this.marginMs;
      this.held.set(holder.chatId, holder);
      acquired++;
      return holder.validUntil;
    });
    if (acquired > 0) leaseChanges.inc({ event: 'acquired' }, acquired);
    return out;
  }

  /** Renews every held lease in one script call; holders whose lease is gone are told and dropped. */
  async renewAll(): Promise<void> {
    if (this.held.size === 0) return;
    const holders = [...this.held.values()];
    const started = performance.now();
    let result: number[];
    try {
      result = await this.redis.gmLeaseRenew(
        holders.length,
        ...holders.map((h) => this.keys.lease(h.chatId)),
        this.token,
        this.ttlMs,
      );
    } catch {
      // Redis unreachable: leases keep their old deadlines and writes stop when they pass.
      return;
    }
    holders.forEach((holder, i) => {
      if (this.held.get(holder.chatId) !== holder) return;
      if (result[i] === 1) {
        holder.validUntil = started + this.ttlMs - this.marginMs;
      } else {
        holder.validUntil = 0;
        this.held.delete(holder.chatId);
        leaseChanges.inc({ event: 'lost' });
        holder.onLost();
      }
    });
  }

  /** Releases leases (rebalancing or passivation) so a new owner need not wait for expiry. */
  async release(chatIds: readonly string[]): Promise<void> {
    const mine = chatIds.filter((id) => this.held.has(id));
    for (const id of mine) {
      this.held.get(id)!.validUntil = 0;
      this.held.delete(id);
    }
    if (mine.length === 0) return;
    leaseChanges.inc({ event: 'released' }, mine.length);
    await this.redis.gmLeaseRelease(mine.length, ...mine.map((id) => this.keys.lease(id)), this.token);
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.release([...this.held.keys()]).catch(() => undefined);
  }
}
