/**
 * API.md "Presence" end to end: POST /user/active/update and
 * GET /user/active/{login}, with two gateways so that what one gateway
 * records is read through Redis and the presence service by the other.
 * PRESENCE_ACTIVE_WINDOW_MS is shortened from 60 s so that the expiry of a
 * socket-less client's activity is observed within the test.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { api, connectWs, uniqueLogin, type Api, type Session } from '../harness/index.js';
import {
  assertError,
  eventually,
  ok,
  registerAll,
  sleep,
  TEST_TIMEOUT_MS,
  TIME_RE,
  useCluster,
} from './helpers.js';

const ACTIVE_WINDOW_MS = 3000;
const suite = useCluster({ gateways: 2, env: { PRESENCE_ACTIVE_WINDOW_MS: String(ACTIVE_WINDOW_MS) } });
const opts = { timeout: TEST_TIMEOUT_MS };

interface Presence {
  user_login: string;
  is_online: boolean;
  last_seen: string | null;
}

/** HTTP client of the second gateway. */
let other: Api | undefined;
const second = (): Api => (other ??= api(suite.cluster.gateways[1]!.url));

async function presenceOf(via: Api, viewer: Session, login: string): Promise<Presence> {
  return ok(await via.request<Presence>('GET', `/user/active/${login}`, { token: viewer.token }));
}

async function markActive(via: Api, session: Session): Promise<void> {
  const res = await via.request('POST', '/user/active/update', { token: session.token });
  assert.equal(res.status, 204, res.text);
  assert.equal(res.text, '', '204 has no body');
}

describe('GET /user/active/{login}', () => {
  test('shape {user_login, is_online, last_seen}; never seen is offline with null', opts, async () => {
    const [alice, bob] = await registerAll(suite.http, [uniqueLogin('ga'), uniqueLogin('gb')]);
    const p = await presenceOf(suite.http, alice!, bob!.login);
    assert.deepEqual(p, { user_login: bob!.login, is_online: false, last_seen: null });
    // Logins are case-insensitive; the answer is canonical.
    assert.equal((await presenceOf(suite.http, alice!, bob!.login.toUpperCase())).user_login, bob!.login);
  });

  test('404 user_not_found, 400 for a login that cannot exist, 401 without a session', opts, async () => {
    const alice = await suite.http.register(uniqueLogin('ge'));
    const get = (login: string, token?: string) =>
      suite.http.request('GET', `/user/active/${login}`, token ? { token } : {});
    assertError(await get(uniqueLogin('ghost'), alice.token), 404, 'user_not_found');
    for (const bad of ['ab', 'x'.repeat(33), 'sp%20ace', '%C3%A9t%C3%A9']) {
      assertError(await get(bad, alice.token), 400, 'invalid_param', undefined, bad);
    }
    assertError(await get(alice.login), 401, 'unauthorized');
    assertError(await get(alice.login, 'forged'), 401, 'unauthorized');
  });
});

describe('POST /user/active/update', () => {
  test('204; 401 without a session', opts, async () => {
    const alice = await suite.http.register(uniqueLogin('ua'));
    await markActive(suite.http, alice);
    assertError(await suite.http.request('POST', '/user/active/update'), 401, 'unauthorized');
    assertError(
      await suite.http.request('POST', '/user/active/update', { token: 'forged' }),
      401,
      'unauthorized',
    );
  });

  test(
    'a socket-less client shows online on every gateway for the active window, then offline',
    opts,
    async () => {
      const [alice, bob] = await registerAll(suite.http, [uniqueLogin('sa'), uniqueLogin('sb')]);
      const before = Date.now();
      await markActive(suite.http, bob!);

      const here = await presenceOf(suite.http, alice!, bob!.login);
      assert.equal(here.is_online, true, 'online at once on the gateway that recorded it');
      assert.match(here.last_seen ?? '', TIME_RE);
      const there = await eventually('bob online via the other gateway', async () => {
        const p = await presenceOf(second(), alice!, bob!.login);
        return p.is_online ? p : undefined;
      });
      assert.match(there.last_seen ?? '', TIME_RE);
      assert.ok(Date.parse(there.last_seen!) >= before - 1000, `last_seen ${there.last_seen} is recent`);

      // The same answer in the other routes that carry presence.
      const users = ok(
        await second().request<{ login: string; is_online: boolean }[]>('GET', `/users?query=${bob!.login}`, {
          token: alice!.token,
        }),
      );
      assert.deepEqual(
        users.map((u) => [u.login, u.is_online]),
        [[bob!.login, true]],
      );
      const chats = ok(
        await second().request<{ id: string; is_online?: boolean }[]>('GET', '/chats?limit=1000', {
          token: alice!.token,
        }),
      );
      assert.equal(chats.find((c) => c.id === bob!.login)?.is_online, true);

      // Without another update the window ends and bob goes offline, keeping his last_seen.
      const offline = await eventually(
        'bob offline after the active window',
        async () => {
          const [a, b] = await Promise.all([
            presenceOf(suite.http, alice!, bob!.login),
            presenceOf(second(), alice!, bob!.login),
          ]);
          return !a.is_online && !b.is_online ? b : undefined;
        },
        ACTIVE_WINDOW_MS + 15_000,
      );
      assert.ok(Date.now() - before >= ACTIVE_WINDOW_MS - 100, 'not before the window ended');
      assert.match(offline.last_seen ?? '', TIME_RE);
      assert.ok(Date.parse(offline.last_seen!) >= before - 1000, 'last_seen is the last active moment');

      // A new update brings him back.
      await markActive(second(), bob!);
      assert.equal((await presenceOf(second(), alice!, bob!.login)).is_online, true);
    },
  );

  test('a WebSocket keeps a user online across gateways; closing it takes them offline', opts, async () => {
    const [alice, bob] = await registerAll(suite.http, [uniqueLogin('wa'), uniqueLogin('wb')]);
    const ws = await connectWs(`${suite.cluster.gateways[1]!.wsUrl}/chats/ws`, { token: bob!.token });
    try {
      await eventually('bob online via the first gateway', async () =>
        (await presenceOf(suite.http, alice!, bob!.login)).is_online ? true : undefined,
      );
      // Still online after the active window: the socket, not the activity, keeps him online.
      await sleep(ACTIVE_WINDOW_MS + 500);
      assert.equal((await presenceOf(suite.http, alice!, bob!.login)).is_online, true);
    } catch (err) {
      await ws.close();
      throw err;
    }
    const closedAt = Date.now();
    await ws.close();
    const offline = await eventually('bob offline after closing his only socket', async () => {
      const p = await presenceOf(suite.http, alice!, bob!.login);
      return p.is_online ? undefined : p;
    });
    assert.match(offline.last_seen ?? '', TIME_RE);
    assert.ok(Math.abs(Date.parse(offline.last_seen!) - closedAt) < 5000, `last_seen ${offline.last_seen}`);
  });
});
