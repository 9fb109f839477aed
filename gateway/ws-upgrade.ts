/**
 * The WebSocket upgrade (API.md "WebSocket"): authorised before it is
 * accepted — session, Origin allow-list, chat access at the owning shard —
 * and completed so that the socket is registered for routing before the
 * client sees it open; a client that opens, then catches up with `?after=`,
 * misses nothing. It also knows which sockets are being opened, for the
 * "sole socket" hint of sends.
 */
import type { HttpRequest, HttpResponse, us_socket_context_t } from 'uWebSockets.js';
import { AppError, toAppError } from '../common/errors.js';
import { dialogChatId, GROUP_ID_RE, groupChatId } from '../common/ids.js';
import { newConn, type Conn } from './conn.js';
import { errorReply, send, type RequestContext } from './http.js';
import { expect } from './routes.js';
import { presentedToken } from './sessions.js';
import * as v from './validate.js';
import type { WsDeps } from './ws.js';

export class WsUpgrade {
  private seq = 0;
  /** Each socket's client address, for the per-address send limit. */
  private readonly addresses = new WeakMap<Conn, string>();
  /** Sockets per user being authorised (from the session check until the upgrade completes or fails). */
  private readonly opening = new Map<string, number>();

  constructor(private readonly deps: WsDeps) {}

  /** The client address the socket was opened from. */
  addressOf(conn: Conn): string | undefined {
    return this.addresses.get(conn);
  }

  upgrade(res: HttpResponse, req: HttpRequest, context: us_socket_context_t, kind: Conn['kind']): void {
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
  soleSocket(conn: Conn): boolean {
    return !conn.closed && this.deps.hub.sockets.socketsOf(conn.login) === 1 && !this.opening.has(conn.login);
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
    const anchor = this.deps.anchor?.socket() ?? this.deps.hub.sockets.anyOpen();
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

  private originAllowed(origin: string, host: string): boolean {
    if (!origin) return true; // not a browser: the session is the credential
    return this.deps.origins.allows(origin, host);
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
    const conn = newConn(`${this.deps.node}/${++this.seq}`, login, session.tokenHash, kind);
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

  async release(conn: Conn): Promise<void> {
    const { presence, logger } = this.deps;
    try {
      if (conn.peer) await presence.unwatch(conn.login, conn.peer);
      await presence.disconnected(conn.login);
    } catch (err) {
      logger.warn({ err, conn: conn.id }, 'presence update on close failed');
    }
  }
}

function decodeURIComponentSafe(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}
