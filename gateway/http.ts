/**
 * The gateway's HTTP layer on uWebSockets.js: a route table with path
 * parameters and per-method handlers, 404/405 answers, body reading with a
 * size limit (413), JSON parsing (400 invalid_json), security headers, and the
 * single place where AppErrors become HTTP responses.
 *
 * uWS hands over a request object that is only valid synchronously, so
 * everything a handler may need (headers, query, address) is copied into a
 * plain `RequestContext` before any await.
 */
import type { HttpRequest, HttpResponse, TemplatedApp } from 'uWebSockets.js';
import { AppError, toAppError } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import { httpRequests, httpSeconds } from '../common/metrics.js';
import { Origins } from './origins.js';

export type Method = 'get' | 'post' | 'delete' | 'put' | 'patch';

export interface RequestContext {
  method: string;
  path: string;
  /** Route pattern, for metrics labels. */
  route: string;
  params: string[];
  query: URLSearchParams;
  headers: {
    cookie: string;
    authorization: string;
    contentType: string;
    origin: string;
    /** `Sec-Fetch-Site` ('' when absent). */
    fetchSite: string;
    host: string;
    forwardedFor: string;
    forwardedProto: string;
  };
  remoteAddress: string;
  /** The request body parsed as JSON (rejects with invalid_json / payload_too_large). */
  json(): Promise<unknown>;
}

export interface Reply {
  status: number;
  /** JSON-encoded (a string or Buffer is sent as it is; `JsonArrayParts` as the array of its parts). */
  body?: unknown;
  headers?: Record<string, string>;
}

/**
 * A JSON array given as the JSON of its elements, assembled only while the
 * response is written, in a scratch buffer reused by every response (uWS
 * copies what it cannot send at once): a large body costs no allocation.
 */
export class JsonArrayParts {
  constructor(readonly parts: readonly Buffer[]) {}
}

let scratch = Buffer.allocUnsafe(256 * 1024);

function assemble(body: JsonArrayParts): Buffer {
  const size = body.parts.reduce((n, c) => n + c.length + 1, 1) + (body.parts.length === 0 ? 1 : 0);
  if (size > scratch.length) scratch = Buffer.allocUnsafe(Math.max(size, scratch.length * 2));
  let at = scratch.write('[');
  body.parts.forEach((c, i) => {
    if (i > 0) at += scratch.write(',', at);
    at += c.copy(scratch, at);
  });
  at += scratch.write(']', at);
  return scratch.subarray(0, at);
}

export type Handler = (ctx: RequestContext) => Promise<Reply> | Reply;

const STATUS_TEXT: Record<number, string> = {
  200: '200 OK',
  201: '201 Created',
  204: '204 No Content',
  400: '400 Bad Request',
  401: '401 Unauthorized',
  403: '403 Forbidden',
  404: '404 Not Found',
  405: '405 Method Not Allowed',
  409: '409 Conflict',
  413: '413 Payload Too Large',
  415: '415 Unsupported Media Type',
  429: '429 Too Many Requests',
  500: '500 Internal Server Error',
  503: '503 Service Unavailable',
};

/** Headers on every response. The web client's CSP is added by the static handler. */
export const SECURITY_HEADERS: Record<string, string> = {
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
  'content-security-policy': "default-src 'none'; frame-ancestors 'none'",
};

function statusLine(status: number): string {
  return STATUS_TEXT[status] ?? `${status} Unknown`;
}

/** Writes a complete response (corked). Safe to call once; ignored after abort. */
export function send(
  res: HttpResponse,
  state: { aborted: boolean },
  reply: Reply,
  extra?: Record<string, string>,
): void {
  if (state.aborted) return;
  const parts = reply.body instanceof JsonArrayParts ? reply.body : null;
  const body =
    reply.body === undefined || reply.status === 204 || parts
      ? ''
      : typeof reply.body === 'string' || Buffer.isBuffer(reply.body)
        ? reply.body
        : JSON.stringify(reply.body);
  res.cork(() => {
    res.writeStatus(statusLine(reply.status));
    for (const k in SECURITY_HEADERS) res.writeHeader(k, SECURITY_HEADERS[k]!);
    if (body.length > 0 || parts) res.writeHeader('content-type', 'application/json; charset=utf-8');
    if (reply.headers) for (const k in reply.headers) res.writeHeader(k, reply.headers[k]!);
    if (extra) for (const k in extra) res.writeHeader(k, extra[k]!);
    res.end(parts ? assemble(parts) : body);
  });
}

