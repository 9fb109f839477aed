import type { Redis } from 'ioredis';
import type { Config } from '../common/config.js';
import type { Keys } from '../common/keys.js';
import type { Logger } from '../common/logger.js';
import { defineScripts, queueScript, runScript } from './scripts.js';
import { parseState, type PresenceInfo } from './state.js';

/** Approximate length cap of the presence:events stream (it only wakes the presence service). */
export const PRESENCE_EVENTS_MAXLEN = 100_000;

/** How long `get` may answer from its in-process cache. */
const GET_CACHE_MS = 1000;
const RESYNC_CHUNK = 1000;

export interface PresenceClientOptions {
  /** The gateway's shared connection (commands only, never blocking). */
  redis: Redis;
  keys: Keys;
  /** This gateway's node id, as in its inbox stream gw:{node}. */
  node: string;
  config: Config;
  logger: Logger;
}

/**
 * A gateway's side of presence. The gateway reports socket opens/closes, open
 * dialogs and activity; this class keeps the gateway's own counts in memory
 * (the authority for its sockets) and mirrors them to Redis as absolute
 * values, so a write can be replayed and the whole state re-pushed
 * ("resync") whenever Redis lost it: after the presence sweep dropped this
 * gateway during a stall, or after Redis restarted without the data.
 *
 * The write methods never reject: a failed write is logged and the next
 * heartbeat resyncs everything. `get` rejects when Redis cannot be read.
 */
export class PresenceClient {
  private readonly redis: Redis;
  private readonly keys: Keys;
  private readonly node: string;
  private readonly config: Config;
  private readonly logger: Logger;

  /** Bumped when a user comes online or goes offline through this gateway (see PresenceView). */
  localVersion = 0;
  /** login → sockets open on this gateway. */
  private readonly sockets = new Map<string, number>();
  /** "watcher peer" → sockets of watcher on this gateway with the dialog with peer open. */
  private readonly watching = new Map<string, number>();
  /** login → active-until ms, for answering `get` before the presence service catches up. */
  private readonly activeUntil = new Map<string, number>();
  private readonly cache = new Map<string, { value: string | null; at: number }>();

  private running = false;
  private heartbeat: NodeJS.Timeout | null = null;
  private beating = false;
  private needsResync = false;
  private resyncing: Promise<void> | null = null;

  constructor(opts: PresenceClientOptions) {
    this.redis = opts.redis;
    this.keys = opts.keys;
    this.node = opts.node;
    this.config = opts.config;
    this.logger = opts.logger.child({ component: 'presence-client' });
  }

  /**
   * Registers this gateway in `gateways` and heartbeats it every third of
   * GATEWAY_LEASE_MS. Leftovers of an earlier process with the same node id
   * (killed without a graceful stop) are dropped first; their users are
   * reported down (debounced, so users who already reconnected never flap).
   */
  async start(): Promise<void> {
    defineScripts(this.redis);
    await this.dropNode(true);
    await this.redis.zadd(this.keys.gateways(), Date.now() + this.config.gatewayLeaseMs, this.node);
    this.running = true;
    if (this.sockets.size > 0 || this.watching.size > 0) this.requestResync('start');
    const every = Math.max(100, Math.floor(this.config.gatewayLeaseMs / 3));
    this.heartbeat = setInterval(() => void this.beat(), every);
  }

  /** Graceful stop: unregisters the gateway, drops its routes and watchers, and reports its users down. */
  async stop(): Promise<void> {
    this.running = false;
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.heartbeat = null;
    await this.resyncing;
    this.sockets.clear();
    this.watching.clear();
    this.activeUntil.clear();
    this.cache.clear();
    await this.dropNode(true);
  }

  /** A socket of `login` opened on this gateway. The first one announces the user on this node. */
  async connected(login: string): Promise<void> {
    const n = (this.sockets.get(login) ?? 0) + 1;
    this.sockets.set(login, n);
    this.cache.delete(login);
    if (n === 1) this.localVersion++;
    await this.writeRoute(login, n);
  }

