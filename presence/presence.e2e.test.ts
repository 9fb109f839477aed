/**
 * Presence end to end: a cluster of real processes (two gateways, a shard,
 * presence) and WebSocket clients. user_status reaches the users API.md names
 * and nobody else, a page reload is silent, and a SIGKILLed gateway stops
 * keeping its users online once its lease expires.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { connectWs, uniqueLogin, type Session, type WsClient, type WsEvent } from '../test/harness/index.js';
import {
  chatsSocket,
  dialog,
  eventually,
  registerAll,
  sendMessage,
  sleep,
  TEST_TIMEOUT_MS,
  TIME_RE,
  useCluster,
} from '../test/e2e/helpers.js';

const DEBOUNCE_MS = 1000;
const LEASE_MS = 2000;
const suite = useCluster({
  gateways: 2,
  env: { PRESENCE_DEBOUNCE_MS: String(DEBOUNCE_MS), GATEWAY_LEASE_MS: String(LEASE_MS) },
});
const opts = { timeout: TEST_TIMEOUT_MS };

const statusOf =
  (login: string, online?: boolean) =>
  (e: WsEvent): boolean =>
    e.type === 'user_status' &&
    e.payload.user_login === login &&
    (online === undefined || e.payload.is_online === online);

async function presenceOf(
  viewer: Session,
  login: string,
): Promise<{ is_online: boolean; last_seen: string | null }> {
  const res = await suite.http.request<{ is_online: boolean; last_seen: string | null }>(
    'GET',
    `/user/active/${login}`,
    { token: viewer.token },
  );
  assert.equal(res.status, 200, res.text);
  return res.json!;
}

/** Registers users; `withDialog` pairs get a dialog with one message (so they are each other's audience). */
async function users(n: number, withDialog: [number, number][] = []): Promise<Session[]> {
  const sessions = await registerAll(
    suite.http,
    Array.from({ length: n }, () => uniqueLogin('pe')),
  );
  for (const [a, b] of withDialog) {
    const ws = await chatsSocket(suite.gateway, sessions[a]!);
    await sendMessage(ws, dialog(sessions[b]!.login), 'hi');
    await ws.close();
    // The setup socket's user goes offline only after the debounce; start from offline.
    await eventually('setup user offline', async () =>
      (await presenceOf(sessions[b]!, sessions[a]!.login)).is_online ? undefined : true,
    );
  }
  return sessions;
}

describe('user_status over WebSocket', () => {
  test('dialog peers and private group members hear it; others do not', opts, async () => {
    const [alice, bob, carol, dave] = await users(4, [[1, 0]]);
    // carol shares a private group with alice; dave shares nothing.
    const created = await suite.http.request<{ id: string }>('POST', '/groups', {
      token: carol!.token,
      body: { name: 'private', members: [alice!.login] },
    });
    assert.equal(created.status, 201, created.text);

    const gw1 = suite.cluster.gateways[0]!;
    const gw2 = suite.cluster.gateways[1]!;
    const watchers: WsClient[] = [
      await chatsSocket(gw1, bob!),
      await chatsSocket(gw2, carol!),
      await chatsSocket(gw2, dave!),
    ];
    try {
      const aliceWs = await chatsSocket(gw1, alice!);
      const [onBob, onCarol] = await Promise.all([
        watchers[0]!.next(statusOf(alice!.login, true), 10_000),
        watchers[1]!.next(statusOf(alice!.login, true), 10_000),
      ]);
      for (const e of [onBob, onCarol]) {
        assert.deepEqual(Object.keys(e.payload).sort(), ['is_online', 'last_seen', 'user_login']);
        assert.match(e.payload.last_seen ?? '', TIME_RE);
      }
      await aliceWs.close();
      const closedAt = Date.now();
      const offline = await watchers[0]!.next(statusOf(alice!.login, false), 10_000);
      await watchers[1]!.next(statusOf(alice!.login, false), 10_000);
      const lastSeen = Date.parse(offline.payload.last_seen!);
      assert.ok(
        Math.abs(lastSeen - closedAt) < 1000,
        `last_seen ${offline.payload.last_seen} is when she left`,
      );
      assert.equal(
        (await presenceOf(bob!, alice!.login)).last_seen,
        offline.payload.last_seen,
        'REST agrees',
      );
      await sleep(500);
      assert.ok(!watchers[2]!.events.some(statusOf(alice!.login)), 'dave shares nothing with alice');
    } finally {
      await Promise.all(watchers.map((w) => w.close()));
    }
  });

  test('a dialog open on /dialog/{login}/ws receives the peer status without any message', opts, async () => {
    const [alice, erin] = await users(2);
    const open = await connectWs(`${suite.cluster.gateways[1]!.wsUrl}/dialog/${alice!.login}/ws`, {
      token: erin!.token,
    });
    try {
      const aliceWs = await chatsSocket(suite.gateway, alice!);
      await open.next(statusOf(alice!.login, true), 10_000);
      await aliceWs.close();
      await open.next(statusOf(alice!.login, false), 10_000);
    } finally {
      await open.close();
    }
  });

  test('a page reload (reconnect within the debounce) is not announced', opts, async () => {
    const [alice, bob] = await users(2, [[0, 1]]);
    const bobWs = await chatsSocket(suite.cluster.gateways[1]!, bob!);
    try {
      let aliceWs = await chatsSocket(suite.gateway, alice!);
      await bobWs.next(statusOf(alice!.login, true), 10_000);
      for (let i = 0; i < 3; i++) {
        await aliceWs.close();
        await sleep(DEBOUNCE_MS / 4);
        // Reloads may land on either gateway.
        aliceWs = await chatsSocket(suite.cluster.gateways[i % 2]!, alice!);
        await sleep(DEBOUNCE_MS / 4);
      }
      await sleep(DEBOUNCE_MS * 2);
      assert.deepEqual(
        bobWs.events.filter(statusOf(alice!.login)).map((e) => e.payload.is_online),
        [true],
        'no offline/online storm',
      );
      assert.equal((await presenceOf(bob!, alice!.login)).is_online, true);
      await aliceWs.close();
    } finally {
      await bobWs.close();
    }
  });
});

describe('gateway failure', () => {
  test('users of a SIGKILLed gateway go offline within about its lease', opts, async () => {
    const [alice, bob] = await users(2, [[0, 1]]);
    const doomed = await suite.cluster.add('gateway');
    const bobWs = await chatsSocket(suite.gateway, bob!);
    try {
      const aliceWs = await chatsSocket(doomed, alice!);
      await bobWs.next(statusOf(alice!.login, true), 10_000);
      await suite.cluster.kill(doomed, 'SIGKILL');
      const killedAt = Date.now();
      const offline = await bobWs.next(statusOf(alice!.login, false), LEASE_MS + 10_000);
      const took = Date.now() - killedAt;
      assert.ok(took < LEASE_MS + 3000, `offline ${took} ms after the kill (lease ${LEASE_MS} ms)`);
      assert.ok(Date.parse(offline.payload.last_seen!) <= killedAt, 'last_seen is the last heartbeat');
      assert.equal((await presenceOf(bob!, alice!.login)).is_online, false);
      aliceWs.terminate();
    } finally {
      await bobWs.close();
    }
  });
});