export function errorReply(err: AppError): Reply {
  const headers: Record<string, string> = {};
  if (err.retryAfterS !== undefined) headers['retry-after'] = String(Math.max(1, Math.ceil(err.retryAfterS)));
  return { status: err.httpStatus, body: err.toBody(), headers };
}

function readBody(res: HttpResponse, limit: number, state: { aborted: boolean }): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    res.onData((chunk, isLast) => {
      if (done) return;
      size += chunk.byteLength;
      if (size > limit) {
        done = true;
        reject(new AppError('payload_too_large', `request body exceeds ${limit} bytes`));
        return;
      }
      chunks.push(Buffer.from(chunk.slice(0)));
      if (isLast) {
        done = true;
        resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks));
      }
    });
    if (state.aborted) reject(new AppError('internal', 'aborted'));
  });
}

export interface RouterOptions {
  bodyLimitBytes: number;
  trustProxy: boolean;
  logger: Logger;
  /** The browser origins allowed to change state (the WebSocket upgrade's allow-list). */
  origins: Origins;
}

export interface RouteOptions {
  /**
   * Whether the route authenticates with the session (every route but /register and /login). A
   * state-changing request to such a route that presents the session cookie must come from an
   * allowed origin. @default true
   */
  session?: boolean;
}

/** Methods that change state: their requests are checked for origin and content type. */
const STATE_CHANGING = new Set<string>(['post', 'put', 'patch', 'delete']);

/** `application/json`, with any parameters (`; charset=utf-8`). */
const JSON_MEDIA_TYPE = /^application\/json\s*(;|$)/i;

/**
 * Refuses a state-changing request that a page of another origin could have made with the user's
 * browser: one whose Origin (or, without one, Sec-Fetch-Site) names another origin, and one that
 * presents the session cookie without saying where it comes from. Clients that are not browsers
 * send neither header and authenticate with `Authorization: Bearer` (which no page of another
 * origin can set without CORS, which the gateway does not grant).
 */
function crossOriginError(ctx: RequestContext, origins: Origins, session: boolean): AppError | null {
  const h = { origin: ctx.headers.origin, host: ctx.headers.host, fetchSite: ctx.headers.fetchSite };
  if (Origins.fromBrowser(h)) {
    return origins.browserAllowed(h) ? null : new AppError('origin_not_allowed', 'origin not allowed');
  }
  if (session && usesSessionCookie(ctx.headers)) {
    return new AppError(
      'origin_not_allowed',
      'a request authenticated by the session cookie must carry an allowed Origin',
    );
  }
  return null;
}

/** Whether the session is taken from the cookie (no Bearer token, a sessionToken cookie). */
function usesSessionCookie(headers: RequestContext['headers']): boolean {
  return !/^bearer\s+\S/i.test(headers.authorization) && cookieValue(headers.cookie, SESSION_COOKIE) !== '';
}

/** The session cookie's name (sessions.ts re-exports it as COOKIE_NAME). */
export const SESSION_COOKIE = 'sessionToken';

/** Registers routes on the uWS app: `route('/dialog/:login', { get: handler })`. */
export class Router {
  constructor(
    private readonly app: TemplatedApp,
    private readonly options: RouterOptions,
  ) {}

  route(pattern: string, handlers: Partial<Record<Method, Handler>>, options: RouteOptions = {}): void {
    const session = options.session ?? true;
    const allow = Object.keys(handlers)
      .map((m) => m.toUpperCase())
      .join(', ');
    const paramCount = (pattern.match(/:/g) ?? []).length;
    this.app.any(pattern, (res, req) => {
      const method = req.getMethod().toLowerCase() as Method;
      const handler = handlers[method];
      const state = { aborted: false };
      res.onAborted(() => {
        state.aborted = true;
      });
      if (!handler) {
        send(res, state, errorReply(new AppError('method_not_allowed', `use ${allow}`)), { allow });
        return;
      }
      this.dispatch(res, req, state, pattern, paramCount, handler, method, session);
    });
  }

  /** 404 for everything not routed (and not served by the static handler). */
  fallback(): void {
    this.app.any('/*', (res) => {
      const state = { aborted: false };
      res.onAborted(() => {
        state.aborted = true;
      });
      send(res, state, errorReply(new AppError('not_found', 'no such route')));
    });
  }

