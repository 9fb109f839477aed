/**
 * The live shard set and chat placement. Shards announce themselves in the
 * `shards` sorted set (member "id|host:port", score = lease expiry in ms) and
 * renew it every third of LEASE_TTL_MS; everyone else reads it. A chat is
 * owned by the live shard with the highest rendezvous (HRW) score for the chat
 * id, so a membership change moves only the chats of the shard that came or went.
 */
import type { Redis } from 'ioredis';
import type { Keys } from '../common/keys.js';
import { shardMembers } from '../common/metrics.js';

export interface ShardInfo {
  id: string;
  address: string;
}

/** 32-bit FNV-1a over a string (fast and well spread for short ids). */
function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  // final avalanche (murmur3 fmix32) so similar ids spread well
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** The rendezvous winner for `chatId` among `shards` (null when there are none). */
export function ownerOf(chatId: string, shards: readonly ShardInfo[]): ShardInfo | null {
  let best: ShardInfo | null = null;
  let bestScore = -1;
  for (const shard of shards) {
    const score = fnv1a(`${shard.id}/${chatId}`);
    if (score > bestScore || (score === bestScore && best !== null && shard.id < best.id)) {
      best = shard;
      bestScore = score;
    }
  }
  return best;
}

/**
 * A periodically refreshed view of the live shards. `refresh()` may be called
 * on demand (e.g. after a wrong_shard answer); concurrent calls share one read.
 */
export class ShardDirectory {
  private shards: ShardInfo[] = [];
  private timer: NodeJS.Timeout | null = null;
  private inflight: Promise<void> | null = null;
  private readonly listeners = new Set<(shards: readonly ShardInfo[]) => void>();

  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
    private readonly intervalMs = 500,
  ) {}

  async start(): Promise<void> {
    await this.refresh();
    this.timer = setInterval(() => void this.refresh().catch(() => undefined), this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  live(): readonly ShardInfo[] {
    return this.shards;
  }

  owner(chatId: string): ShardInfo | null {
    return ownerOf(chatId, this.shards);
  }

  /** Called with the new set whenever membership changes. */
  onChange(listener: (shards: readonly ShardInfo[]) => void): void {
    this.listeners.add(listener);
  }

  refresh(): Promise<void> {
    if (!this.inflight) {
      this.inflight = this.read().finally(() => {
        this.inflight = null;
      });
    }
    return this.inflight;
  }

  private async read(): Promise<void> {
    const members = await this.redis.zrangebyscore(this.keys.shards(), Date.now(), '+inf');
    const next = members
      .map((m) => {
        const bar = m.indexOf('|');
        return { id: m.slice(0, bar), address: m.slice(bar + 1) };
      })
      .filter((s) => s.id && s.address)
      .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    const changed =
      next.length !== this.shards.length ||
      next.some((s, i) => s.id !== this.shards[i]!.id || s.address !== this.shards[i]!.address);
    this.shards = next;
    shardMembers.set(next.length);
    if (changed) for (const listener of this.listeners) listener(next);
  }
}

/** A shard's own registration in the membership set, renewed until stopped. */
export class ShardRegistration {
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
    private readonly self: ShardInfo,
    private readonly leaseMs: number,
  ) {}

  private get member(): string {
    return `${this.self.id}|${this.self.address}`;
  }

  async start(): Promise<void> {
    await this.renew();
    this.timer = setInterval(() => void this.renew().catch(() => undefined), Math.max(200, this.leaseMs / 3));
    this.timer.unref();
  }

  private async renew(): Promise<void> {
    const now = Date.now();
    await this.redis
      .multi()
      .zadd(this.keys.shards(), now + this.leaseMs, this.member)
      .zremrangebyscore(this.keys.shards(), '-inf', now - this.leaseMs)
      .exec();
  }

  /** Leaves the set at once so gateways route elsewhere without waiting for the lease. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.redis.zrem(this.keys.shards(), this.member);
  }
}
