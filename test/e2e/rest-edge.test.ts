/**
 * The browser-facing edge end to end: state-changing requests take JSON
 * bodies only (415), requests that use the session cookie and the session
 * routes' browser requests come from an allowed origin (403), Bearer scripts
 * without an Origin work as before, the web client's CSP names its own
 * sockets only, no response names the server's library, and a logout is
 * answered only once no gateway accepts the token. Two gateways, real Redis.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import WebSocket from 'ws';
import {
  api,
  connectWs,
  DEFAULT_PASSWORD,
  expectUpgradeRefused,
  uniqueLogin,
  type ApiResponse,
  type Session,
} from '../harness/index.js';
import { assertError, ok, TEST_TIMEOUT_MS, useCluster } from './helpers.js';

/** A third-party origin the cluster is configured to trust (ALLOWED_ORIGINS). */
const PARTNER = 'https://partner.example.test';
const suite = useCluster({
  gateways: 2,
  env: { ALLOWED_ORIGINS: PARTNER, LOGIN_RATE_LIMIT: '1000' },
});
const opts = { timeout: TEST_TIMEOUT_MS };

/** The page origin of the first gateway, as a browser there sends it. */
const own = () => suite.gateway.url;
/** Another port of the same host: same site, another origin. */
const sibling = () => 'http://127.0.0.1:1';

async function groupNames(user: Session): Promise<string[]> {
  const chats = ok(
    await suite.http.request<{ type: string; name: string }[]>('GET', '/chats', { token: user.token }),
  );
  return chats.filter((c) => c.type === 'group').map((c) => c.name);
}

describe('415 for bodies that are not application/json', () => {
  const OTHER_TYPES = [
    'text/plain',
    'text/plain;charset=UTF-8',
    'application/x-www-form-urlencoded',
    'multipart/form-data; boundary=----x',
    'text/json',
    'application/jsonx',
  ];

  test('on every route that takes a body, whatever the body says; nothing changes', opts, async () => {
    const owner = await suite.http.register(uniqueLogin('mt'));
    const created = ok(
      await suite.http.request<{ id: string }>('POST', '/groups', {
        token: owner.token,
        body: { name: 'Types' },
      }),
      201,
    );
    const login = uniqueLogin('mtnew');
    const bodies: [string, string][] = [
      ['/register', JSON.stringify({ login, username: 'New', password: DEFAULT_PASSWORD })],
      ['/login', JSON.stringify({ login: owner.login, password: DEFAULT_PASSWORD })],
      ['/groups', JSON.stringify({ name: 'Never created' })],
      [`/group/${created.id}/members`, JSON.stringify({ login: owner.login })],
      ['/logout', '{}'],
      ['/user/active/update', '{}'],
    ];
    for (const [path, body] of bodies) {
      for (const type of OTHER_TYPES) {
        const res = await suite.http.request('POST', path, {
          token: owner.token,
          body,
          headers: { 'content-type': type },
        });
        assertError(res, 415, 'unsupported_media_type', null, `POST ${path} as ${type}`);
        assert.equal(res.headers.getSetCookie().length, 0, `POST ${path} as ${type}: no cookie`);
      }
    }
    // A body-less DELETE that names a content type is refused the same way.
    assertError(
      await suite.http.request('DELETE', `/group/${created.id}/members/${owner.login}`, {
        token: owner.token,
        headers: { 'content-type': 'text/plain' },
      }),
      415,
      'unsupported_media_type',
    );
    // Nothing happened: the login is free, the session alive, no group was added.
    assertError(
      await suite.http.request('POST', '/login', { body: { login, password: DEFAULT_PASSWORD } }),
      401,
      'invalid_credentials',
    );
    assert.equal(
      ok(await suite.http.request<{ login: string }>('GET', '/me', { token: owner.token })).login,
      owner.login,
    );
    assert.deepEqual(await groupNames(owner), ['Types']);
  });

  test(
    'application/json in any case and with parameters is accepted; body-less requests need no type',
    opts,
    async () => {
      const user = await suite.http.register(uniqueLogin('mj'));
      for (const type of [
        'application/json',
        'Application/JSON; charset=UTF-8',
        'application/json;charset=utf-8',
      ]) {
        const res = await suite.http.request('POST', '/groups', {
          token: user.token,
          body: JSON.stringify({ name: `G ${type}` }),
          headers: { 'content-type': type },
        });
        ok(res, 201, type);
      }
      // No body and no Content-Type, as the web client sends them.
      const active = await suite.http.request('POST', '/user/active/update', { token: user.token });
      assert.equal(active.status, 204, active.text);
      const out = await suite.http.request('POST', '/logout', { token: user.token });
      assert.equal(out.status, 204, out.text);
    },
  );
});

