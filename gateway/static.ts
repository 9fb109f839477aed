/**
 * Serves the built web client (WEB_ROOT, default web/dist): `/` is
 * index.html and every file below the root is served at its own path, read
 * into memory at start. Everything else stays a JSON 404 (no HTML fallback).
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { extname, join, relative } from 'node:path';
import type { TemplatedApp } from 'uWebSockets.js';
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

/** The web client's policy: only its own scripts, styles and sockets; never framed. */
export const WEB_CSP =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self' ws: wss:; " +
  "base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

function walk(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...walk(path));
    else out.push(path);
  }
  return out;
}

export function serveWebClient(app: TemplatedApp, root: string, logger: Logger): number {
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
    const handler = (res: import('uWebSockets.js').HttpResponse) => {
      res.cork(() => {
        res.writeStatus('200 OK');
        for (const k in SECURITY_HEADERS)
          if (k !== 'content-security-policy') res.writeHeader(k, SECURITY_HEADERS[k]!);
        res.writeHeader('content-security-policy', WEB_CSP);
        res.writeHeader('content-type', type);
        res.writeHeader('cache-control', immutable ? 'public, max-age=31536000, immutable' : 'no-cache');
        res.end(body);
      });
    };
    app.get(rel, handler);
    if (rel === '/index.html') app.get('/', handler);
  }
  return files.length;
}
