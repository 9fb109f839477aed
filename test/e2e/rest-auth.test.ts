/**
 * API.md "Authentication" end to end: POST /register, /login, /logout and
 * GET /me through a real gateway, shard, presence, relay and redis-server.
 * The cluster allows 3 login attempts per login and minute, so the throttling
 * test is quick; every other test uses its own logins and stays below it.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { expectUpgradeRefused, uniqueLogin, DEFAULT_PASSWORD, type ApiResponse } from '../harness/index.js';
import { assertError, ok, TEST_TIMEOUT_MS, useCluster } from './helpers.js';

const LOGIN_RATE_LIMIT = 3;
const LOGIN_RATE_LIMIT_IP = 40;
// Behind a (pretend) TLS proxy: X-Forwarded-Proto decides Secure, X-Forwarded-For the client address.
// Requests without those headers are plain HTTP from 127.0.0.1.
const suite = useCluster({
  env: {
    LOGIN_RATE_LIMIT: String(LOGIN_RATE_LIMIT),
    LOGIN_RATE_LIMIT_IP: String(LOGIN_RATE_LIMIT_IP),
    TRUST_PROXY: 'true',
  },
});
const opts = { timeout: TEST_TIMEOUT_MS };

interface UserBody {
  login: string;
  username: string;
}

/** The sessionToken Set-Cookie of a response: its value and attributes (lower-case names). */
function sessionCookie(res: ApiResponse): { value: string; attrs: Map<string, string> } {
  const cookies = res.headers.getSetCookie().filter((c) => c.startsWith('sessionToken='));
  assert.equal(cookies.length, 1, `one sessionToken cookie: ${res.headers.getSetCookie().join(' | ')}`);
  const [pair, ...rest] = cookies[0]!.split(';');
  const attrs = new Map<string, string>();
  for (const part of rest) {
    const [k, ...v] = part.trim().split('=');
    attrs.set(k!.toLowerCase(), v.join('='));
  }
  return { value: pair!.slice('sessionToken='.length), attrs };
}

function assertSessionCookieFlags(res: ApiResponse): string {
  const { value, attrs } = sessionCookie(res);
  assert.ok(attrs.has('httponly'), 'HttpOnly');
  assert.equal(attrs.get('samesite')?.toLowerCase(), 'lax', 'SameSite=Lax');
  assert.equal(attrs.get('path'), '/', 'Path=/');
  assert.match(attrs.get('max-age') ?? '', /^[1-9]\d*$/, 'a positive Max-Age');
  assert.ok(!attrs.has('secure'), 'not Secure on plain HTTP without a TLS proxy');
  // At least 128 bits: 22 base64url characters or 32 hex digits.
  assert.match(value, /^[A-Za-z0-9_-]{22,}$/, 'an opaque URL-safe token of at least 128 bits');
  return value;
}

function register(body: unknown): Promise<ApiResponse<UserBody>> {
  return suite.http.request<UserBody>('POST', '/register', { body });
}

function login(body: unknown): Promise<ApiResponse<UserBody>> {
  return suite.http.request<UserBody>('POST', '/login', { body });
}

function me(auth: { token?: string; cookie?: string }): Promise<ApiResponse<UserBody>> {
  return suite.http.request<UserBody>('GET', '/me', auth);
}

