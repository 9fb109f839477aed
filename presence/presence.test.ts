/**
 * Presence with real parts (presence/testing/fixture.ts): who is online, the
 * debounce, the active window, and which user_status events reach whom.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { dialogChatId, groupChatId } from '../common/ids.js';
import { DEBOUNCE_MS, message, setup, sleep, waitFor, type StatusEvent } from './testing/fixture.js';

test('a user is online from the first socket and offline soon after the last one closes', async (t) => {
  const f = await setup(t);
  await f.startEngine();
  const gwA = await f.gateway('gw-a');
  const gwB = await f.gateway('gw-b');

  assert.deepEqual(await f.presenceOf('alice'), { online: false, lastSeen: null }, 'never seen');
  await gwA.connected('alice');
  await gwB.connected('alice');
  await gwB.connected('alice');
  await waitFor('alice online', async () => (await f.presenceOf('alice')).online, 3000);
  assert.deepEqual(await f.redis.hgetall(f.keys.route('alice')), { 'gw-a': '1', 'gw-b': '2' });

  await gwA.disconnected('alice');
  await gwB.disconnected('alice');
  await sleep(DEBOUNCE_MS + 300);
  assert.equal((await f.presenceOf('alice')).online, true, 'one socket is still open on gw-b');

  const beforeClose = Date.now();
  await gwB.disconnected('alice');
  const closedAt = Date.now();
  await waitFor('alice offline', async () => !(await f.presenceOf('alice')).online, 5000);
  const offlineAfter = Date.now() - beforeClose;
  assert.ok(offlineAfter >= DEBOUNCE_MS, `offline only after the debounce (${offlineAfter} ms)`);
  assert.ok(offlineAfter < DEBOUNCE_MS + 3000, `offline within a few seconds (${offlineAfter} ms)`);
  const { lastSeen } = await f.presenceOf('alice');
  assert.ok(
    lastSeen !== null && lastSeen >= beforeClose && lastSeen <= closedAt,
    `last_seen is when the last socket closed`,
  );
  assert.equal(await f.redis.exists(f.keys.route('alice')), 0);
  assert.equal(await f.redis.sismember(f.keys.gatewayUsers('gw-b'), 'alice'), 0);

  // Another gateway's REST reads agree (after its 1 s cache).
  await sleep(1000);
  const seen = (await gwA.get(['alice'])).get('alice');
  assert.deepEqual(seen, { online: false, lastSeen });
});

test('user_status reaches exactly the interested users, on the gateways where they are', async (t) => {
  const f = await setup(t);
  await f.startEngine();
  const gwA = await f.gateway('gw-a');
  const gwB = await f.gateway('gw-b');
  const gwC = await f.gateway('gw-c');

  // bob: dialog with messages; carol: shared private group; dave: only a shared public group;
  // erin: has the dialog with alice open but no messages; frank: unrelated; gina: dialog peer, offline.
  await f.store.messages.append([message(dialogChatId('alice', 'bob'), 1, 'alice')]);
  await f.store.messages.append([message(dialogChatId('alice', 'gina'), 1, 'gina')]);
  const now = Date.now();
  await f.store.groups.createGroup(
    { id: 'priv1', name: 'Private', isPublic: false, owner: 'carol', createdAt: now },
    [
      { login: 'carol', role: 'owner' },
      { login: 'alice', role: 'member' },
    ],
  );
  await f.store.groups.createGroup(
    { id: 'pub1', name: 'Public', isPublic: true, owner: 'dave', createdAt: now },
    [
      { login: 'dave', role: 'owner' },
      { login: 'alice', role: 'member' },
    ],
  );
  await f.store.messages.append([message(groupChatId('pub1'), 1, 'dave')]);
  await gwA.connected('bob');
  await gwA.connected('erin');
  await gwA.watch('erin', 'alice');
  await gwB.connected('carol');
  await gwB.connected('dave');
  await gwB.connected('frank');
  await gwB.connected('bob');
  await waitFor('everyone online', async () => (await f.redis.scard(f.keys.presenceOnline())) === 5);
  const before = { a: (await f.statuses('gw-a')).length, b: (await f.statuses('gw-b')).length };

  await gwC.connected('alice');
  const aliceOnline = (s: StatusEvent) => s.user_login === 'alice' && s.is_online;
  await waitFor('alice online on gw-a', async () => (await f.statuses('gw-a')).some(aliceOnline));
  await waitFor('alice online on gw-b', async () => (await f.statuses('gw-b')).some(aliceOnline));
  const onA = (await f.statuses('gw-a')).slice(before.a);
  const onB = (await f.statuses('gw-b')).slice(before.b);
  assert.equal(onA.length, 1);
  assert.equal(onB.length, 1);
  assert.deepEqual([...onA[0]!.users].sort(), ['bob', 'erin']);
  assert.deepEqual([...onB[0]!.users].sort(), ['bob', 'carol']);
  assert.ok(onA[0]!.last_seen && Math.abs(Date.parse(onA[0]!.last_seen) - Date.now()) < 2000);
  assert.deepEqual(await f.statuses('gw-c'), [], 'nobody interested is on gw-c');

  // erin closes the dialog: she no longer hears about alice.
  await gwA.unwatch('erin', 'alice');
  assert.equal(await f.redis.hexists(f.keys.watchers('alice'), 'erin'), 0);
  const beforeClose = Date.now();
  await gwC.disconnected('alice');
  const closedAt = Date.now();
  const aliceOffline = (s: StatusEvent) => s.user_login === 'alice' && !s.is_online;
  await waitFor('alice offline on gw-b', async () => (await f.statuses('gw-b')).some(aliceOffline));
  await waitFor('alice offline on gw-a', async () => (await f.statuses('gw-a')).some(aliceOffline));
  const offA = (await f.statuses('gw-a')).filter(aliceOffline);
  const offB = (await f.statuses('gw-b')).filter(aliceOffline);
  assert.deepEqual(
    offA.map((s) => s.users),
    [['bob']],
  );
  assert.deepEqual(
    offB.map((s) => [...s.users].sort()),
    [['bob', 'carol']],
  );
  const lastSeen = Date.parse(offA[0]!.last_seen!);
  assert.ok(lastSeen >= beforeClose && lastSeen <= closedAt, 'offline event carries the last moment online');
  assert.equal(lastSeen, (await f.presenceOf('alice')).lastSeen, 'the event and the REST view agree');
  for (const s of [...(await f.statuses('gw-a')), ...(await f.statuses('gw-b'))]) {
    assert.ok(!s.users.includes('dave') && !s.users.includes('frank'), 'no event for uninterested users');
  }
});

test('a quick reconnect (page reload) emits neither offline nor online', async (t) => {
  const f = await setup(t);
  await f.startEngine();
  const gwA = await f.gateway('gw-a');
  const gwB = await f.gateway('gw-b');
  await f.store.messages.append([message(dialogChatId('alice', 'bob'), 1, 'bob')]);
  await gwB.connected('bob');
  await gwA.connected('alice');
  await waitFor('alice online event', async () =>
    (await f.statuses('gw-b')).some((s) => s.user_login === 'alice'),
  );
  const changes = await f.redis.hget(f.keys.presenceState(), 'alice');

  for (let i = 0; i < 3; i++) {
    await gwA.disconnected('alice');
    await sleep(DEBOUNCE_MS / 3);
    await gwA.connected('alice'); // the reload may land on another gateway too
    await sleep(DEBOUNCE_MS / 3);
  }
  await gwA.disconnected('alice');
  await gwB.connected('alice');
  await sleep(DEBOUNCE_MS * 3);
  const aboutAlice = (await f.statuses('gw-b')).filter((s) => s.user_login === 'alice');
  assert.deepEqual(
    aboutAlice.map((s) => s.is_online),
    [true],
    'only the first online event',
  );
  assert.equal(await f.redis.hget(f.keys.presenceState(), 'alice'), changes, 'state never changed');
});

test('the active window keeps a socket-less user online, then last_seen is its end', async (t) => {
  const f = await setup(t, { PRESENCE_ACTIVE_WINDOW_MS: '1200' });
  await f.startEngine();
  const gw = await f.gateway('gw-a');

  const markedAt = Date.now();
  await gw.markActive('rest');
  const marked = Date.now();
  await waitFor('rest online', async () => (await f.presenceOf('rest')).online, 3000);
  await waitFor('rest offline', async () => !(await f.presenceOf('rest')).online, 5000);
  assert.ok(Date.now() >= markedAt + 1200, 'online for the whole window');
  const { lastSeen } = await f.presenceOf('rest');
  assert.ok(
    lastSeen !== null && lastSeen >= markedAt + 1200 && lastSeen <= marked + 1200,
    'last_seen = window end',
  );
});

test('closing the last socket ends the active window (offline after the debounce)', async (t) => {
  const f = await setup(t, { PRESENCE_ACTIVE_WINDOW_MS: '30000' });
  await f.startEngine();
  const gw = await f.gateway('gw-a');
  // A WebSocket client's user_activity heartbeats do not keep the user online after the socket closes.
  await gw.connected('ws');
  await gw.markActive('ws');
  await waitFor('ws online', async () => (await f.presenceOf('ws')).online, 3000);
  const before = Date.now();
  await gw.disconnected('ws');
  const after = Date.now();
  await waitFor('ws offline', async () => !(await f.presenceOf('ws')).online, DEBOUNCE_MS + 5000);
  const { lastSeen } = await f.presenceOf('ws');
  assert.ok(
    lastSeen !== null && lastSeen >= before && lastSeen <= after,
    'last_seen = when the socket closed',
  );
  assert.equal(await f.redis.zscore(f.keys.presenceActive(), 'ws'), null);
});