describe('cross-origin requests with the session cookie are refused', () => {
  test(
    'cookie writes need an allowed Origin (or Sec-Fetch-Site: same-origin); reads do not',
    opts,
    async () => {
      const user = await suite.http.register(uniqueLogin('co'));
      const create = (name: string, headers: Record<string, string>) =>
        suite.http.request('POST', '/groups', { cookie: user.cookie, body: { name }, headers });

      const refused: [string, Record<string, string>][] = [
        ['no Origin', {}],
        ['another port of the host', { origin: sibling() }],
        ['another site', { origin: 'http://localhost:9' }],
        ['an https page of the host', { origin: 'https://evil.example.test' }],
        ['Origin: null', { origin: 'null' }],
        ['Sec-Fetch-Site: same-site', { 'sec-fetch-site': 'same-site' }],
        ['Sec-Fetch-Site: cross-site', { 'sec-fetch-site': 'cross-site' }],
        ['Sec-Fetch-Site: none', { 'sec-fetch-site': 'none' }],
        [
          'an allowed Sec-Fetch-Site but a foreign Origin',
          { origin: sibling(), 'sec-fetch-site': 'same-origin' },
        ],
      ];
      for (const [what, headers] of refused) {
        assertError(await create(`refused: ${what}`, headers), 403, 'origin_not_allowed', null, what);
      }
      // Adding and removing members and logging out are guarded the same way.
      const groupId = ok(
        await suite.http.request<{ id: string }>('POST', '/groups', {
          token: user.token,
          body: { name: 'Mine' },
        }),
        201,
      ).id;
      assertError(
        await suite.http.request('POST', `/group/${groupId}/members`, {
          cookie: user.cookie,
          body: { login: user.login },
          headers: { origin: sibling() },
        }),
        403,
        'origin_not_allowed',
      );
      assertError(
        await suite.http.request('DELETE', `/group/${groupId}/members/${user.login}`, {
          cookie: user.cookie,
        }),
        403,
        'origin_not_allowed',
      );
      assertError(
        await suite.http.request('POST', '/logout', { cookie: user.cookie, headers: { origin: sibling() } }),
        403,
        'origin_not_allowed',
      );

      const allowed: [string, Record<string, string>][] = [
        ['its own origin', { origin: own() }],
        ['Sec-Fetch-Site: same-origin without Origin', { 'sec-fetch-site': 'same-origin' }],
        ['ALLOWED_ORIGINS', { origin: PARTNER }],
      ];
      for (const [what, headers] of allowed) ok(await create(`allowed: ${what}`, headers), 201, what);
      assert.deepEqual(
        (await groupNames(user)).sort(),
        ['Mine', ...allowed.map(([what]) => `allowed: ${what}`)].sort(),
        'only the allowed requests created groups',
      );
      // Reads are not refused: a page of another origin cannot read the answer anyway.
      assert.equal(
        ok(
          await suite.http.request<{ login: string }>('GET', '/me', {
            cookie: user.cookie,
            headers: { origin: sibling() },
          }),
        ).login,
        user.login,
      );
      // The same allow-list guards the WebSocket upgrade.
      const ws = await connectWs(`${suite.gateway.wsUrl}/chats/ws`, { cookie: user.cookie, origin: PARTNER });
      await ws.close();
      assert.equal(
        await expectUpgradeRefused(`${suite.gateway.wsUrl}/chats/ws`, {
          cookie: user.cookie,
          origin: sibling(),
        }),
        403,
      );
    },
  );

  test(
    'Bearer scripts without an Origin work as before; the Bearer token wins over a cookie',
    opts,
    async () => {
      const [alice, bob] = await Promise.all([
        suite.http.register(uniqueLogin('be')),
        suite.http.register(uniqueLogin('be')),
      ]);
      const created = ok(
        await suite.http.request<{ id: string; owner: string }>('POST', '/groups', {
          token: alice.token,
          body: { name: 'Scripted' },
        }),
        201,
      );
      assert.equal(created.owner, alice.login);
      // A script's cookie jar may still hold another session: the explicit header decides, no Origin needed.
      const both = ok(
        await suite.http.request<{ owner: string }>('POST', '/groups', {
          token: bob.token,
          cookie: alice.cookie,
          body: { name: 'Bob by header' },
        }),
        201,
      );
      assert.equal(both.owner, bob.login);
      const removed = await suite.http.request('DELETE', `/group/${created.id}/members/${alice.login}`, {
        token: alice.token,
      });
      assert.equal(removed.status, 204, removed.text);
      // A page of another origin cannot send Authorization without CORS, which the gateway never grants;
      // a request that names a foreign Origin is refused whatever its credential.
      assertError(
        await suite.http.request('POST', '/groups', {
          token: alice.token,
          body: { name: 'Foreign' },
          headers: { origin: sibling() },
        }),
        403,
        'origin_not_allowed',
      );
      const preflight = await suite.http.request('OPTIONS', '/groups', { headers: { origin: sibling() } });
      assert.equal(preflight.headers.get('access-control-allow-origin'), null, 'no CORS grant');
    },
  );

  test(
    '/login and /register refuse other origins, and scripts without an Origin still use them',
    opts,
    async () => {
      const user = await suite.http.register(uniqueLogin('lc'));
      const credentials = { login: user.login, password: DEFAULT_PASSWORD };
      for (const origin of [sibling(), 'http://localhost:9', 'null']) {
        const res = await suite.http.request('POST', '/login', { body: credentials, headers: { origin } });
        assertError(res, 403, 'origin_not_allowed', null, `login from ${origin}`);
        assert.equal(res.headers.getSetCookie().length, 0, 'no session cookie');
        const fresh = uniqueLogin('lcnew');
        const reg = await suite.http.request('POST', '/register', {
          body: { login: fresh, username: 'X', password: DEFAULT_PASSWORD },
          headers: { origin },
        });
        assertError(reg, 403, 'origin_not_allowed', null, `register from ${origin}`);
        assertError(
          await suite.http.request('POST', '/login', { body: { login: fresh, password: DEFAULT_PASSWORD } }),
          401,
          'invalid_credentials',
          null,
          'the refused registration created nothing',
        );
      }
      const crossSite = await suite.http.request('POST', '/login', {
        body: credentials,
        headers: { 'sec-fetch-site': 'cross-site' },
      });
      assertError(crossSite, 403, 'origin_not_allowed');
      // The page's own origin, and scripts that send no Origin (and may carry an old cookie).
      ok(await suite.http.request('POST', '/login', { body: credentials, headers: { origin: own() } }));
      ok(await suite.http.request('POST', '/login', { body: credentials, cookie: user.cookie }));
      ok(await suite.http.request('POST', '/login', { body: credentials }));
    },
  );
});

