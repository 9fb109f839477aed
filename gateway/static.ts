/**
 * Serves the built web client (WEB_ROOT, default web/dist): `/` is
 * index.html and every file below the root is served at its own path, read
 * into memory at start. Everything else stays a JSON 404 (no HTML fallback).
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { extname, join, relative } from 'node:path';
import type { HttpRequest, HttpResponse, TemplatedApp } from 'uWebSockets.js';
import type { Logger } from '../common/logger.js';
import { SECURITY_HEADERS } from './http.js';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json; charset=utf-8',
  '.webmanifest': 'application/manifest+json',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
};

/**
 * The web client's policy: only its own scripts, styles and sockets; never framed. `connect-src`
 * names the WebSocket origin of the page's own origin besides 'self' (browsers that follow CSP 3 let
 * 'self' cover it; older ones need it spelled out), and no other host.
 */
export function webCsp(socketOrigin: string): string {
  return (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
    `connect-src 'self'${socketOrigin ? ` ${socketOrigin}` : ''}; ` +
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
  );
}

/** A Host header that is a plain host name, IPv4 or bracketed IPv6 address, with an optional port. */
const HOST_RE = /^(?:[a-z0-9.-]+|\[[0-9a-f:.]+\])(?::\d{1,5})?$/i;

export interface WebClientOptions {
  /** PUBLIC_ORIGIN: when set, the page's origin whatever the Host header says. */
  publicOrigin: string;
  /** TRUST_PROXY: X-Forwarded-Proto tells whether the browser used https. */
  trustProxy: boolean;
  /**
   * Who the request's session cookie signs in (null: nobody). When given, index.html carries the
   * answer, so the page knows without asking (see {@link pageWithSession}).
   */
  session?: (cookieHeader: string) => Promise<{ login: string; username: string } | null>;
}

/** The id of the data block index.html carries; the web client reads it once at start. */
export const BOOTSTRAP_ID = 'gm-bootstrap';

/**
 * index.html with a JSON data block before `</head>`: `{"me": {"login","username"}}` for a live
 * session, `{"me": null}` without one. A data block (`type="application/json"`) is never executed,
 * so the CSP's `script-src 'self'` stays as it is; `<` is escaped so no text can close the element.
 * When the session cannot be checked (Redis down) the page goes without the block and the client
 * asks GET /me as it would without a server in front of it (the Vite dev server).
 */
function pageWithSession(
  html: Buffer,
  session: NonNullable<WebClientOptions['session']>,
  logger: Logger,
): (cookie: string) => Promise<Buffer> {
  const text = html.toString('utf8');
  const at = text.indexOf('</head>');
  if (at < 0) {
    logger.warn('index.html has no </head>; the page will ask GET /me itself');
    return () => Promise.resolve(html);
  }
  const before = Buffer.from(text.slice(0, at));
  const after = Buffer.from(text.slice(at));
  const block = (data: unknown) =>
    Buffer.from(
      `<script type="application/json" id="${BOOTSTRAP_ID}">${JSON.stringify(data).replace(/</g, '\\u003c')}</script>\n`,
    );
  const anonymous = Buffer.concat([before, block({ me: null }), after]);
  return async (cookie) => {
    if (!cookie) return anonymous;
    try {
      const me = await session(cookie);
      return me
        ? Buffer.concat([before, block({ me: { login: me.login, username: me.username } }), after])
        : anonymous;
    } catch (err) {
      logger.warn({ err }, 'session check for the page failed; serving it without the bootstrap');
      return html;
    }
  };
}

/**
 * The WebSocket origin (`ws://host:port`, `wss://host`) of the page's origin: PUBLIC_ORIGIN's when
 * set, else the request's Host with the scheme the browser used. '' when the Host is not a plain
 * host (the policy then relies on 'self' alone).
 */
export function socketOrigin(options: WebClientOptions, host: string, forwardedProto: string): string {
  if (options.publicOrigin) {
    const url = URL.canParse(options.publicOrigin) ? new URL(options.publicOrigin) : null;
    return url ? `${url.protocol === 'https:' ? 'wss:' : 'ws:'}//${url.host}` : '';
  }
  if (!HOST_RE.test(host)) return '';
  const https = options.trustProxy && forwardedProto.split(',')[0]?.trim().toLowerCase() === 'https';
  return `${https ? 'wss' : 'ws'}://${host.toLowerCase()}`;
}

/** Policies by socket origin (a handful in practice; bounded against arbitrary Host headers). */
const policies = new Map<string, string>();

function policyFor(origin: string): string {
  let csp = policies.get(origin);
  if (csp === undefined) {
    if (policies.size >= 256) policies.clear();
    csp = webCsp(origin);
    policies.set(origin, csp);
  }
  return csp;
}

function walk(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...walk(path));
    else out.push(path);
  }
  return out;
}

export function serveWebClient(
  app: TemplatedApp,
  root: string,
  logger: Logger,
  options: WebClientOptions,
): number {
  if (!existsSync(join(root, 'index.html'))) {
    logger.warn({ root }, 'web client not built; / will answer 404 (run npm run build)');
    return 0;
  }
  const files = walk(root);
  for (const file of files) {
    const rel = '/' + relative(root, file).split('\\').join('/');
    const body = readFileSync(file);
    const type = TYPES[extname(file)] ?? 'application/octet-stream';
    const immutable = rel.startsWith('/assets/');
    const write = (res: HttpResponse, csp: string, content: Buffer, cache: string) => {
      res.writeStatus('200 OK');
      for (const k in SECURITY_HEADERS)
        if (k !== 'content-security-policy') res.writeHeader(k, SECURITY_HEADERS[k]!);
      res.writeHeader('content-security-policy', csp);
      res.writeHeader('content-type', type);
      res.writeHeader('cache-control', cache);
      res.end(content);
    };
    const cspOf = (req: HttpRequest) =>
      policyFor(
        socketOrigin(
          options,
          req.getHeader('host'),
          options.trustProxy ? req.getHeader('x-forwarded-proto') : '',
        ),
      );
    const handler = (res: HttpResponse, req: HttpRequest) => {
      const csp = cspOf(req);
      res.cork(() => write(res, csp, body, immutable ? 'public, max-age=31536000, immutable' : 'no-cache'));
    };
    if (rel === '/index.html' && options.session) {
      const page = pageWithSession(body, options.session, logger);
      const pageHandler = (res: HttpResponse, req: HttpRequest) => {
        const csp = cspOf(req);
        const cookie = req.getHeader('cookie');
        let aborted = false;
        res.onAborted(() => {
          aborted = true;
        });
        void page(cookie).then((content) => {
          // The page tells who is signed in: never stored by a cache.
          if (!aborted) res.cork(() => write(res, csp, content, 'no-store'));
        });
      };
      app.get(rel, pageHandler);
      app.get('/', pageHandler);
      continue;
    }
    app.get(rel, handler);
    if (rel === '/index.html') app.get('/', handler);
  }
  return files.length;
}