describe('POST /register', () => {
  test('200: registers and logs in, body {login, username}, session cookie flags', opts, async () => {
    const name = uniqueLogin('reg');
    const res = await register({ login: name, username: 'Alice A.', password: DEFAULT_PASSWORD });
    assert.deepEqual(ok(res), { login: name, username: 'Alice A.' });
    assert.equal(res.headers.get('content-type'), 'application/json; charset=utf-8');
    const token = assertSessionCookieFlags(res);

    assert.deepEqual(ok(await me({ cookie: `sessionToken=${token}` })), {
      login: name,
      username: 'Alice A.',
    });
    assert.deepEqual(ok(await me({ token })), { login: name, username: 'Alice A.' });
  });

  test('login is stored and returned in canonical lower case', opts, async () => {
    const lower = uniqueLogin('case');
    const mixed = `CaSe${lower.slice(4)}`.replace(/[a-f]/g, (c) => c.toUpperCase());
    assert.notEqual(mixed, lower);
    const res = await register({ login: mixed, username: 'Mixed', password: DEFAULT_PASSWORD });
    assert.deepEqual(ok(res), { login: lower, username: 'Mixed' });
    assert.equal(ok(await me({ token: sessionCookie(res).value })).login, lower);
    // Either spelling logs in, and the answer is the canonical login.
    assert.equal(ok(await login({ login: lower, password: DEFAULT_PASSWORD })).login, lower);
    assert.equal(ok(await login({ login: lower.toUpperCase(), password: DEFAULT_PASSWORD })).login, lower);
  });

  test('400 invalid_json: malformed, empty or non-object bodies', opts, async () => {
    for (const body of ['{"login": "x",', '', 'not json', '[]', '"text"', 'null', '42', '{"a":1}}']) {
      assertError(await register(body), 400, 'invalid_json', undefined, `body ${JSON.stringify(body)}`);
    }
    const noBody = await suite.http.request('POST', '/register');
    assertError(noBody, 400, 'invalid_json', undefined, 'no body at all');
  });

  test('400 invalid_field login: charset and 3–32 characters; edges accepted', opts, async () => {
    const base = { username: 'Someone', password: DEFAULT_PASSWORD };
    const bad: unknown[] = [
      undefined,
      null,
      42,
      ['abc'],
      '',
      'ab',
      'a'.repeat(33),
      'has space',
      'colon:x',
      'slash/x',
      'at@sign',
      'plus+x',
      'ünïcode',
      'tab\tx',
      ' lead',
      'emoji😀x',
    ];
    for (const value of bad) {
      const body = value === undefined ? base : { ...base, login: value };
      assertError(await register(body), 400, 'invalid_field', 'login', `login ${JSON.stringify(value)}`);
    }
    // The edges are valid: 3 and 32 characters, and every allowed punctuation character
    // (each cluster has a fresh database, so a random 3-character login is free).
    const three = uniqueLogin('').slice(0, 3);
    const long = uniqueLogin('l').padEnd(32, 'x');
    const punct = `${uniqueLogin('p')}_.-`;
    for (const value of [three, long, punct]) {
      assert.equal(ok(await register({ ...base, login: value }), 200, `login ${value}`).login, value);
    }
    assert.equal(long.length, 32);
  });

  test(
    '400 invalid_field username: 1–64 characters after trimming, no control characters',
    opts,
    async () => {
      const bad: unknown[] = [
        undefined,
        null,
        7,
        { name: 'x' },
        '',
        '   ',
        '\t \n',
        'x'.repeat(65),
        '😀'.repeat(65),
        'bell\u0007',
        'line\nbreak',
        'nul\u0000',
        'del\u007f',
        'c1\u0085control',
      ];
      for (const value of bad) {
        const body: Record<string, unknown> = { login: uniqueLogin('un'), password: DEFAULT_PASSWORD };
        if (value !== undefined) body.username = value;
        assertError(
          await register(body),
          400,
          'invalid_field',
          'username',
          `username ${JSON.stringify(value)}`,
        );
      }
      const accepted: [string, string][] = [
        ['x', 'x'],
        ['  Alice  ', 'Alice'],
        ['y'.repeat(64), 'y'.repeat(64)],
        [`  ${'z'.repeat(64)}  `, 'z'.repeat(64)],
        // 64 Unicode characters (code points), 128 UTF-16 units.
        ['😀'.repeat(64), '😀'.repeat(64)],
        ['Zoë Ünïcode 名前', 'Zoë Ünïcode 名前'],
      ];
      for (const [input, stored] of accepted) {
        const name = uniqueLogin('un');
        const res = await register({ login: name, username: input, password: DEFAULT_PASSWORD });
        assert.deepEqual(ok(res, 200, `username ${JSON.stringify(input)}`), {
          login: name,
          username: stored,
        });
        assert.equal(ok(await me({ token: sessionCookie(res).value })).username, stored);
      }
    },
  );

  test('400 invalid_field password: 8–128 characters', opts, async () => {
    const bad: unknown[] = [undefined, null, 12345678, ['12345678'], '', 'seven77', 'p'.repeat(129)];
    for (const value of bad) {
      const body: Record<string, unknown> = { login: uniqueLogin('pw'), username: 'P' };
      if (value !== undefined) body.password = value;
      assertError(
        await register(body),
        400,
        'invalid_field',
        'password',
        `password ${JSON.stringify(value)}`,
      );
    }
    for (const password of ['8chars!!', 'p'.repeat(128), '😀'.repeat(8)]) {
      const name = uniqueLogin('pw');
      ok(
        await register({ login: name, username: 'P', password }),
        200,
        `password of ${password.length} units`,
      );
      ok(await login({ login: name, password }), 200, 'logs in with it');
    }
  });

  test('a rejected registration creates nothing', opts, async () => {
    const name = uniqueLogin('rej');
    assertError(await register({ login: name, username: 'R', password: 'short' }), 400, 'invalid_field');
    assertError(
      await register({ login: name, username: '', password: DEFAULT_PASSWORD }),
      400,
      'invalid_field',
    );
    assertError(await login({ login: name, password: 'short' }), 401, 'invalid_credentials');
    assert.deepEqual(ok(await register({ login: name, username: 'R', password: DEFAULT_PASSWORD })), {
      login: name,
      username: 'R',
    });
  });

  test(
    '409 login_taken, also when the login differs only in case; the first account is untouched',
    opts,
    async () => {
      const name = uniqueLogin('taken');
      ok(await register({ login: name, username: 'First', password: DEFAULT_PASSWORD }));
      for (const again of [name, name.toUpperCase(), name[0]!.toUpperCase() + name.slice(1)]) {
        const res = await register({ login: again, username: 'Second', password: 'another password' });
        assertError(res, 409, 'login_taken', undefined, `register ${again}`);
        assert.equal(res.headers.getSetCookie().length, 0, 'no session for a refused registration');
      }
      assert.deepEqual(ok(await login({ login: name, password: DEFAULT_PASSWORD })), {
        login: name,
        username: 'First',
      });
      assertError(await login({ login: name, password: 'another password' }), 401, 'invalid_credentials');
    },
  );
});

