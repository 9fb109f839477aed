/**
 * Rate limits kept in Redis, so they hold across every gateway: a fixed
 * window counter per (limit name, subject). Exceeding one throws a
 * `rate_limited` AppError carrying Retry-After.
 */
import type { Redis } from 'ioredis';
import { AppError } from '../common/errors.js';
import type { Keys } from '../common/keys.js';
import { loadLua } from '../common/lua.js';

type LimitRedis = Redis & {
  gmRateLimit(key: string, windowMs: number, max: number): Promise<[number, number]>;
};

export interface Limit {
  name: string;
  max: number;
  windowMs: number;
}

export class RateLimiter {
  private readonly redis: LimitRedis;

  constructor(
    redis: Redis,
    private readonly keys: Keys,
  ) {
    this.redis = redis as LimitRedis;
    if (!('gmRateLimit' in redis)) {
      redis.defineCommand('gmRateLimit', { numberOfKeys: 1, lua: loadLua(import.meta.url, 'rate-limit-1') });
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
        Math.max(1, resetMs / 1000),
      );
    }
  }
}
