/**
 * API.md "Errors" and the HTTP edge, end to end: JSON 404 for unknown routes
 * (no HTML fallback), 405 with Allow, 413 over BODY_LIMIT_BYTES, bad JSON on
 * every body route, security headers on every kind of response, the web
 * client at / with its CSP, and 5xx answers that never leak internals while
 * Redis or the shard is down. The outage tests run last: they stop and
 * restart parts of this file's cluster.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { uniqueLogin, DEFAULT_PASSWORD, type ApiResponse } from '../harness/index.js';
import { assertError, eventually, ok, TEST_TIMEOUT_MS, useCluster } from './helpers.js';

const BODY_LIMIT = 4096;
const suite = useCluster({ env: { BODY_LIMIT_BYTES: String(BODY_LIMIT) } });
const opts = { timeout: TEST_TIMEOUT_MS };

type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
const METHODS: Method[] = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'];

/** Every REST route of API.md with its methods (path parameters filled with harmless values). */
const ROUTES: [string, Method[]][] = [
  ['/register', ['POST']],
  ['/login', ['POST']],
  ['/logout', ['POST']],
  ['/me', ['GET']],
  ['/chats', ['GET']],
  ['/users', ['GET']],
  ['/dialog/someone', ['GET']],
  ['/groups', ['POST']],
  ['/group/abc', ['GET']],
  ['/group/abc/members', ['GET', 'POST']],
  ['/group/abc/members/someone', ['DELETE']],
  ['/user/active/update', ['POST']],
  ['/user/active/someone', ['GET']],
];

function assertSecurityHeaders(res: ApiResponse, what: string): void {
  assert.equal(res.headers.get('x-content-type-options'), 'nosniff', `${what}: nosniff`);
  const csp = res.headers.get('content-security-policy') ?? '';
  assert.match(csp, /frame-ancestors 'none'/, `${what}: never framed (${csp})`);
}