  /** A socket of `login` on this gateway closed. The last one withdraws the user from this node. */
  async disconnected(login: string): Promise<void> {
    const n = (this.sockets.get(login) ?? 0) - 1;
    if (n < 0) return;
    if (n === 0) {
      this.sockets.delete(login);
      this.localVersion++;
    } else this.sockets.set(login, n);
    this.cache.delete(login);
    await this.writeRoute(login, n);
  }

  /** A socket of `login` has the dialog with `peer` open: `login` gets `peer`'s user_status. */
  async watch(login: string, peer: string): Promise<void> {
    const field = `${login} ${peer}`;
    const n = (this.watching.get(field) ?? 0) + 1;
    this.watching.set(field, n);
    await this.writeWatch(login, peer, n);
  }

  /** The socket closed that dialog (or closed). */
  async unwatch(login: string, peer: string): Promise<void> {
    const field = `${login} ${peer}`;
    const n = (this.watching.get(field) ?? 0) - 1;
    if (n < 0) return;
    if (n === 0) this.watching.delete(field);
    else this.watching.set(field, n);
    await this.writeWatch(login, peer, n);
  }

  /**
   * The user is active now (POST /user/active/update, WebSocket user_activity):
   * online for PRESENCE_ACTIVE_WINDOW_MS even without a socket. Closing the
   * user's last socket ends the window (API.md: offline at once).
   */
  async markActive(login: string): Promise<void> {
    const now = Date.now();
    const until = now + this.config.presenceActiveWindowMs;
    if ((this.activeUntil.get(login) ?? 0) <= now) this.localVersion++;
    this.activeUntil.set(login, until);
    this.cache.delete(login);
    if (!this.running) return;
    try {
      await runScript(
        this.redis,
        'gmPresenceMarkActive',
        [this.keys.presenceActive(), this.keys.presenceEvents(), this.keys.presenceState()],
        [login, now, until, PRESENCE_EVENTS_MAXLEN],
      );
    } catch (err) {
      this.logger.warn({ err, login }, 'presence mark active failed');
    }
  }

  /**
   * Presence of many users for REST responses: one HMGET of presence:state for
   * the logins not answered in the last second. Users with a socket on this
   * gateway, or marked active here, read as online at once.
   */
  async get(logins: readonly string[]): Promise<Map<string, PresenceInfo>> {
    const now = Date.now();
    const out = new Map<string, PresenceInfo>();
    const missing: string[] = [];
    for (const login of new Set(logins)) {
      if (this.sockets.has(login) || (this.activeUntil.get(login) ?? 0) > now) {
        out.set(login, { online: true, lastSeen: now });
        continue;
      }
      const cached = this.cache.get(login);
      if (cached && now - cached.at < GET_CACHE_MS) out.set(login, parseState(cached.value, now));
      else missing.push(login);
    }
    if (missing.length > 0) {
      const values = await this.redis.hmget(this.keys.presenceState(), ...missing);
      missing.forEach((login, i) => {
        const value = values[i] ?? null;
        this.cache.set(login, { value, at: now });
        out.set(login, parseState(value, now));
      });
    }
    return out;
  }

  private async writeRoute(login: string, sockets: number): Promise<void> {
    if (!this.running) return;
    const now = Date.now();
    try {
      const [, registered] = (await runScript(this.redis, 'gmPresenceSetRoute', this.routeKeys(login), [
        this.node,
        login,
        sockets,
        now,
        this.config.gatewayLeaseMs,
        PRESENCE_EVENTS_MAXLEN,
      ])) as [number, number];
      if (registered === 1) this.requestResync('gateway was not registered');
    } catch (err) {
      this.logger.warn({ err, login }, 'presence route write failed; resyncing on next heartbeat');
      this.needsResync = true;
    }
  }

  private async writeWatch(login: string, peer: string, sockets: number): Promise<void> {
    if (!this.running) return;
    try {
      await runScript(
        this.redis,
        'gmPresenceSetWatch',
        [this.keys.gatewayWatches(this.node), this.keys.watchers(peer)],
        [login, peer, sockets],
      );
    } catch (err) {
      this.logger.warn({ err, login, peer }, 'presence watch write failed; resyncing on next heartbeat');
      this.needsResync = true;
    }
  }

