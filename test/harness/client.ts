/**
 * Client helpers for end-to-end tests: the HTTP API (fetch) and a WebSocket
 * client (ws) that buffers every event so a test can wait for the next one
 * matching a condition, whether it already arrived or not.
 */
import crypto from 'node:crypto';
import WebSocket from 'ws';

/** A registered (or logged-in) user. */
export interface Session {
  login: string;
  username: string;
  password: string;
  /** The session token from the `sessionToken` cookie. */
  token: string;
  /** `sessionToken=<token>`, ready for a Cookie header. */
  cookie: string;
}

export interface RequestOptions {
  /** Sent as `Authorization: Bearer <token>`. */
  token?: string;
  /** Sent as the Cookie header, e.g. `session.cookie`. */
  cookie?: string;
  /** An object is sent as JSON; a string or bytes are sent as they are (bad-JSON tests), still labelled JSON. */
  body?: unknown;
  /** Extra or overriding headers. */
  headers?: Record<string, string>;
}

export interface ApiResponse<T = unknown> {
  status: number;
  headers: Headers;
  text: string;
  /** The parsed body, or undefined when it is not JSON. */
  json: T | undefined;
}

export interface Api {
  readonly baseUrl: string;
  request<T = unknown>(method: string, path: string, options?: RequestOptions): Promise<ApiResponse<T>>;
  /** POST /register; throws unless 200. Password defaults to `correct horse battery`, username to the login. */
  register(login: string, password?: string, username?: string): Promise<Session>;
  /** POST /login; throws unless 200. */
  login(login: string, password?: string): Promise<Session>;
}

export const DEFAULT_PASSWORD = 'correct horse battery';

/** A login no other test uses: `<prefix><random>`, valid for POST /register. @default prefix 'u' */
export function uniqueLogin(prefix = 'u'): string {
  return `${prefix}${crypto.randomBytes(6).toString('hex')}`.toLowerCase().slice(0, 32);
}

function sessionCookie(res: Response): string {
  for (const cookie of res.headers.getSetCookie()) {
    const match = /^sessionToken=([^;]*)/.exec(cookie);
    if (match?.[1]) return match[1];
  }
  throw new Error(`no sessionToken cookie in ${res.url} response`);
}

export function api(baseUrl: string): Api {
  const base = baseUrl.replace(/\/$/, '');
  const send = async (method: string, path: string, options: RequestOptions = {}) => {
    const headers: Record<string, string> = {};
    let body: string | Uint8Array | undefined;
    if (options.body !== undefined) {
      headers['content-type'] = 'application/json; charset=utf-8';
      body =
        typeof options.body === 'string' || options.body instanceof Uint8Array
          ? options.body
          : JSON.stringify(options.body);
    }
    if (options.token) headers.authorization = `Bearer ${options.token}`;
    if (options.cookie) headers.cookie = options.cookie;
    Object.assign(headers, options.headers);
    const res = await fetch(base + path, { method, headers, body, redirect: 'manual' });
    return { res, text: await res.text() };
  };
  const parse = <T>(text: string): T | undefined => {
    try {
      return JSON.parse(text) as T;
    } catch {
      return undefined;
    }
  };
  const session = async (path: string, body: Record<string, string>): Promise<Session> => {
    const { res, text } = await send('POST', path, { body });
    if (res.status !== 200) throw new Error(`POST ${path} ${body.login}: ${res.status} ${text}`);
    const json = parse<{ login?: string; username?: string }>(text) ?? {};
    const token = sessionCookie(res);
    return {
      login: json.login ?? (body.login as string).toLowerCase(),
      username: json.username ?? body.username ?? '',
      password: body.password as string,
      token,
      cookie: `sessionToken=${token}`,
    };
  };
  return {
    baseUrl: base,
    async request<T = unknown>(
      method: string,
      path: string,
      options?: RequestOptions,
    ): Promise<ApiResponse<T>> {
      const { res, text } = await send(method, path, options);
      return { status: res.status, headers: res.headers, text, json: parse<T>(text) };
    },
    register: (login, password = DEFAULT_PASSWORD, username = login) =>
      session('/register', { login, password, username }),
    login: (login, password = DEFAULT_PASSWORD) => session('/login', { login, password }),
  };
}