/** A 5xx answer that says nothing about the inside: the generic JSON body only. */
function assertOpaque5xx(res: ApiResponse, what: string): void {
  assert.ok(res.status >= 500 && res.status <= 599, `${what}: ${res.status} ${res.text}`);
  assert.match(res.headers.get('content-type') ?? '', /^application\/json/, what);
  const body = res.json as { error: { code: string; message: string } };
  assert.deepEqual(Object.keys(body), ['error'], what);
  assert.deepEqual(Object.keys(body.error).sort(), ['code', 'message'], what);
  assert.ok(['internal', 'unavailable'].includes(body.error.code), `${what}: ${res.text}`);
  for (const leak of [
    /\bat \S+ \(/,
    /\.js:\d+/,
    /\.ts:\d+/,
    /node_modules/,
    /\/work\//,
    /ECONN/,
    /Error:/,
    /stack/i,
  ]) {
    assert.doesNotMatch(res.text, leak, `${what} leaks ${leak}: ${res.text}`);
  }
  assertSecurityHeaders(res, what);
}

describe('unknown routes and wrong methods', () => {
  test('404 with the JSON error body for anything not routed, never HTML', opts, async () => {
    const user = await suite.http.register(uniqueLogin('nf'));
    const paths = [
      '/nope',
      '/api/chats',
      '/chats/extra',
      '/me/',
      '/dialog',
      '/dialog/',
      '/dialog/someone/extra',
      '/group',
      '/group/abc/members/someone/extra',
      '/user/active',
      '/users/x',
      '/index.htm',
      '/assets/nope.js',
      '/some/deep/client/route',
      '/favicon.ico.bak',
      '/%00',
    ];
    for (const path of paths) {
      for (const method of ['GET', 'POST', 'DELETE'] as const) {
        const res = await suite.http.request(method, path, { token: user.token });
        assertError(res, 404, 'not_found', undefined, `${method} ${path}`);
        assert.doesNotMatch(res.text, /<html/i, `${method} ${path} is not HTML`);
        assertSecurityHeaders(res, `${method} ${path}`);
      }
    }
  });

  test('405 with Allow on every route for every other method, before authentication', opts, async () => {
    for (const [path, allowed] of ROUTES) {
      for (const method of METHODS) {
        if (allowed.includes(method)) continue;
        // GET /user/active/update could read as the presence of a user named "update": the
        // static route wins (405), as in the original API.
        const res = await suite.http.request(method, path);
        assertError(res, 405, 'method_not_allowed', undefined, `${method} ${path}`);
        const allow = (res.headers.get('allow') ?? '')
          .split(',')
          .map((m) => m.trim())
          .filter(Boolean)
          .sort();
        assert.deepEqual(allow, [...allowed].sort(), `${method} ${path}: Allow`);
        assertSecurityHeaders(res, `${method} ${path}`);
      }
    }
  });
});

describe('bodies', () => {
  test(
    '413 over BODY_LIMIT_BYTES, with or without Content-Length; the limit itself is accepted',
    opts,
    async () => {
      const user = await suite.http.register(uniqueLogin('big'));
      const big = JSON.stringify({ login: 'x', password: 'y'.repeat(BODY_LIMIT) });
      for (const path of ['/register', '/login', '/groups', '/group/abc/members', '/logout']) {
        const res = await suite.http.request('POST', path, { token: user.token, body: big });
        assertError(res, 413, 'payload_too_large', undefined, `POST ${path}`);
        assertSecurityHeaders(res, `413 ${path}`);
      }

      // Chunked (no Content-Length): the limit holds while reading.
      const chunks = [
        new TextEncoder().encode(big.slice(0, 3000)),
        new TextEncoder().encode(big.slice(3000)),
      ];
      const stream = new ReadableStream<Uint8Array>({
        start(controller) {
          for (const c of chunks) controller.enqueue(c);
          controller.close();
        },
      });
      const chunked = await fetch(`${suite.http.baseUrl}/register`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: stream,
        duplex: 'half',
      } as RequestInit);
      const text = await chunked.text();
      assert.equal(chunked.status, 413, text);
      assert.equal((JSON.parse(text) as { error: { code: string } }).error.code, 'payload_too_large');

      // A body of exactly the limit is read and handled.
      const login = uniqueLogin('edge');
      const base = JSON.stringify({ login, username: 'Edge', password: DEFAULT_PASSWORD });
      const exact = base.slice(0, -1) + ' '.repeat(BODY_LIMIT - base.length) + '}';
      assert.equal(Buffer.byteLength(exact), BODY_LIMIT);
      assert.deepEqual(ok(await suite.http.request('POST', '/register', { body: exact })), {
        login,
        username: 'Edge',
      });
      // And the gateway keeps serving after refusing big bodies.
      assert.equal(
        ok(await suite.http.request<{ login: string }>('GET', '/me', { token: user.token })).login,
        user.login,
      );
    },
  );

  test('400 invalid_json on every route that takes a body', opts, async () => {
    const owner = await suite.http.register(uniqueLogin('bj'));
    const created = await suite.http.request<{ id: string }>('POST', '/groups', {
      token: owner.token,
      body: { name: 'Bodies' },
    });
    const id = ok(created, 201).id;
    for (const path of ['/register', '/login', '/groups', `/group/${id}/members`]) {
      for (const body of ['{', '{"a": }', "{'single': 1}", '\u0000', '[]', 'true']) {
        const res = await suite.http.request('POST', path, { token: owner.token, body });
        assertError(res, 400, 'invalid_json', undefined, `POST ${path} ${JSON.stringify(body)}`);
      }
    }
  });
});