  private routeKeys(login: string): string[] {
    return [
      this.keys.route(login),
      this.keys.gatewayUsers(this.node),
      this.keys.gateways(),
      this.keys.presenceEvents(),
      this.keys.presenceActive(),
    ];
  }

  private async beat(): Promise<void> {
    if (this.beating || !this.running) return;
    this.beating = true;
    try {
      const added = await this.redis.zadd(
        this.keys.gateways(),
        Date.now() + this.config.gatewayLeaseMs,
        this.node,
      );
      if (added === 1) this.requestResync('lease had expired');
      else if (this.needsResync) this.requestResync('earlier write failed');
      this.prune();
    } catch (err) {
      this.logger.warn({ err }, 'presence heartbeat failed');
    } finally {
      this.beating = false;
    }
  }

  private prune(): void {
    const now = Date.now();
    for (const [login, until] of this.activeUntil) if (until <= now) this.activeUntil.delete(login);
    for (const [login, entry] of this.cache) if (now - entry.at >= GET_CACHE_MS) this.cache.delete(login);
  }

  private requestResync(reason: string): void {
    this.needsResync = true;
    if (this.resyncing || !this.running) return;
    this.logger.info({ reason, users: this.sockets.size }, 'presence resync');
    this.resyncing = this.resync()
      .catch((err: unknown) => {
        this.needsResync = true;
        this.logger.warn({ err }, 'presence resync failed; retrying on next heartbeat');
      })
      .finally(() => {
        this.resyncing = null;
      });
  }

  /**
   * Re-pushes this gateway's whole state. The snapshot is taken synchronously
   * and written on the same connection as later writes, so a socket that opens
   * or closes meanwhile is ordered after it and wins.
   */
  private async resync(): Promise<void> {
    this.needsResync = false;
    const now = Date.now();
    await this.redis.zadd(this.keys.gateways(), now + this.config.gatewayLeaseMs, this.node);
    const routes = [...this.sockets];
    const watches = [...this.watching];
    const pending: Promise<unknown>[] = [];
    for (let i = 0; i < routes.length; i += RESYNC_CHUNK) {
      const pipeline = this.redis.pipeline();
      for (const [login, n] of routes.slice(i, i + RESYNC_CHUNK)) {
        queueScript(pipeline, 'gmPresenceSetRoute', this.routeKeys(login), [
          this.node,
          login,
          n,
          now,
          this.config.gatewayLeaseMs,
          PRESENCE_EVENTS_MAXLEN,
        ]);
      }
      pending.push(pipeline.exec());
    }
    for (let i = 0; i < watches.length; i += RESYNC_CHUNK) {
      const pipeline = this.redis.pipeline();
      for (const [field, n] of watches.slice(i, i + RESYNC_CHUNK)) {
        const [login, peer] = field.split(' ') as [string, string];
        queueScript(
          pipeline,
          'gmPresenceSetWatch',
          [this.keys.gatewayWatches(this.node), this.keys.watchers(peer)],
          [login, peer, n],
        );
      }
      pending.push(pipeline.exec());
    }
    for (const replies of (await Promise.all(pending)) as ([Error | null, unknown][] | null)[]) {
      const failed = replies?.find(([err]) => err);
      if (failed) throw failed[0];
    }
  }

  private async dropNode(emitDown: boolean): Promise<void> {
    await runScript(
      this.redis,
      'gmPresenceDropNode',
      [
        this.keys.gateways(),
        this.keys.gatewayUsers(this.node),
        this.keys.gatewayWatches(this.node),
        this.keys.presenceActive(),
        this.keys.presenceEvents(),
      ],
      [
        this.node,
        this.keys.route(''),
        this.keys.watchers(''),
        Date.now(),
        'force',
        emitDown ? '1' : '0',
        PRESENCE_EVENTS_MAXLEN,
      ],
    );
  }
}
