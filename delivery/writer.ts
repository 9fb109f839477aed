/**
 * The writing side of Redis Streams delivery: events queued during one
 * event-loop turn are routed together — one pipelined route lookup for all
 * their users (routes.ts), then one XADD per gateway holding all of the
 * flush's events for that gateway (a batch entry, see format.ts) — so a group
 * message costs one event per gateway, not one per member. Events keep their
 * queue order per gateway stream, which preserves per-chat id order. Writes
 * that fail (Redis down) are retried in order with backoff; recipients
 * reconnecting meanwhile catch up from history, so nothing acknowledged is
 * lost. An XADD that fails on its own is handed to redelivery (the relay).
 *
 * Flushes are pipelined: the next flush looks up its routes while the previous
 * one's XADDs are still awaiting their replies (up to MAX_WRITES_IN_FLIGHT).
 * Order still holds: route lookups run one flush at a time on the same
 * connection as the XADDs, so a flush's XADDs are sent after every earlier
 * flush's, and Redis answers in order: by the time a flush has its routes, the
 * outcome of every earlier write is known, and a flush whose predecessor
 * failed does not write but queues behind it for the retry.
 */
import type { Redis } from 'ioredis';
import type { Keys } from '../common/keys.js';
import type { Logger } from '../common/logger.js';
import { fanoutEntries } from '../common/metrics.js';
import { SerialTurn } from '../common/turn.js';
import type { DeliveryEvent } from './delivery.js';
import { encodeInboxBatch, type InboxEntry } from './format.js';
import { routesOf } from './routes.js';
import { audienceOf, splitByGateway } from './split.js';

/** Hands one inbox entry whose XADD failed to the relay for retries. */
export type Redeliver = (node: string, entry: InboxEntry) => Promise<void>;

/** Resolves where users are connected: gateway node → the given users connected there. */
export type RouteResolver = (logins: readonly string[]) => Promise<Map<string, string[]>>;

export interface DeliveryWriterOptions {
  /** The connection the route lookups and XADDs share (their order on it is what keeps inboxes in order). */
  redis: Redis;
  keys: Keys;
  /** Approximate cap of each inbox stream (XADD MAXLEN ~). */
  inboxMaxLen: number;
  logger: Logger;
  /** Where users are connected. @default routesOf on `redis` */
  routes?: RouteResolver;
  /** Takes the entries of an XADD that failed on its own; without it they are logged and dropped. */
  redeliver?: Redeliver;
}

/** Flushes whose XADDs may await their replies at once. */
const MAX_WRITES_IN_FLIGHT = 8;

export class DeliveryWriter {
  private queue: DeliveryEvent[] = [];
  /** Events of failed flushes, by flush number: retried before the queue, oldest first. */
  private failed: { flush: number; events: DeliveryEvent[] }[] = [];
  private flushes = 0;
  private readonly writing = new Set<Promise<void>>();
  private readonly turn = new SerialTurn(() => this.flush());
  private liveGateways: string[] = [];
  private liveReadAt = 0;
  private retryDelayMs = 0;
  private readonly redis: Redis;
  private readonly keys: Keys;
  private readonly resolveRoutes: RouteResolver;
  private readonly redeliver: Redeliver | undefined;
  private readonly inboxMaxLen: number;
  private readonly logger: Logger;

  constructor(options: DeliveryWriterOptions) {
    const { redis, keys } = options;
    this.redis = redis;
    this.keys = keys;
    this.resolveRoutes = options.routes ?? ((logins) => routesOf(redis, keys, logins));
    this.redeliver = options.redeliver;
    this.inboxMaxLen = options.inboxMaxLen;
    this.logger = options.logger;
  }

  publish(event: DeliveryEvent): void {
    this.queue.push(event);
    this.turn.schedule();
  }

  drain(): Promise<void> {
    return this.turn.drain(
      () => this.queue.length > 0 || this.failed.length > 0 || this.writing.size > 0,
      () => Promise.all(this.writing),
    );
  }

  private async gateways(): Promise<string[]> {
    const now = Date.now();
    if (now - this.liveReadAt > 500) {
      this.liveGateways = await this.redis.zrangebyscore(this.keys.gateways(), now, '+inf');
      this.liveReadAt = now;
    }
    return this.liveGateways;
  }