describe('POST /login', () => {
  test('200: body {login, username}, a new session cookie; every session works', opts, async () => {
    const registered = await suite.http.register(uniqueLogin('li'), DEFAULT_PASSWORD, 'Log In');
    const res = await login({ login: registered.login, password: DEFAULT_PASSWORD });
    assert.deepEqual(ok(res), { login: registered.login, username: 'Log In' });
    const token = assertSessionCookieFlags(res);
    assert.notEqual(token, registered.token, 'a fresh token per login');
    assert.equal(ok(await me({ token })).login, registered.login);
    assert.equal(ok(await me({ token: registered.token })).login, registered.login);
  });

  test(
    '401 invalid_credentials: identical answers for an unknown login and a wrong password',
    opts,
    async () => {
      const user = await suite.http.register(uniqueLogin('cred'));
      const unknown = await login({ login: uniqueLogin('nobody'), password: DEFAULT_PASSWORD });
      const wrong = await login({ login: user.login, password: 'wrong password!' });
      const malformed = await login({ login: 'x', password: DEFAULT_PASSWORD });
      for (const res of [unknown, wrong, malformed]) {
        assertError(res, 401, 'invalid_credentials', null);
        assert.equal(res.headers.getSetCookie().length, 0, 'no cookie on failure');
      }
      assert.equal(unknown.text, wrong.text, 'same body whether or not the login exists');
      assert.equal(malformed.text, wrong.text);
      assert.equal(unknown.headers.get('content-type'), wrong.headers.get('content-type'));
    },
  );

  test('400: malformed body, missing or non-string fields', opts, async () => {
    for (const body of ['{', '', '[1]', 'null']) {
      assertError(await login(body), 400, 'invalid_json', undefined, `body ${JSON.stringify(body)}`);
    }
    const name = uniqueLogin('lb');
    assertError(await login({ password: DEFAULT_PASSWORD }), 400, 'invalid_field', 'login');
    assertError(await login({ login: 5, password: DEFAULT_PASSWORD }), 400, 'invalid_field', 'login');
    assertError(await login({ login: name }), 400, 'invalid_field', 'password');
    assertError(await login({ login: name, password: ['x'] }), 400, 'invalid_field', 'password');
  });

  test('429 with Retry-After after too many attempts for one login, whatever the case', opts, async () => {
    const user = await suite.http.register(uniqueLogin('thr'));
    const attempts = [user.login, user.login, user.login.toUpperCase()];
    assert.equal(attempts.length, LOGIN_RATE_LIMIT);
    for (const spelling of attempts) {
      assertError(await login({ login: spelling, password: 'not the password' }), 401, 'invalid_credentials');
    }
    // Over the limit: refused before the password is even checked, the right one included.
    const throttled = await login({ login: user.login, password: DEFAULT_PASSWORD });
    assertError(throttled, 429, 'rate_limited');
    const retryAfter = Number(throttled.headers.get('retry-after'));
    assert.ok(
      Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= 60,
      `Retry-After ${retryAfter}`,
    );
    assert.equal(throttled.headers.getSetCookie().length, 0);
    assertError(
      await login({ login: user.login.toUpperCase(), password: DEFAULT_PASSWORD }),
      429,
      'rate_limited',
    );

    // The limit is per login: another user from the same address logs in, and the
    // throttled user's existing session keeps working.
    const other = await suite.http.register(uniqueLogin('thr'));
    ok(await login({ login: other.login, password: DEFAULT_PASSWORD }));
    assert.equal(ok(await me({ token: user.token })).login, user.login);
  });
});