describe('response headers', () => {
  test('no response names the server library (no uWebSockets header)', opts, async () => {
    const user = await suite.http.register(uniqueLogin('vh'));
    const responses: [string, ApiResponse][] = [
      ['200 JSON', await suite.http.request('GET', '/me', { token: user.token })],
      ['404', await suite.http.request('GET', '/nope')],
      ['405', await suite.http.request('PUT', '/me')],
      [
        '415',
        await suite.http.request('POST', '/groups', {
          token: user.token,
          body: 'x',
          headers: { 'content-type': 'text/plain' },
        }),
      ],
      ['web client', await suite.http.request('GET', '/')],
    ];
    for (const [what, res] of responses) {
      assert.equal(res.headers.get('uwebsockets'), null, `${what}: ${[...res.headers.keys()].join(', ')}`);
      assert.equal(res.headers.get('server'), null, what);
    }
    // The WebSocket handshake too.
    const upgrade = await new Promise<Record<string, unknown>>((resolve, reject) => {
      const socket = new WebSocket(`${suite.gateway.wsUrl}/chats/ws?token=${user.token}`);
      socket.once('upgrade', (res) => resolve({ ...res.headers }));
      socket.once('open', () => socket.close());
      socket.once('error', reject);
    });
    assert.equal(upgrade.uwebsockets, undefined, JSON.stringify(upgrade));
  });

  test("the web client's CSP allows only its own origin's sockets", opts, async () => {
    for (const gateway of suite.cluster.gateways) {
      const res = await api(gateway.url).request('GET', '/');
      assert.equal(res.status, 200);
      const csp = res.headers.get('content-security-policy') ?? '';
      const connect = /(?:^|;)\s*connect-src ([^;]*)/.exec(csp)?.[1]?.trim().split(/\s+/);
      assert.deepEqual(connect, ["'self'", `ws://127.0.0.1:${gateway.port}`], csp);
      assert.doesNotMatch(csp, /(^|\s)(ws|wss|https?):(\s|;|$)/, `no bare scheme sources: ${csp}`);
      assert.doesNotMatch(csp, /\*/, `no wildcards: ${csp}`);
    }
  });
});