  private dispatch(
    res: HttpResponse,
    req: HttpRequest,
    state: { aborted: boolean },
    pattern: string,
    paramCount: number,
    handler: Handler,
    method: string,
    session: boolean,
  ): void {
    const started = performance.now();
    const params: string[] = [];
    for (let i = 0; i < paramCount; i++) params.push(safeDecode(req.getParameter(i) ?? ''));
    const hasBody = STATE_CHANGING.has(method);
    const contentLength = Number(req.getHeader('content-length') || 0);
    const chunked = req.getHeader('transfer-encoding') !== '';
    const ctx: RequestContext = {
      method,
      path: req.getUrl(),
      route: pattern,
      params,
      query: new URLSearchParams(req.getQuery() ?? ''),
      headers: {
        cookie: req.getHeader('cookie'),
        authorization: req.getHeader('authorization'),
        contentType: req.getHeader('content-type'),
        origin: req.getHeader('origin'),
        fetchSite: req.getHeader('sec-fetch-site'),
        host: req.getHeader('host'),
        forwardedFor: req.getHeader('x-forwarded-for'),
        forwardedProto: req.getHeader('x-forwarded-proto'),
      },
      remoteAddress: '',
      json: () => Promise.reject(new AppError('invalid_json', 'a JSON body is required')),
    };
    ctx.remoteAddress =
      this.options.trustProxy && ctx.headers.forwardedFor
        ? ctx.headers.forwardedFor.split(',')[0]!.trim()
        : Buffer.from(res.getRemoteAddressAsText()).toString();
    let bodyPromise: Promise<Buffer> | null = null;
    if (hasBody) {
      const refused = crossOriginError(ctx, this.options.origins, session);
      if (refused) {
        this.refuse(res, state, pattern, started, refused);
        return;
      }
      if (contentLength > this.options.bodyLimitBytes) {
        send(
          res,
          state,
          errorReply(
            new AppError('payload_too_large', `request body exceeds ${this.options.bodyLimitBytes} bytes`),
          ),
          {
            connection: 'close',
          },
        );
        return;
      }
      // Only JSON bodies: a page of another origin can send text/plain, form and multipart bodies
      // without asking (no CORS preflight), but not application/json.
      if (
        (contentLength > 0 || chunked || ctx.headers.contentType) &&
        !JSON_MEDIA_TYPE.test(ctx.headers.contentType)
      ) {
        this.refuse(
          res,
          state,
          pattern,
          started,
          new AppError('unsupported_media_type', 'request bodies must be application/json'),
        );
        return;
      }
      bodyPromise = readBody(res, this.options.bodyLimitBytes, state);
      bodyPromise.catch(() => undefined);
      ctx.json = async () => {
        const raw = await bodyPromise!;
        if (raw.length === 0) throw new AppError('invalid_json', 'a JSON body is required');
        try {
          return JSON.parse(raw.toString('utf8')) as unknown;
        } catch {
          throw new AppError('invalid_json', 'body is not valid JSON');
        }
      };
    }
    const finish = (reply: Reply) => {
      httpRequests.inc({ route: pattern, status: `${Math.floor(reply.status / 100)}xx` });
      httpSeconds.observe({ route: pattern }, (performance.now() - started) / 1000);
      send(res, state, reply);
    };
    let result: Promise<Reply> | Reply;
    try {
      result = handler(ctx);
    } catch (err) {
      finish(this.toReply(err, ctx));
      return;
    }
    if (result instanceof Promise) {
      result.then(finish, (err: unknown) => finish(this.toReply(err, ctx)));
    } else {
      finish(result);
    }
  }

  /**
   * Answers before the body is read. The connection is closed afterwards: a body the client may
   * still be sending would otherwise be read as the next request.
   */
  private refuse(
    res: HttpResponse,
    state: { aborted: boolean },
    pattern: string,
    started: number,
    err: AppError,
  ): void {
    const reply = errorReply(err);
    httpRequests.inc({ route: pattern, status: `${Math.floor(reply.status / 100)}xx` });
    httpSeconds.observe({ route: pattern }, (performance.now() - started) / 1000);
    send(res, state, reply, { connection: 'close' });
  }

  private toReply(err: unknown, ctx: RequestContext): Reply {
    const appError = toAppError(err);
    if (appError.code === 'internal') this.options.logger.error({ err, route: ctx.route }, 'request failed');
    return errorReply(appError);
  }
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** Reads one cookie value from a Cookie header. */
export function cookieValue(header: string, name: string): string {
  if (!header) return '';
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return '';
}