describe('behind a TLS proxy', () => {
  test('the session cookie is Secure when the proxy says the client used https', opts, async () => {
    const https = { 'x-forwarded-proto': 'https' };
    const name = uniqueLogin('tls');
    const reg = await suite.http.request('POST', '/register', {
      body: { login: name, username: 'TLS', password: DEFAULT_PASSWORD },
      headers: https,
    });
    ok(reg);
    const { attrs } = sessionCookie(reg);
    assert.ok(attrs.has('secure'), 'Secure');
    assert.ok(attrs.has('httponly'));
    assert.equal(attrs.get('samesite')?.toLowerCase(), 'lax');
    assert.equal(attrs.get('path'), '/');

    const plain = await suite.http.request('POST', '/login', {
      body: { login: name, password: DEFAULT_PASSWORD },
      headers: { 'x-forwarded-proto': 'http' },
    });
    assert.ok(!sessionCookie(plain).attrs.has('secure'), 'not Secure over plain http');

    const out = await suite.http.request('POST', '/logout', {
      token: sessionCookie(reg).value,
      headers: https,
    });
    assert.equal(out.status, 204);
    assert.ok(sessionCookie(out).attrs.has('secure'), 'the clearing cookie matches');
  });

  test('429 with Retry-After after too many login attempts from one client address', opts, async () => {
    const user = await suite.http.register(uniqueLogin('ip'));
    // One X-Forwarded-For value, as the bundled HAProxy sends it (it drops the client's own).
    const from = (address: string) => ({ 'x-forwarded-for': address });
    // Different unknown logins, so only the per-address limit can trip.
    for (let i = 0; i < LOGIN_RATE_LIMIT_IP; i++) {
      const res = await suite.http.request('POST', '/login', {
        body: { login: uniqueLogin('ip'), password: DEFAULT_PASSWORD },
        headers: from('203.0.113.7'),
      });
      assertError(res, 401, 'invalid_credentials', undefined, `attempt ${i + 1}`);
    }
    const throttled = await suite.http.request('POST', '/login', {
      body: { login: user.login, password: DEFAULT_PASSWORD },
      headers: from('203.0.113.7'),
    });
    assertError(throttled, 429, 'rate_limited');
    assert.match(throttled.headers.get('retry-after') ?? '', /^[1-9]\d*$/);
    // The same user from another address is not affected.
    const elsewhere = await suite.http.request<UserBody>('POST', '/login', {
      body: { login: user.login, password: DEFAULT_PASSWORD },
      headers: from('198.51.100.23'),
    });
    assert.equal(ok(elsewhere).login, user.login);
  });
});

