/**
 * WebSocket endpoints (API.md "WebSocket"): /dialog/{login}/ws, /group/{id}/ws
 * and the multiplexed /chats/ws. The upgrade and its authorisation are in
 * ws-upgrade.ts, the client's events in ws-events.ts, send limits in
 * send-limits.ts; this file wires them to uWS and keeps the hub's registry
 * in step with open and closed sockets.
 */
import type { TemplatedApp, WebSocket } from 'uWebSockets.js';
import type { Config } from '../common/config.js';
import type { Logger } from '../common/logger.js';
import { wsConnections } from '../common/metrics.js';
import type { ShardClient } from '../shards/index.js';
import type { Store } from '../store/index.js';
import type { Conn } from './conn.js';
import type { CorkAnchor } from './cork-anchor.js';
import type { Hub } from './hub.js';
import type { Origins } from './origins.js';
import type { PresenceView } from './presence-view.js';
import type { RateLimiter } from './rate-limit.js';
import { SendLimits } from './send-limits.js';
import type { Sessions } from './sessions.js';
import { WsEvents } from './ws-events.js';
import { WsUpgrade } from './ws-upgrade.js';

/**
 * uWS drops a connection whose frame exceeds maxPayloadLength without a close frame (clients see
 * 1006), so it gets this larger cap and frames over WS_MAX_FRAME_BYTES are closed here with 1009.
 */
const FRAME_HARD_CAP_BYTES = 1024 * 1024;

export interface WsDeps {
  node: string;
  config: Config;
  store: Store;
  sessions: Sessions;
  shards: ShardClient;
  presence: PresenceView;
  hub: Hub;
  logger: Logger;
  /** Cluster-wide send limits (per user and per client address). */
  limiter: RateLimiter;
  /** Browser origins allowed to open sockets. */
  origins: Origins;
  /** The socket asynchronous upgrades run corked by. */
  anchor?: CorkAnchor;
}

export class WsEndpoints {
  private readonly upgrades: WsUpgrade;
  private readonly events: WsEvents;

  constructor(private readonly deps: WsDeps) {
    this.upgrades = new WsUpgrade(deps);
    this.events = new WsEvents(deps, this.upgrades, new SendLimits(deps.config, deps.limiter, deps.logger));
  }

  register(app: TemplatedApp): void {
    const { config } = this.deps;
    for (const [pattern, kind] of [
      ['/dialog/:login/ws', 'dialog'],
      ['/group/:id/ws', 'group'],
      ['/chats/ws', 'all'],
    ] as const) {
      app.ws<Conn>(pattern, {
        maxPayloadLength: Math.max(4 * config.wsMaxFrameBytes, FRAME_HARD_CAP_BYTES),
        maxBackpressure: config.wsMaxBackpressureBytes,
        closeOnBackpressureLimit: 1,
        idleTimeout: config.wsIdleTimeoutS,
        sendPingsAutomatically: true,
        upgrade: (res, req, context) => this.upgrades.upgrade(res, req, context, kind),
        open: (ws) => this.open(ws),
        message: (ws, message, isBinary) => this.events.message(ws, message, isBinary),
        close: (ws) => this.close(ws),
      });
    }
  }

  private open(ws: WebSocket<Conn>): void {
    const conn = ws.getUserData();
    conn.ws = ws;
    this.deps.hub.sockets.add(conn);
    wsConnections.inc();
  }

  private close(ws: WebSocket<Conn>): void {
    const conn = ws.getUserData();
    conn.ws = null;
    this.deps.hub.sockets.remove(conn);
    wsConnections.dec();
    void this.upgrades.release(conn);
  }

  /** Closes every socket opened with a revoked session. */
  revoke(tokenHash: string): void {
    for (const conn of this.deps.hub.sockets.connsOfToken(tokenHash))
      this.deps.hub.out.end(conn, 1008, 'session revoked');
  }

  /** Graceful shutdown: tell clients to reconnect elsewhere. */
  closeAll(): void {
    for (const conn of this.deps.hub.sockets.all()) this.deps.hub.out.end(conn, 1001, 'server going away');
  }
}