/** A chat as named in WebSocket events. */
export interface ChatRef {
  type: 'dialog' | 'group';
  id: string;
}

/** Payload fields of the server events in API.md; anything else is `unknown`. */
export interface EventPayload {
  [field: string]: unknown;
  chat?: ChatRef;
  id?: number;
  text?: string;
  sender?: string;
  receiver?: string;
  status?: string;
  time?: string;
  client_id?: string;
  code?: string;
  message?: string;
  user_login?: string;
  is_online?: boolean;
  last_seen?: string | null;
}

/** One frame received. Frames that are not JSON events have type '' and the text in `raw`. */
export interface WsEvent {
  type: string;
  payload: EventPayload;
  /** The frame as received. */
  raw: string;
}

export interface CloseInfo {
  code: number;
  reason: string;
}

/** A type name (`'new_message'`) or a predicate over events. */
export type EventMatch = string | ((event: WsEvent) => boolean);

export interface WsOptions {
  /** Appended as `?token=` (the original API); use `headers` for Bearer or cookie auth. */
  token?: string;
  /** Sent as the Cookie header. */
  cookie?: string;
  headers?: Record<string, string>;
  /** Origin header, as a browser would send it. */
  origin?: string;
  /** @default 5000 */
  timeoutMs?: number;
}

export interface WsClient {
  readonly socket: WebSocket;
  /** Every event received so far, in order. */
  readonly events: WsEvent[];
  /** Sends an object as JSON, or a string as it is. */
  send(event: object | string): void;
  /**
   * The first event matching `match` that no earlier next()/take() returned,
   * whether it is already buffered or still to come. Rejects on timeout or
   * when the socket closes first, listing what did arrive. @default timeoutMs 5000
   */
  next(match?: EventMatch, timeoutMs?: number): Promise<WsEvent>;
  /** The next `count` matching events (same rules as next()). */
  take(match: EventMatch, count: number, timeoutMs?: number): Promise<WsEvent[]>;
  /** Closes the socket and resolves when it is closed. */
  close(code?: number, reason?: string): Promise<CloseInfo>;
  /** Drops the TCP connection without a close frame. */
  terminate(): void;
  /** Resolves when the socket closes, from either side. */
  readonly closed: Promise<CloseInfo>;
}

/** Error of a refused upgrade: `status` is the HTTP status, `body` the response body. */
export class UpgradeRefused extends Error {
  constructor(
    readonly status: number,
    readonly body: string,
  ) {
    super(`WebSocket upgrade refused: ${status} ${body}`);
  }
}

function wsUrl(url: string, options: WsOptions): string {
  if (!options.token) return url;
  const u = new URL(url);
  u.searchParams.set('token', options.token);
  return u.toString();
}

function wsHeaders(options: WsOptions): Record<string, string> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.cookie) headers.cookie = options.cookie;
  return headers;
}

function describe(match: EventMatch | undefined): string {
  return match === undefined
    ? 'any event'
    : typeof match === 'string'
      ? `a ${match} event`
      : 'a matching event';
}

function matches(match: EventMatch | undefined, event: WsEvent): boolean {
  return match === undefined || (typeof match === 'string' ? event.type === match : match(event));
}

function parseFrame(data: WebSocket.RawData): WsEvent {
  const raw = Array.isArray(data)
    ? Buffer.concat(data).toString('utf8')
    : Buffer.from(data as ArrayBuffer).toString('utf8');
  try {
    const value = JSON.parse(raw) as { type?: unknown; payload?: unknown };
    if (value && typeof value === 'object' && typeof value.type === 'string') {
      const payload =
        value.payload && typeof value.payload === 'object' ? (value.payload as EventPayload) : {};
      return { type: value.type, payload, raw };
    }
  } catch {
    // Not JSON: kept with an empty type.
  }
  return { type: '', payload: {}, raw };
}

