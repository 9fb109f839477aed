/**
 * WebSocket endpoints (API.md "WebSocket"): /dialog/{login}/ws, /group/{id}/ws
 * and the multiplexed /chats/ws. The upgrade is authorised before it is
 * accepted (session, Origin allow-list, chat access at the owning shard), and
 * the socket is registered for routing before the client sees it open, so a
 * client that opens, then catches up with `?after=`, misses nothing.
 */
import type { HttpRequest, HttpResponse, TemplatedApp, us_socket_context_t, WebSocket } from 'uWebSockets.js';
import { AppError, toAppError, type ErrorCode } from '../common/errors.js';
import type { Config } from '../common/config.js';
import { dialogChatId, GROUP_ID_RE, groupChatId } from '../common/ids.js';
import type { Logger } from '../common/logger.js';
import { wsConnections, wsDropped, wsErrors, wsEventsReceived } from '../common/metrics.js';
import { isoTime } from '../common/time.js';
import { MarkKind } from '../proto/gen/gmessenger/v1/shard_pb.js';
import type { Store } from '../store/index.js';
import { errorReply, send, type RequestContext } from './http.js';
import { chatRef, eventJson, type Conn, type Hub } from './hub.js';
import type { CorkAnchor } from './cork-anchor.js';
import type { Origins } from './origins.js';
import type { PresenceView } from './presence-view.js';
import type { RateLimiter } from './rate-limit.js';
import { expect, STATUS_NAME } from './routes.js';
import { presentedToken, type Sessions } from './sessions.js';
import type { ShardClient } from '../shards/index.js';
import * as v from './validate.js';

/** Misbehaviour within this window beyond the budget closes the socket (policy violation). */
const ERROR_WINDOW_MS = 10_000;
const ERROR_BUDGET = 50;
/**
 * Rejections that say nothing about the client's manners: it was merely fast (rate_limited) or the
 * server could not serve it (unavailable, internal). They never count toward the budget, so a client
 * that sends too fast is slowed down, not disconnected, and keeps the acknowledgements in flight.
 */
const NOT_MISBEHAVIOUR: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'rate_limited',
  'unavailable',
  'internal',
]);
const TYPING_INTERVAL_MS = 2000;
/**
 * uWS drops a connection whose frame exceeds maxPayloadLength without a close frame (clients see
 * 1006), so it gets this larger cap and frames over WS_MAX_FRAME_BYTES are closed here with 1009.
 */
const FRAME_HARD_CAP_BYTES = 1024 * 1024;
/**
 * Per-user send budget on this gateway: a token bucket refilled at SEND_RATE_LIMIT per second. It absorbs
 * floods locally; the Redis limits in `sendMessage` hold the rate across every gateway.
 */
interface Bucket {
  tokens: number;
  at: number;
}

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

/** The cluster-wide send limits are counted in one-second windows. */
const SEND_WINDOW_MS = 1000;
/** Users behind one address (NAT, office) share this many times the per-user send rate. */
const SEND_IP_FACTOR = 10;

export class WsEndpoints {
  private seq = 0;
  private readonly buckets = new Map<string, Bucket>();
  /** Each socket's client address, for the per-address send limit. */
  private readonly addresses = new WeakMap<Conn, string>();
  /** Sockets per user being authorised (from the session check until the upgrade completes or fails). */
  private readonly opening = new Map<string, number>();

