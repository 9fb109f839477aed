/**
 * The presence service's core: turns gateway edges into effective per-user
 * presence and announces changes.
 *
 * Input is state, not a log. presence:events only says "look at this user";
 * every decision is made by settle-4.lua from route:{login} and
 * presence:active and committed atomically to presence:state. So a missed,
 * replayed or reordered event never corrupts anything, a restarted process
 * rebuilds by settling every user that is (or is recorded as) online, and two
 * processes running at once commit each change once.
 *
 * Offline is debounced: a user whose last socket closed stays online for
 * PRESENCE_DEBOUNCE_MS, and is settled again then; a reload reconnects first
 * and nobody hears anything. Gateways whose lease expired are swept (their
 * users settle at once, the lease already was the grace period), and so are
 * ended active windows.
 *
 * Work is single-flight: one batch at a time, so announcements of one user
 * can never overtake each other.
 */
import type { Redis } from 'ioredis';
import type { Config } from '../common/config.js';
import type { Keys } from '../common/keys.js';
import type { Logger } from '../common/logger.js';
import { presenceChanges, presenceOnline } from '../common/metrics.js';
import { isoTime, sleep } from '../common/time.js';
import { RedisDelivery, type Delivery } from '../delivery/index.js';
import type { Store } from '../store/index.js';
import { PRESENCE_EVENTS_MAXLEN } from './client.js';
import { Interest } from './interest.js';
import { defineScripts, queueScript, runScript } from './scripts.js';
import { readPresence, type PresenceInfo } from './state.js';

export interface PresenceEngineOptions {
  /** Commands connection; the engine duplicates it for its blocking stream reads. */
  redis: Redis;
  keys: Keys;
  store: Store;
  config: Config;
  logger: Logger;
  /** Period of the debounce timers, sweeps and gauges. @default 100 */
  tickMs?: number;
  /** Where user_status changes go. @default Redis Streams delivery on `redis` */
  delivery?: Delivery;
}

/** One committed change of a user's presence. */
export interface PresenceChange {
  login: string;
  online: boolean;
  /** ms since the epoch: when the user came online, or the last moment online. */
  lastSeen: number;
}

const BATCH = 500;
const FANOUT_CONCURRENCY = 16;
/** How long `stop` waits for announcements still being written. */
const STOP_DRAIN_MS = 1000;
const SWEEP_NODES = 32;
const SWEEP_ACTIVE = 1000;

export class PresenceEngine {
  private readonly redis: Redis;
  private readonly keys: Keys;
  private readonly config: Config;
  private readonly logger: Logger;
  private readonly interest: Interest;
  private readonly delivery: Delivery;
  private readonly tickMs: number;
  private readonly sweepEveryMs: number;
  private reader: Redis | null = null;

  /** Users to settle, offline only after debounce; value = last-seen hint (0: unknown). */
  private dirty = new Map<string, number>();
  /** Users to settle, offline allowed now; value = last-seen hint. */
  private forced = new Map<string, number>();
  /** Debounced offline users: settled with offline allowed at `due`. */
  private readonly pending = new Map<string, { due: number; hint: number }>();
  private lastId = '0-0';
  private needReconcile = false;
  private sweepRequested = false;
  private lastSweep = 0;
  private lastGauge = 0;

  private running = false;
  private ready = false;
  private pumping: Promise<void> | null = null;
  private reading: Promise<void> | null = null;
  private timer: NodeJS.Timeout | null = null;
  private readonly onReconnect = (): void => {
    this.needReconcile = true;
    this.kick();
  };

  constructor(opts: PresenceEngineOptions) {
    this.redis = opts.redis;
    this.keys = opts.keys;
    this.config = opts.config;
    this.logger = opts.logger.child({ component: 'presence' });
    this.interest = new Interest(opts.store, opts.redis, opts.keys);
    this.delivery =
      opts.delivery ??
      new RedisDelivery({
        redis: opts.redis,
        keys: opts.keys,
        inboxMaxLen: opts.config.inboxMaxLen,
        logger: this.logger,
      });
    this.tickMs = opts.tickMs ?? 100;
    this.sweepEveryMs = Math.min(1000, Math.max(this.tickMs, Math.floor(this.config.gatewayLeaseMs / 5)));
  }

  /** True once the first reconcile finished and while the engine runs. */
  get isReady(): boolean {
    return this.ready && this.running;
  }

  /** Rebuilds from Redis, then follows presence:events and runs the sweeps. */
  async start(): Promise<void> {
    defineScripts(this.redis);
    this.running = true;
    await this.reconcile();
    await this.settleBatch();
    this.reader = this.redis.duplicate();
    this.reader.on('error', (err) => this.logger.debug({ err }, 'presence events connection error'));
    this.reading = this.readEvents(this.reader);
    this.redis.on('ready', this.onReconnect);
    this.timer = setInterval(() => this.tick(), this.tickMs);
    this.ready = true;
    this.logger.info('presence engine started');
  }