describe('headers and the web client', () => {
  test('JSON responses: content type and security headers on 200, 201, 204, 4xx', opts, async () => {
    const user = await suite.http.register(uniqueLogin('hd'));
    const responses: [string, ApiResponse][] = [
      ['200 /me', await suite.http.request('GET', '/me', { token: user.token })],
      [
        '201 /groups',
        await suite.http.request('POST', '/groups', { token: user.token, body: { name: 'H' } }),
      ],
      [
        '204 /user/active/update',
        await suite.http.request('POST', '/user/active/update', { token: user.token }),
      ],
      ['400 /groups', await suite.http.request('POST', '/groups', { token: user.token, body: {} })],
      ['401 /chats', await suite.http.request('GET', '/chats')],
      ['404 /nope', await suite.http.request('GET', '/nope')],
    ];
    for (const [what, res] of responses) {
      assertSecurityHeaders(res, what);
      if (res.status !== 204)
        assert.equal(res.headers.get('content-type'), 'application/json; charset=utf-8', what);
    }
  });

  test('the web client is served at / with a Content-Security-Policy; its assets load', opts, async () => {
    for (const path of ['/', '/index.html']) {
      const res = await suite.http.request('GET', path);
      assert.equal(res.status, 200, `${path}: ${res.status}`);
      assert.match(res.headers.get('content-type') ?? '', /^text\/html/);
      assert.match(res.text, /<!doctype html>/i);
      assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
      const csp = res.headers.get('content-security-policy') ?? '';
      assert.match(csp, /default-src 'self'/, csp);
      assert.match(csp, /frame-ancestors 'none'/, csp);
      const scriptSrc = /script-src ([^;]*)/.exec(csp)?.[1] ?? /default-src ([^;]*)/.exec(csp)![1]!;
      assert.doesNotMatch(scriptSrc, /unsafe-inline|unsafe-eval|\*/, `no inline or foreign scripts: ${csp}`);
    }
    const index = (await suite.http.request('GET', '/')).text;
    const assets = [...index.matchAll(/(?:src|href)="(\/assets\/[^"]+)"/g)].map((m) => m[1]!);
    assert.ok(assets.length > 0, 'index.html references its assets');
    for (const asset of assets) {
      const res = await suite.http.request('GET', asset);
      assert.equal(res.status, 200, asset);
      assert.match(res.headers.get('content-type') ?? '', /^(text\/javascript|text\/css)/, asset);
      assert.equal(res.headers.get('x-content-type-options'), 'nosniff', asset);
    }
  });
});

describe('5xx answers never leak internals (outage tests, last)', () => {
  test(
    'shard down: 5xx JSON without a stack trace; the first call after its restart succeeds',
    opts,
    async () => {
      const [alice, bob] = await Promise.all([
        suite.http.register(uniqueLogin('sd')),
        suite.http.register(uniqueLogin('sd')),
      ]);
      const shard = suite.cluster.shards[0]!;
      await suite.cluster.kill(shard, 'SIGKILL');
      try {
        // Each call keeps retrying for the gateway's call deadline (10 s) before it answers 503,
        // so the shard stays down for about 20 s: long enough for reconnection backoff to grow.
        const res = await suite.http.request('GET', `/dialog/${bob.login}`, { token: alice.token });
        assertOpaque5xx(res, 'GET /dialog with the shard down');
        const created = await suite.http.request('POST', '/groups', {
          token: alice.token,
          body: { name: 'Down' },
        });
        assertOpaque5xx(created, 'POST /groups with the shard down');
      } finally {
        await suite.cluster.restart(shard);
      }
      // Ready again: the gateway reconnects within its call deadline.
      const res = await suite.http.request('GET', `/dialog/${bob.login}`, { token: alice.token });
      assert.equal(res.status, 200, `first call after the shard restarted: ${res.status} ${res.text}`);
    },
  );

  test('Redis down: 500 with the generic body only; recovers when Redis is back', opts, async () => {
    const user = await suite.http.register(uniqueLogin('rd'));
    const other = await suite.http.register(uniqueLogin('rd'));
    await suite.cluster.redis.stop();
    try {
      // Sessions live in Redis; this token was never resolved by the gateway, so nothing is cached.
      const me = await suite.http.request('GET', '/me', { token: user.token });
      assertOpaque5xx(me, 'GET /me with Redis down');
      const login = await suite.http.request('POST', '/login', {
        body: { login: other.login, password: DEFAULT_PASSWORD },
      });
      assertOpaque5xx(login, 'POST /login with Redis down');
    } finally {
      await suite.cluster.redis.restart();
    }
    await eventually(
      'GET /me works again',
      async () => {
        const res = await suite.http.request('GET', '/me', { token: user.token });
        return res.status === 200 ? true : undefined;
      },
      30_000,
      250,
    );
  });
});