  constructor(private readonly deps: WsDeps) {}

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
        upgrade: (res, req, context) => this.upgrade(res, req, context, kind),
        open: (ws) => this.open(ws),
        message: (ws, message, isBinary) => this.message(ws, message, isBinary),
        close: (ws) => this.close(ws),
      });
    }
  }

  private originAllowed(origin: string, host: string): boolean {
    if (!origin) return true; // not a browser: the session is the credential
    return this.deps.origins.allows(origin, host);
  }

  private upgrade(
    res: HttpResponse,
    req: HttpRequest,
    context: us_socket_context_t,
    kind: Conn['kind'],
  ): void {
    const key = req.getHeader('sec-websocket-key');
    const protocol = req.getHeader('sec-websocket-protocol');
    const extensions = req.getHeader('sec-websocket-extensions');
    const headers: RequestContext['headers'] = {
      cookie: req.getHeader('cookie'),
      authorization: req.getHeader('authorization'),
      contentType: '',
      origin: req.getHeader('origin'),
      fetchSite: req.getHeader('sec-fetch-site'),
      host: req.getHeader('host'),
      forwardedFor: '',
      forwardedProto: '',
    };
    const query = new URLSearchParams(req.getQuery() ?? '');
    const forwardedFor = req.getHeader('x-forwarded-for');
    const address =
      this.deps.config.trustProxy && forwardedFor
        ? forwardedFor.split(',')[0]!.trim()
        : Buffer.from(res.getRemoteAddressAsText()).toString();
    const param = kind === 'all' ? '' : decodeURIComponentSafe(req.getParameter(0) ?? '');
    const state = { aborted: false };
    res.onAborted(() => {
      state.aborted = true;
    });
    let opening: string | null = null;
    const settle = () => {
      if (opening !== null) this.noteOpening(opening, -1);
      opening = null;
    };
    this.prepare(kind, param, headers, query, (login) => {
      opening = login;
      this.noteOpening(login, 1);
    }).then(
      (conn) => {
        try {
          if (state.aborted) {
            void this.release(conn);
            return;
          }
          this.addresses.set(conn, address);
          // uWS calls `open` from within the upgrade, so the socket is in the hub when this returns.
          this.accept(res, conn, key, protocol, extensions, context);
        } finally {
          settle();
        }
      },
      (err: unknown) => {
        settle();
        send(res, state, errorReply(toAppError(err)));
      },
    );
  }

  private noteOpening(login: string, delta: 1 | -1): void {
    const n = (this.opening.get(login) ?? 0) + delta;
    if (n > 0) this.opening.set(login, n);
    else this.opening.delete(login);
  }

  /**
   * Whether `conn` is its user's only socket on this gateway, with none being opened: then the fan-out of
   * its sends need not come back here (the socket gets its acknowledgement from the send itself). A closed
   * socket is not: a send of it that waited for the rate limiter may go out after it closed, and the one
   * socket left would then be another.
   */
  private soleSocket(conn: Conn): boolean {
    return !conn.closed && this.deps.hub.socketsOf(conn.login) === 1 && !this.opening.has(conn.login);
  }

  /**
   * Completes an upgrade that was authorised asynchronously. uWS v20.30 has a bug on the usual path,
   * `res.cork(() => res.upgrade(...))`: when the upgrade reallocates the socket in place, the code that runs
   * after the cork callback reads the new WebSocket's memory as HTTP response state and may shut the socket
   * down right after the 101 (strace: the 101, `shutdown`, `close`; the client sees 1006). `res.cork` skips that
   * code when another socket is corked, so the upgrade runs inside the cork of another open WebSocket: the
   * gateway's cork anchor (a socket it keeps open to itself), or a client's while the anchor reconnects.
   * Without either it runs uncorked, which is correct but makes uWS print a warning.
   */
  private accept(
    res: HttpResponse,
    conn: Conn,
    key: string,
    protocol: string,
    extensions: string,
    context: us_socket_context_t,
  ): void {
    let done = false;
    const upgrade = () => {
      done = true;
      res.upgrade(conn, key, protocol, extensions, context);
    };
    const anchor = this.deps.anchor?.socket() ?? this.deps.hub.anyOpen();
    if (anchor) {
      try {
        anchor.cork(() => res.cork(upgrade));
      } catch (err) {
        // The anchor closed under us before the upgrade ran: upgrade without it.
        if (done) throw err;
      }
    }
    if (!done) upgrade();
  }

  private async prepare(
    kind: Conn['kind'],
    param: string,
    headers: RequestContext['headers'],
    query: URLSearchParams,
    onLogin: (login: string) => void,
  ): Promise<Conn> {
    const { sessions, shards, store, presence } = this.deps;
    const session = await sessions.resolve(presentedToken({ headers, query }, true));
    if (!session) throw new AppError('unauthorized', 'a valid session is required');
    if (!this.originAllowed(headers.origin, headers.host))
      throw new AppError('origin_not_allowed', 'origin not allowed');
    const login = session.login;
    onLogin(login);
    const conn: Conn = {
      id: `${this.deps.node}/${++this.seq}`,
      login,
      tokenHash: session.tokenHash,
      kind,
      chatId: null,
      peer: null,
      cursors: new Map(),
      holdback: null,
      repairing: null,
      ws: null,
      closed: false,
      errors: 0,
      errorWindowStart: Date.now(),
      typingAt: null,
      outbox: null,
      sendGate: null,
    };
    if (kind === 'dialog') {
      const peer = v.pathLogin(param);
      if (peer === login) throw new AppError('self_dialog', 'a dialog needs another user', 'login');
      conn.peer = peer;
      conn.chatId = dialogChatId(login, peer);
    } else if (kind === 'group') {
      if (!GROUP_ID_RE.test(param)) throw new AppError('group_not_found', 'no such group');
      conn.chatId = groupChatId(param);
    }
    if (conn.chatId) {
      const access = expect(
        await shards.call(conn.chatId, login, { case: 'access', value: {} }, true),
        'history',
      );
      conn.cursors.set(conn.chatId, access.lastId);
    } else {
      // Multiplexed: start every known chat at its current last id.
      const [dialogs, groups, publicGroups] = await Promise.all([
        store.messages.dialogsOfUser(login),
        store.groups.groupsOfUser(login),
        store.groups.publicGroups(),
      ]);
      const chatIds = [
        ...new Set([...dialogs, ...groups.map(groupChatId), ...publicGroups.map((g) => groupChatId(g.id))]),
      ];
      const states = await store.messages.chatStates(chatIds);
      for (const chatId of chatIds) conn.cursors.set(chatId, states.get(chatId)?.lastId ?? 0);
    }
    await presence.connected(login);
    if (conn.peer) await presence.watch(login, conn.peer).catch(() => undefined);
    return conn;
  }

  private async release(conn: Conn): Promise<void> {
    const { presence, logger } = this.deps;
    try {
      if (conn.peer) await presence.unwatch(conn.login, conn.peer);
      await presence.disconnected(conn.login);
    } catch (err) {
      logger.warn({ err, conn: conn.id }, 'presence update on close failed');
    }
  }

  private open(ws: WebSocket<Conn>): void {
    const conn = ws.getUserData();
    conn.ws = ws;
    this.deps.hub.add(conn);
    wsConnections.inc();
  }

  private close(ws: WebSocket<Conn>): void {
    const conn = ws.getUserData();
    conn.ws = null;
    this.deps.hub.remove(conn);
    wsConnections.dec();
    void this.release(conn);
  }

  /**
   * Reports a rejected event (`rate_limited` with `retry_after_ms`); a client that keeps sending
   * malformed or disallowed events is disconnected.
   */
  private reject(conn: Conn, err: unknown, clientId?: string): void {
    const e = toAppError(err);
    if (e.code === 'internal') this.deps.logger.error({ err, conn: conn.id }, 'websocket event failed');
    wsErrors.inc({ code: e.code });
    const payload: Record<string, unknown> = { code: e.code, message: e.message };
    if (clientId) payload.client_id = clientId;
    if (e.code === 'rate_limited')
      payload.retry_after_ms = Math.max(1, Math.ceil((e.retryAfterS ?? 1) * 1000));
    this.deps.hub.write(conn, eventJson('error', payload));
    if (NOT_MISBEHAVIOUR.has(e.code)) return;
    const now = Date.now();
    if (now - conn.errorWindowStart > ERROR_WINDOW_MS) {
      conn.errorWindowStart = now;
      conn.errors = 0;
    }
    if (++conn.errors > ERROR_BUDGET) this.deps.hub.end(conn, 1008, 'too many invalid events');
  }

  private message(ws: WebSocket<Conn>, message: ArrayBuffer, isBinary: boolean): void {
    const conn = ws.getUserData();
    if (message.byteLength > this.deps.config.wsMaxFrameBytes) {
      wsDropped.inc({ reason: 'frame_too_large' });
      this.deps.hub.end(conn, 1009, 'frame too large');
      return;
    }
    if (isBinary) {
      this.reject(conn, new AppError('invalid_event', 'frames must be text JSON'));
      return;
    }
    let event: unknown;
    try {
      event = JSON.parse(Buffer.from(message).toString('utf8'));
    } catch {
      this.reject(conn, new AppError('invalid_json', 'frame is not valid JSON'));
      return;
    }
    if (!v.isObject(event) || typeof event.type !== 'string') {
      this.reject(conn, new AppError('invalid_event', 'an event is {"type": "...", "payload": {...}}'));
      return;
    }
    const payload = event.payload === undefined ? {} : event.payload;
    if (!v.isObject(payload)) {
      this.reject(conn, new AppError('invalid_event', 'payload must be an object'));
      return;
    }
    const type = event.type === 'send message' ? 'send_message' : event.type;
    switch (type) {
      case 'send_message':
        wsEventsReceived.inc({ type });
        this.sendMessage(conn, payload);
        return;
      case 'read':
        wsEventsReceived.inc({ type });
        this.read(conn, payload);
        return;
      case 'user_activity':
        wsEventsReceived.inc({ type });
        this.deps.presence.markActive(conn.login).catch((err: unknown) => this.reject(conn, err));
        return;
      case 'typing':
        wsEventsReceived.inc({ type });
        this.typing(conn, payload);
        return;
      default:
        wsEventsReceived.inc({ type: 'unknown' });
        this.reject(
          conn,
          new AppError('unknown_type', `unknown event type "${String(event.type).slice(0, 40)}"`),
        );
    }
  }

  /** The chat an event is about: the socket's own, or the `chat` field on /chats/ws. */
  private chatOf(conn: Conn, chat: unknown): string {
    if (chat === undefined || chat === null) {
      if (conn.chatId) return conn.chatId;
      throw new AppError('invalid_field', 'chat is required on /chats/ws', 'chat');
    }
    if (
      !v.isObject(chat) ||
      typeof chat.id !== 'string' ||
      (chat.type !== 'dialog' && chat.type !== 'group')
    ) {
      throw new AppError('invalid_field', 'chat must be {"type": "dialog"|"group", "id": "..."}', 'chat');
    }
    let chatId: string;
    if (chat.type === 'dialog') {
      const peer = chat.id.toLowerCase();
      if (!v.LOGIN_RE.test(peer)) throw new AppError('invalid_field', 'chat.id is not a valid login', 'chat');
      if (peer === conn.login) throw new AppError('self_dialog', 'a dialog needs another user', 'chat');
      chatId = dialogChatId(conn.login, peer);
    } else {
      if (!GROUP_ID_RE.test(chat.id)) throw new AppError('group_not_found', 'no such group');
      chatId = groupChatId(chat.id);
    }
    if (conn.chatId && conn.chatId !== chatId) {
      throw new AppError('forbidden', 'this socket is bound to another chat', 'chat');
    }
    return chatId;
  }

  /** Takes a send from the user's local bucket; throws rate_limited with the time until the next token. */
  private takeToken(login: string): void {
    const rate = this.deps.config.sendRateLimit;
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

  private sendMessage(conn: Conn, payload: Record<string, unknown>): void {
    const rawClientId = typeof payload.client_id === 'string' ? payload.client_id.slice(0, 64) : undefined;
    let chatId: string;
    let text: string;
    let clientId: string;
    try {
      chatId = this.chatOf(conn, payload.chat);
      text = v.messageText(payload.text);
      clientId = v.clientId(payload.client_id);
      this.takeToken(conn.login);
    } catch (err) {
      this.reject(conn, err, rawClientId);
      return;
    }
    const call = () =>
      this.deps.shards.call(
        chatId,
        conn.login,
        {
          case: 'send',
          value: {
            text,
            clientId,
            originConn: conn.id,
            originNode: this.deps.node,
            originSole: this.soleSocket(conn),
          },
        },
        !!clientId,
      );
    // Usually allowed from this gateway's reservation at once, without a Redis call or a promise hop. A send
    // that must wait (for budget from Redis, or behind an earlier send of this socket that waits) holds back
    // the socket's later sends, so they reach the shard in the order they were sent.
    const allowed = this.sendAllowed(conn);
    const before = conn.sendGate;
    const gate = before ? before.then(() => allowed) : allowed;
    const sent = gate ? gate.then(call) : call();
    if (gate) {
      const tail = gate.then(noop, noop);
      conn.sendGate = tail;
      void tail.then(() => {
        if (conn.sendGate === tail) conn.sendGate = null;
      });
    }
    sent
      .then((result) => {
        const m = expect(result, 'sent');
        const chat = chatRef(chatId, conn.login);
        const body: Record<string, unknown> = {
          chat,
          id: m.id,
          text: m.text,
          sender: m.sender,
          status: STATUS_NAME[m.status],
          time: isoTime(m.timeMs),
        };
        if (chat.type === 'dialog') body.receiver = chat.id;
        if (m.clientId) body.client_id = m.clientId;
        const json = eventJson('new_message', body);
        const hub = this.deps.hub;
        // Queued with this turn's other frames for the socket (one corked write). A retried client_id is
        // acknowledged again even when this socket already has the message.
        hub.turn(() => {
          if (!hub.deliver(conn, chatId, m.id, json) && m.clientId) hub.write(conn, json);
        });
      })
      .catch((err: unknown) => this.reject(conn, err, clientId || undefined));
  }

  /**
   * Counts a send against the cluster-wide limits in Redis: SEND_RATE_LIMIT per user and ten times that
   * per client address, per second, whichever gateway the sockets are on (RateLimiter.consume: budget is
   * reserved from Redis in chunks, so most sends need no Redis call). Returns undefined when the send may
   * go ahead at once. When Redis cannot answer the send goes ahead (the local bucket still applies): a
   * limiter outage must not stop messaging.
   */
  private sendAllowed(conn: Conn): Promise<void> | undefined {
    const { config, limiter } = this.deps;
    const address = this.addresses.get(conn);
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
        this.deps.logger.warn({ err, conn: conn.id }, 'send rate limit unavailable; allowing the send');
      },
    );
  }

  private read(conn: Conn, payload: Record<string, unknown>): void {
    let chatId: string;
    const id = payload.id;
    try {
      chatId = this.chatOf(conn, payload.chat);
      if (typeof id !== 'number' || !Number.isInteger(id) || id < 1 || id > 4294967295) {
        throw new AppError('invalid_field', 'id must be a positive integer', 'id');
      }
    } catch (err) {
      this.reject(conn, err);
      return;
    }
    this.deps.shards
      .call(chatId, conn.login, { case: 'mark', value: { kind: MarkKind.READ, id } }, true)
      .catch((err: unknown) => this.reject(conn, err));
  }

  private typing(conn: Conn, payload: Record<string, unknown>): void {
    let chatId: string;
    try {
      chatId = this.chatOf(conn, payload.chat);
    } catch (err) {
      this.reject(conn, err);
      return;
    }
    const now = Date.now();
    if (now - (conn.typingAt?.get(chatId) ?? 0) < TYPING_INTERVAL_MS) return;
    (conn.typingAt ??= new Map()).set(chatId, now);
    this.deps.shards
      .call(chatId, conn.login, { case: 'typing', value: {} }, true)
      .catch((err: unknown) => this.reject(conn, err));
  }

  /** Closes every socket opened with a revoked session. */
  revoke(tokenHash: string): void {
    for (const conn of this.deps.hub.connsOfToken(tokenHash))
      this.deps.hub.end(conn, 1008, 'session revoked');
  }

  /** Graceful shutdown: tell clients to reconnect elsewhere. */
  closeAll(): void {
    for (const conn of this.deps.hub.all()) this.deps.hub.end(conn, 1001, 'server going away');
  }
}

function decodeURIComponentSafe(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

function noop(): void {}