describe('logout', () => {
  test(
    'answers 204 only once no gateway accepts the token: alternating gateways right after logout',
    opts,
    async () => {
      const [gw1, gw2] = suite.cluster.gateways;
      const gateways = [api(gw1!.url), api(gw2!.url)];
      const user = await gateways[0]!.register(uniqueLogin('lo'));
      const ROUNDS = 40;
      for (let round = 0; round < ROUNDS; round++) {
        const session = await gateways[round % 2]!.login(user.login);
        // Both gateways have resolved (and cached) the session.
        for (const g of gateways)
          ok(await g.request('GET', '/me', { token: session.token }), 200, `round ${round}`);
        const out = await gateways[round % 2]!.request('POST', '/logout', { token: session.token });
        assert.equal(out.status, 204, `round ${round}: ${out.text}`);
        for (let i = 0; i < 6; i++) {
          const g = gateways[(round + 1 + i) % 2]!;
          assertError(
            await g.request('GET', '/me', { token: session.token }),
            401,
            'unauthorized',
            null,
            `round ${round}, request ${i} after the logout on gateway ${(round % 2) + 1}`,
          );
        }
      }
    },
  );

  test(
    'a gateway that cannot acknowledge holds the 204 back until its cached resolution has expired',
    opts,
    async () => {
      const [gw1, gw2] = suite.cluster.gateways;
      const a = api(gw1!.url);
      const b = api(gw2!.url);
      const user = await a.register(uniqueLogin('ls'));
      ok(await b.request('GET', '/me', { token: user.token }), 200, 'gateway 2 has the session cached');
      process.kill(gw2!.pid!, 'SIGSTOP');
      let elapsed: number;
      try {
        const started = Date.now();
        const out = await a.request('POST', '/logout', { token: user.token });
        elapsed = Date.now() - started;
        assert.equal(out.status, 204, out.text);
      } finally {
        process.kill(gw2!.pid!, 'SIGCONT');
      }
      // Gateway 2 cached the session for at most 5 s from its lookup, which came before the logout.
      assert.ok(elapsed >= 3000 && elapsed < 8000, `the logout waited ${elapsed} ms`);
      assertError(await b.request('GET', '/me', { token: user.token }), 401, 'unauthorized');
    },
  );
});