/** Opens a WebSocket; rejects with {@link UpgradeRefused} when the server answers the upgrade with an HTTP error. */
export function connectWs(url: string, options: WsOptions = {}): Promise<WsClient> {
  const socket = new WebSocket(wsUrl(url, options), {
    headers: wsHeaders(options),
    ...(options.origin ? { origin: options.origin } : {}),
    handshakeTimeout: options.timeoutMs ?? 5000,
  });
  const events: WsEvent[] = [];
  const handedOut = new Set<WsEvent>();
  const waiters: {
    match: EventMatch | undefined;
    resolve: (e: WsEvent) => void;
    reject: (err: Error) => void;
  }[] = [];
  let closeInfo: CloseInfo | null = null;

  const summary = () => {
    const recent = events.slice(-10).map((e) => e.raw.slice(0, 200));
    return `received ${events.length} event(s)${recent.length ? `, last: ${recent.join(' | ')}` : ''}`;
  };

  // Errors after the handshake show up as the close code; this keeps a late one from being unhandled.
  socket.on('error', () => {});
  socket.on('message', (data) => {
    const event = parseFrame(data);
    events.push(event);
    const i = waiters.findIndex((w) => matches(w.match, event));
    if (i >= 0) {
      const [waiter] = waiters.splice(i, 1);
      handedOut.add(event);
      waiter?.resolve(event);
    }
  });
  const closed = new Promise<CloseInfo>((resolve) => {
    socket.once('close', (code, reason) => {
      closeInfo = { code, reason: reason.toString('utf8') };
      for (const w of waiters.splice(0)) {
        w.reject(
          new Error(
            `socket closed (${closeInfo.code} ${closeInfo.reason}) while waiting for ${describe(w.match)}; ${summary()}`,
          ),
        );
      }
      resolve(closeInfo);
    });
  });

  const next = (match?: EventMatch, timeoutMs = 5000): Promise<WsEvent> => {
    const buffered = events.find((e) => !handedOut.has(e) && matches(match, e));
    if (buffered) {
      handedOut.add(buffered);
      return Promise.resolve(buffered);
    }
    if (closeInfo) {
      return Promise.reject(
        new Error(
          `socket already closed (${closeInfo.code} ${closeInfo.reason}); no ${describe(match)}; ${summary()}`,
        ),
      );
    }
    return new Promise<WsEvent>((resolve, reject) => {
      const waiter = {
        match,
        resolve: (e: WsEvent) => {
          clearTimeout(timer);
          resolve(e);
        },
        reject: (err: Error) => {
          clearTimeout(timer);
          reject(err);
        },
      };
      const timer = setTimeout(() => {
        waiters.splice(waiters.indexOf(waiter), 1);
        reject(new Error(`no ${describe(match)} within ${timeoutMs} ms; ${summary()}`));
      }, timeoutMs);
      waiters.push(waiter);
    });
  };

  const client: WsClient = {
    socket,
    events,
    send: (event) => socket.send(typeof event === 'string' ? event : JSON.stringify(event)),
    next,
    take: async (match, count, timeoutMs = 5000) => {
      const deadline = Date.now() + timeoutMs;
      const out: WsEvent[] = [];
      while (out.length < count) out.push(await next(match, Math.max(1, deadline - Date.now())));
      return out;
    },
    close: (code, reason) => {
      if (!closeInfo) socket.close(code, reason);
      return closed;
    },
    terminate: () => socket.terminate(),
    closed,
  };

  return new Promise((resolve, reject) => {
    socket.once('open', () => resolve(client));
    socket.once('unexpected-response', (req, res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => {
        req.destroy();
        reject(new UpgradeRefused(res.statusCode ?? 0, body));
      });
    });
    socket.once('error', (err) => reject(err));
  });
}

/** Attempts an upgrade that must be refused; resolves with the HTTP status (throws if it was accepted). */
export async function expectUpgradeRefused(url: string, options: WsOptions = {}): Promise<number> {
  let client: WsClient;
  try {
    client = await connectWs(url, options);
  } catch (err) {
    if (err instanceof UpgradeRefused) return err.status;
    throw err;
  }
  await client.close();
  throw new Error(`upgrade of ${url} was accepted; expected it to be refused`);
}
