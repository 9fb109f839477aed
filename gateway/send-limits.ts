/**
 * The send limits of WebSocket `send_message`: a per-user token bucket on this
 * gateway (absorbs floods locally, no Redis call), and the cluster-wide
 * limits in Redis per user and per client address.
 */
import type { Config } from '../common/config.js';
import { AppError } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import type { Conn } from './conn.js';
import type { RateLimiter } from './rate-limit.js';

/**
 * Per-user send budget on this gateway: a token bucket refilled at SEND_RATE_LIMIT per second. It absorbs
 * floods locally; the Redis limits in `allowed` hold the rate across every gateway.
 */
interface Bucket {
  tokens: number;
  at: number;
}

/** The cluster-wide send limits are counted in one-second windows. */
const SEND_WINDOW_MS = 1000;
/** Users behind one address (NAT, office) share this many times the per-user send rate. */
const SEND_IP_FACTOR = 10;

export class SendLimits {
  private readonly buckets = new Map<string, Bucket>();

  constructor(
    private readonly config: Config,
    private readonly limiter: RateLimiter,
    private readonly logger: Logger,
  ) {}

  /** Takes a send from the user's local bucket; throws rate_limited with the time until the next token. */
  takeToken(login: string): void {
    const rate = this.config.sendRateLimit;
    const now = Date.now();
    let b = this.buckets.get(login);
    if (!b) {
      if (this.buckets.size > 100_000) this.buckets.clear();
      b = { tokens: rate * 2, at: now };
      this.buckets.set(login, b);
    }
    b.tokens = Math.min(rate * 2, b.tokens + ((now - b.at) / 1000) * rate);
    b.at = now;
    if (b.tokens < 1) {
      throw new AppError('rate_limited', 'sending too fast, slow down', undefined, (1 - b.tokens) / rate);
    }
    b.tokens -= 1;
  }

  /**
   * Counts a send against the cluster-wide limits in Redis: SEND_RATE_LIMIT per user and ten times that
   * per client address, per second, whichever gateway the sockets are on (RateLimiter.consume: budget is
   * reserved from Redis in chunks, so most sends need no Redis call). Returns undefined when the send may
   * go ahead at once. When Redis cannot answer the send goes ahead (the local bucket still applies): a
   * limiter outage must not stop messaging.
   */
  allowed(conn: Conn, address: string | undefined): Promise<void> | undefined {
    const { config, limiter } = this;
    const waits: Promise<void>[] = [];
    try {
      const user = limiter.consume(
        { name: 'send', max: config.sendRateLimit, windowMs: SEND_WINDOW_MS },
        conn.login,
      );
      if (user) waits.push(user);
      const ip = address
        ? limiter.consume(
            { name: 'send-ip', max: config.sendRateLimit * SEND_IP_FACTOR, windowMs: SEND_WINDOW_MS },
            address,
          )
        : undefined;
      if (ip) waits.push(ip);
    } catch (err) {
      return Promise.reject(err);
    }
    if (waits.length === 0) return undefined;
    return Promise.all(waits).then(
      () => undefined,
      (err: unknown) => {
        if (err instanceof AppError) throw err;
        this.logger.warn({ err, conn: conn.id }, 'send rate limit unavailable; allowing the send');
      },
    );
  }
}