  /** Stops reading and ticking; pending debounced users are settled by the next start (state is in Redis). */
  async stop(): Promise<void> {
    this.running = false;
    this.ready = false;
    if (this.timer) clearInterval(this.timer);
    this.redis.off('ready', this.onReconnect);
    this.reader?.disconnect();
    await this.reading;
    await this.pumping;
    // Announcements still being written (bounded: a Redis that is down would hold the stop forever).
    await Promise.race([this.delivery.drain(), sleep(STOP_DRAIN_MS)]);
  }

  /** Presence for PresenceService.Get. */
  get(logins: readonly string[]): Promise<Map<string, PresenceInfo>> {
    return readPresence(this.redis, this.keys, logins);
  }

  private async readEvents(reader: Redis): Promise<void> {
    const key = this.keys.presenceEvents();
    while (this.running) {
      try {
        const reply = (await reader.xread('COUNT', 1000, 'BLOCK', 1000, 'STREAMS', key, this.lastId)) as
          [string, [string, string[]][]][] | null;
        for (const [, entries] of reply ?? []) {
          for (const [id, fields] of entries) {
            this.lastId = id;
            this.onEvent(fields);
          }
        }
        this.kick();
      } catch (err) {
        if (!this.running) break;
        this.logger.warn({ err }, 'presence events read failed');
        await sleep(500);
      }
    }
  }

  private onEvent(fields: string[]): void {
    let login = '';
    let kind = '';
    let at = 0;
    for (let i = 0; i + 1 < fields.length; i += 2) {
      if (fields[i] === 'l') login = fields[i + 1]!;
      else if (fields[i] === 'k') kind = fields[i + 1]!;
      else if (fields[i] === 't') at = Number(fields[i + 1]) || 0;
    }
    if (!login) return;
    const hint = kind === 'down' ? at : 0;
    this.dirty.set(login, Math.max(this.dirty.get(login) ?? 0, hint));
  }

  private tick(): void {
    if (!this.running) return;
    const now = Date.now();
    if (now - this.lastSweep >= this.sweepEveryMs) {
      this.lastSweep = now;
      this.kick(true);
    } else {
      for (const p of this.pending.values()) {
        if (p.due <= now) {
          this.kick();
          break;
        }
      }
    }
    if (now - this.lastGauge >= 1000) {
      this.lastGauge = now;
      this.interest.prune(now);
      this.redis.scard(this.keys.presenceOnline()).then(
        (n) => presenceOnline.set(n),
        () => undefined,
      );
    }
  }

  /** Starts a pump unless one is running (it loops until no work is left). */
  private kick(sweep = false): void {
    if (sweep) this.sweepRequested = true;
    if (this.pumping || !this.running) return;
    this.pumping = this.pump().finally(() => {
      this.pumping = null;
    });
  }

  private hasWork(now: number): boolean {
    if (this.needReconcile || this.sweepRequested || this.dirty.size > 0 || this.forced.size > 0) return true;
    for (const p of this.pending.values()) if (p.due <= now) return true;
    return false;
  }

  private async pump(): Promise<void> {
    while (this.running && this.hasWork(Date.now())) {
      try {
        if (this.needReconcile) {
          this.needReconcile = false;
          await this.reconcile();
        }
        if (this.sweepRequested) {
          this.sweepRequested = false;
          await this.sweep();
        }
        await this.settleBatch();
      } catch (err) {
        this.logger.error({ err }, 'presence batch failed; retrying');
        await sleep(500);
      }
    }
  }

  /**
   * Marks every user that may need a decision: recorded online, with a socket
   * on a registered gateway, or with an active window. Reading of events
   * resumes from the stream's end as seen before the snapshot, so nothing in
   * between is missed.
   */
  private async reconcile(): Promise<void> {
    const last = await this.redis.xrevrange(this.keys.presenceEvents(), '+', '-', 'COUNT', 1);
    this.lastId = last[0]?.[0] ?? '0-0';
    const [online, nodes, active] = await Promise.all([
      this.redis.smembers(this.keys.presenceOnline()),
      this.redis.zrange(this.keys.gateways(), '0', '-1'),
      this.redis.zrange(this.keys.presenceActive(), '0', '-1'),
    ]);
    const perNode = await Promise.all(nodes.map((node) => this.redis.smembers(this.keys.gatewayUsers(node))));
    for (const login of [...online, ...active, ...perNode.flat()]) {
      if (!this.dirty.has(login)) this.dirty.set(login, 0);
    }
    this.logger.info(
      { online: online.length, gateways: nodes.length, candidates: this.dirty.size },
      'presence reconciled',
    );
  }