describe('POST /logout', () => {
  test('204, clears the cookie, and that token stops working everywhere', opts, async () => {
    const user = await suite.http.register(uniqueLogin('lo'));
    const second = await suite.http.login(user.login);
    // A browser's logout: the cookie, and the page's own origin.
    const res = await suite.http.request('POST', '/logout', {
      cookie: user.cookie,
      headers: { origin: suite.gateway.url },
    });
    assert.equal(res.status, 204);
    assert.equal(res.text, '');
    const cleared = sessionCookie(res);
    assert.equal(cleared.value, '');
    assert.equal(cleared.attrs.get('max-age'), '0');
    assert.equal(cleared.attrs.get('path'), '/');
    assert.ok(cleared.attrs.has('httponly'));

    assertError(await me({ cookie: user.cookie }), 401, 'unauthorized');
    assertError(await me({ token: user.token }), 401, 'unauthorized');
    assert.equal(
      await expectUpgradeRefused(`${suite.gateway.wsUrl}/chats/ws`, { token: user.token }),
      401,
      'the revoked token cannot open a socket either',
    );
    assertError(await suite.http.request('POST', '/logout', { token: user.token }), 401, 'unauthorized');
    // Only the presented session is revoked.
    assert.equal(ok(await me({ token: second.token })).login, user.login);
    assert.equal((await suite.http.request('POST', '/logout', { token: second.token })).status, 204);
    assertError(await me({ token: second.token }), 401, 'unauthorized');
  });

  test('401 without a valid session', opts, async () => {
    assertError(await suite.http.request('POST', '/logout'), 401, 'unauthorized');
    assertError(await suite.http.request('POST', '/logout', { token: 'x'.repeat(43) }), 401, 'unauthorized');
    assertError(
      await suite.http.request('POST', '/logout', {
        cookie: 'sessionToken=nonsense',
        headers: { origin: suite.gateway.url },
      }),
      401,
      'unauthorized',
    );
  });
});

describe('GET /me', () => {
  test('200 with the cookie or a Bearer token', opts, async () => {
    const user = await suite.http.register(uniqueLogin('me'), DEFAULT_PASSWORD, 'Me Myself');
    const expected = { login: user.login, username: 'Me Myself' };
    assert.deepEqual(ok(await me({ cookie: user.cookie })), expected);
    assert.deepEqual(ok(await me({ cookie: `theme=dark; ${user.cookie}; lang=en` })), expected);
    assert.deepEqual(ok(await me({ token: user.token })), expected);
    const lowerScheme = await suite.http.request('GET', '/me', {
      headers: { authorization: `bearer ${user.token}` },
    });
    assert.deepEqual(ok(lowerScheme), expected, 'the auth scheme is case-insensitive');
  });

  test('401 without a valid session', opts, async () => {
    const user = await suite.http.register(uniqueLogin('me'));
    const cases: [string, { token?: string; cookie?: string; headers?: Record<string, string> }][] = [
      ['nothing', {}],
      ['unknown bearer', { token: 'A'.repeat(43) }],
      ['unknown cookie', { cookie: `sessionToken=${'B'.repeat(43)}` }],
      ['empty cookie', { cookie: 'sessionToken=' }],
      ['token of another cookie name', { cookie: `session=${user.token}` }],
      ['basic auth', { headers: { authorization: `Basic ${user.token}` } }],
      ['oversized token', { token: 'C'.repeat(5000) }],
    ];
    for (const [what, auth] of cases) assertError(await me(auth), 401, 'unauthorized', undefined, what);
  });
});
