/**
 * Rate limits kept in Redis, so they hold across every gateway: a fixed
 * window counter per (limit name, subject). Exceeding one throws a
 * `rate_limited` AppError carrying Retry-After.
 *
 * `hit` costs one Redis call per hit. `consume`, for limits checked on the hot
 * path (sends), reserves budget from the window's counter in Redis in chunks
 * (a tenth of the limit) and spends it locally: the counter never exceeds the
 * limit, so the limit holds across gateways exactly as with `hit` (a gateway
 * may leave part of its reservation unused, which only admits less), while
 * most hits cost no Redis call at all. Windows are aligned to the clock.
 */
import type { Redis } from 'ioredis';
import { AppError } from '../common/errors.js';
import type { Keys } from '../common/keys.js';
import { loadLua } from '../common/lua.js';

type LimitRedis = Redis & {
  gmRateLimit(key: string, windowMs: number, max: number): Promise<[number, number]>;
  gmRateReserve(key: string, windowMs: number, max: number, want: number): Promise<number>;
};

/** A gateway's reservation of one window's budget for one (limit, subject). */
interface Reservation {
  window: number;
  /** When the window ends (ms since epoch). */
  endsAt: number;
  /** Reserved and not yet spent. */
  tokens: number;
  /** The window's budget is spent cluster-wide. */
  exhausted: boolean;
  /** A reservation request in flight; hits arriving meanwhile wait for it. */
  pending: Promise<void> | null;
}

export interface Limit {
  name: string;
  max: number;
  windowMs: number;
}

export class RateLimiter {
  private readonly redis: LimitRedis;
  private readonly reservations = new Map<string, Reservation>();
  private sweptAt = 0;

  constructor(
    redis: Redis,
    private readonly keys: Keys,
  ) {
    this.redis = redis as LimitRedis;
    if (!('gmRateLimit' in redis)) {
      redis.defineCommand('gmRateLimit', { numberOfKeys: 1, lua: loadLua(import.meta.url, 'rate-limit-1') });
    }
    if (!('gmRateReserve' in redis)) {
      redis.defineCommand('gmRateReserve', {
        numberOfKeys: 1,
        lua: loadLua(import.meta.url, 'rate-limit-reserve-1'),
      });
    }
  }

  /** Counts one hit of `subject` against `limit`; throws rate_limited when over. */
  async hit(limit: Limit, subject: string): Promise<void> {
    const [allowed, resetMs] = await this.redis.gmRateLimit(
      this.keys.rateLimit(limit.name, subject),
      limit.windowMs,
      limit.max,
    );
    if (allowed !== 1) {
      throw new AppError(
        'rate_limited',
        'too many requests, slow down',
        undefined,
        Math.max(0, resetMs) / 1000,
      );
    }
  }

  /**
   * Counts one hit of `subject` against `limit` from this gateway's reservation of the current window.
   * Returns undefined when the hit is allowed at once; otherwise a promise that settles once budget was
   * reserved from Redis (rejecting with rate_limited when the window's budget is spent, or with the
   * Redis error).
   */
  consume(limit: Limit, subject: string, now = Date.now()): Promise<void> | undefined {
    const window = Math.floor(now / limit.windowMs);
    if (now - this.sweptAt >= 1000) this.sweep(now);
    const key = `${limit.name}\u0000${subject}`;
    let r = this.reservations.get(key);
    if (!r || r.window !== window) {
      r = { window, endsAt: (window + 1) * limit.windowMs, tokens: 0, exhausted: false, pending: null };
      this.reservations.set(key, r);
    }
    if (r.tokens > 0) {
      r.tokens--;
      return undefined;
    }
    if (r.exhausted) return Promise.reject(this.limited(limit, window));
    const res = r;
    if (!res.pending) {
      const want = Math.max(1, Math.floor(limit.max / 10));
      res.pending = this.redis
        .gmRateReserve(
          `${this.keys.rateLimit(limit.name, subject)}:${window}`,
          limit.windowMs,
          limit.max,
          want,
        )
        .then(
          (granted) => {
            res.pending = null;
            if (granted > 0) res.tokens += granted;
            else res.exhausted = true;
          },
          (err: unknown) => {
            res.pending = null;
            throw err;
          },
        );
    }
    return res.pending.then(() => {
      if (res.tokens > 0) {
        res.tokens--;
        return;
      }
      if (res.exhausted) throw this.limited(limit, window);
      // Others waiting on the same reservation took it all: reserve again.
      return this.consume(limit, subject);
    });
  }

  private limited(limit: Limit, window: number): AppError {
    // Exact to the millisecond (WebSocket errors carry it as retry_after_ms); Retry-After rounds it up.
    const resetMs = (window + 1) * limit.windowMs - Date.now();
    return new AppError(
      'rate_limited',
      'too many requests, slow down',
      undefined,
      Math.max(0, resetMs) / 1000,
    );
  }

  /** Forgets reservations of windows that ended. */
  private sweep(now: number): void {
    this.sweptAt = now;
    for (const [key, r] of this.reservations)
      if (r.endsAt <= now && !r.pending) this.reservations.delete(key);
  }
}