  /** Drops gateways whose lease expired and ends active windows that are over. */
  private async sweep(): Promise<void> {
    const now = Date.now();
    const dead = await this.redis.zrangebyscore(
      this.keys.gateways(),
      '-inf',
      String(now),
      'LIMIT',
      0,
      SWEEP_NODES,
    );
    for (const node of dead) {
      const result = (await runScript(
        this.redis,
        'gmPresenceDropNode',
        [
          this.keys.gateways(),
          this.keys.gatewayUsers(node),
          this.keys.gatewayWatches(node),
          this.keys.presenceActive(),
          this.keys.presenceEvents(),
        ],
        [node, this.keys.route(''), this.keys.watchers(''), now, 'expired', '0', PRESENCE_EVENTS_MAXLEN],
      )) as [number, ...string[]] | null;
      if (!result) continue;
      const [expiry, ...logins] = result;
      // The last heartbeat is the last moment the gateway vouched for its users.
      const lastHeartbeat = Number(expiry) - this.config.gatewayLeaseMs;
      for (const login of logins)
        this.forced.set(login, Math.max(this.forced.get(login) ?? 0, lastHeartbeat));
      this.logger.warn(
        { gateway: node, users: logins.length },
        'gateway lease expired; dropped its connections',
      );
    }
    const ended = await this.redis.zrangebyscore(
      this.keys.presenceActive(),
      '-inf',
      String(now),
      'WITHSCORES',
      'LIMIT',
      0,
      SWEEP_ACTIVE,
    );
    for (let i = 0; i + 1 < ended.length; i += 2) {
      const login = ended[i]!;
      this.forced.set(login, Math.max(this.forced.get(login) ?? 0, Number(ended[i + 1])));
    }
  }

  /** Settles the queued users (and debounced ones that are due) and announces what changed. */
  private async settleBatch(): Promise<void> {
    const now = Date.now();
    for (const [login, p] of this.pending) {
      if (p.due <= now) {
        this.pending.delete(login);
        this.forced.set(login, Math.max(this.forced.get(login) ?? 0, p.hint));
      }
    }
    const forced = this.forced;
    const dirty = this.dirty;
    this.forced = new Map();
    this.dirty = new Map();
    const work: [string, number, boolean][] = [];
    for (const [login, hint] of forced) work.push([login, hint, true]);
    for (const [login, hint] of dirty) {
      if (!forced.has(login)) work.push([login, hint, this.config.presenceDebounceMs === 0]);
    }
    const changes: PresenceChange[] = [];
    try {
      for (let i = 0; i < work.length; i += BATCH) {
        const chunk = work.slice(i, i + BATCH);
        const pipeline = this.redis.pipeline();
        for (const [login, hint, allowOffline] of chunk) {
          queueScript(
            pipeline,
            'gmPresenceSettle',
            [
              this.keys.route(login),
              this.keys.presenceActive(),
              this.keys.presenceState(),
              this.keys.presenceOnline(),
            ],
            [login, now, allowOffline ? '1' : '0', hint],
          );
        }
        const replies = (await pipeline.exec()) ?? [];
        chunk.forEach(([login, hint], j) => {
          const [err, reply] = replies[j] ?? [new Error('no reply'), null];
          if (err) throw err;
          const [online, outcome, lastSeen] = reply as [number, number, number];
          if (outcome === 1) {
            this.pending.delete(login);
            changes.push({ login, online: online === 1, lastSeen });
          } else if (outcome === 2) {
            const base = hint > 0 ? hint : now;
            const due = base + this.config.presenceDebounceMs;
            const previous = this.pending.get(login);
            if (!previous || previous.due < due) this.pending.set(login, { due, hint: base });
          } else {
            this.pending.delete(login);
          }
        });
      }
    } catch (err) {
      // Settle is idempotent: requeue the whole batch.
      for (const [login, hint, allowOffline] of work) {
        const target = allowOffline ? this.forced : this.dirty;
        target.set(login, Math.max(target.get(login) ?? 0, hint));
      }
      throw err;
    }
    for (const change of changes) presenceChanges.inc({ status: change.online ? 'online' : 'offline' });
    if (changes.length > 0) await this.announce(changes);
  }

  /**
   * Pushes user_status to the interested users' gateways through delivery
   * (routed and written with the events of the same turn, retried in order):
   * one event per change, naming the interested users.
   */
  private async announce(changes: PresenceChange[]): Promise<void> {
    const audience = new Map<string, Set<string>>();
    for (let i = 0; i < changes.length; i += FANOUT_CONCURRENCY) {
      await Promise.all(
        changes.slice(i, i + FANOUT_CONCURRENCY).map(async ({ login }) => {
          try {
            audience.set(login, await this.interest.of(login));
          } catch (err) {
            this.logger.warn({ err, login }, 'presence audience lookup failed; change not announced');
          }
        }),
      );
    }
    const now = Date.now();
    for (const change of changes) {
      const users = audience.get(change.login);
      if (!users || users.size === 0) continue;
      this.delivery.publish({
        type: 'user_status',
        chatId: '',
        users: [...users],
        excludeConn: '',
        payload: JSON.stringify({
          user_login: change.login,
          is_online: change.online,
          last_seen: isoTime(change.online ? now : change.lastSeen),
        }),
        storedAtMs: 0,
      });
    }
  }
}