  private async flush(): Promise<void> {
    const flush = ++this.flushes;
    let events = this.queue;
    this.queue = [];
    if (this.failed.length > 0) {
      // Keep order: events of failed flushes go first, oldest flush first.
      const retry = this.failed.sort((a, b) => a.flush - b.flush).flatMap((f) => f.events);
      this.failed = [];
      events = retry.concat(events);
    }
    if (events.length === 0) return;
    let write: { replies: Promise<void> };
    try {
      write = await this.route(events, () => {
        // Every earlier write has been answered by now (see the class comment).
        if (this.failed.length > 0) throw new Error('an earlier fan-out write failed; retrying in order');
      });
    } catch (err) {
      await this.failedFlush(flush, events, err);
      return;
    }
    const tracked: Promise<void> = write.replies.then(
      () => {
        this.retryDelayMs = 0;
      },
      (err: unknown) => {
        this.failed.push({ flush, events });
        this.logFailure(events.length, err);
        this.turn.scheduleNext();
      },
    );
    this.writing.add(tracked);
    void tracked.finally(() => this.writing.delete(tracked));
    if (this.writing.size >= MAX_WRITES_IN_FLIGHT) await Promise.race(this.writing);
  }

  private logFailure(events: number, err: unknown): void {
    this.retryDelayMs = Math.min(2000, Math.max(50, this.retryDelayMs * 2));
    this.logger.warn({ err, events, retryInMs: this.retryDelayMs }, 'fanout failed, retrying');
  }

  /** A flush that could not write: its events wait for the retry, after a backoff that holds later flushes. */
  private async failedFlush(flush: number, events: DeliveryEvent[], err: unknown): Promise<void> {
    this.failed.push({ flush, events });
    this.logFailure(events.length, err);
    await new Promise((r) => setTimeout(r, this.retryDelayMs));
    this.turn.scheduleNext();
  }

  /**
   * Looks up the routes of `events`, runs `beforeWrite` (which may refuse by throwing), and sends one XADD
   * per gateway. Resolves, once they are sent, with the promise of their replies (wrapped: an async function
   * would wait for it); that promise rejects when the writes failed as a whole (connection down) and the
   * events must be retried.
   */
  private async route(events: DeliveryEvent[], beforeWrite: () => void): Promise<{ replies: Promise<void> }> {
    const { logins, anyBroadcast } = audienceOf(events);
    const [routes, gateways] = await Promise.all([
      logins.size > 0 ? this.resolveRoutes([...logins]) : Promise.resolve(new Map<string, string[]>()),
      anyBroadcast ? this.gateways() : Promise.resolve([] as string[]),
    ]);
    // Without a route lookup nothing here waited for Redis's answers to the earlier writes: wait for them.
    if (logins.size === 0) await Promise.all(this.writing);
    // One batch entry per gateway per flush, events in queue order.
    const perGateway = splitByGateway(events, routes, gateways);
    beforeWrite();
    if (perGateway.size === 0) return { replies: Promise.resolve() };
    const pipeline = this.redis.pipeline();
    const written = [...perGateway];
    for (const [node, entries] of written) {
      pipeline.xadd(
        this.keys.inbox(node),
        'MAXLEN',
        '~',
        this.inboxMaxLen,
        '*',
        ...encodeInboxBatch(entries),
      );
    }
    // exec() rejects when the connection is down (the caller retries the batch); per-command errors come back here.
    return { replies: pipeline.exec().then((replies) => this.written(written, replies ?? [])) };
  }

  /** Counts the entries written; hands the events of each XADD that failed to redelivery. */
  private written(written: [string, InboxEntry[]][], results: [Error | null, unknown][]): void {
    let failed = 0;
    let count = 0;
    results.forEach(([err], i) => {
      const [node, entries] = written[i]!;
      if (!err) {
        count += entries.length;
        return;
      }
      failed += entries.length;
      const redeliver = this.redeliver;
      if (!redeliver) return;
      for (const entry of entries) {
        redeliver(node, entry).catch((e: unknown) =>
          this.logger.error({ err: e, node, chat: entry.chatId }, 'inbox write and redelivery both failed'),
        );
      }
    });
    if (failed > 0 && this.redeliver)
      this.logger.warn({ failed }, 'inbox writes failed; handed to the relay for redelivery');
    else if (failed > 0) this.logger.warn({ failed, entries: count + failed }, 'inbox writes failed');
    fanoutEntries.inc(count);
  }
}
