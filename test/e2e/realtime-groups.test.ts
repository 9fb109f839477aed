/**
 * Live delivery end to end, continued from realtime-delivery.test.ts (the same
 * cluster shape: two gateways and two shards as real processes on one real
 * Redis, senders and receivers on different gateways): private and public
 * groups, the multiplexed /chats/ws socket, typing, and catch-up after a
 * disconnect.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { api, expectUpgradeRefused } from '../harness/index.js';
import {
  dialog,
  errorEvent,
  EVENT_MS,
  group,
  historyAfter,
  liveCluster,
  messageIn,
  messagesOf,
  newClientId,
  QUIET_MS,
  sendAndAck,
  sendText,
  sleep,
  statusIn,
} from './realtime.js';

// The relay (offline notifications) plays no part in live delivery.
const { gateways, users, open, createGroup } = liveCluster({ gateways: 2, shards: 2, relay: false });

test('private group: every member socket on both gateways gets each message, no outsider does', async (t) => {
  const { gw1, gw2 } = gateways();
  const [alice, bob, carol, dave] = await users(4, 'pg');
  const g = await createGroup(alice!, 'Team', false, [bob!.login, carol!.login]);
  const chat = group(g.id);
  const aliceWs = await open(t, `${gw1.wsUrl}/group/${g.id}/ws`, alice!);
  const bobWs = await open(t, `${gw2.wsUrl}/group/${g.id}/ws`, bob!);
  const bobAll = await open(t, `${gw1.wsUrl}/chats/ws`, bob!);
  const carolAll = await open(t, `${gw2.wsUrl}/chats/ws`, carol!);
  const daveAll1 = await open(t, `${gw1.wsUrl}/chats/ws`, dave!);
  const daveAll2 = await open(t, `${gw2.wsUrl}/chats/ws`, dave!);
  assert.equal(
    await expectUpgradeRefused(`${gw2.wsUrl}/group/${g.id}/ws`, { token: dave!.token }),
    403,
    'an outsider cannot open a private group',
  );

  const ack = await sendAndAck(aliceWs, 'hi team');
  assert.deepEqual(ack.payload.chat, chat);
  assert.equal('receiver' in ack.payload, false, 'group messages have no receiver');
  for (const ws of [bobWs, bobAll, carolAll]) {
    const m = await ws.next(messageIn(chat, 'hi team'), EVENT_MS);
    assert.equal(m.payload.id, ack.payload.id);
    assert.equal(m.payload.sender, alice!.login);
    assert.equal('client_id' in m.payload, false);
  }

  // A member answers from the multiplexed socket.
  const reply = await sendAndAck(bobAll, 'hi alice', { chat });
  for (const ws of [aliceWs, carolAll, bobWs]) {
    const m = await ws.next(messageIn(chat, 'hi alice'), EVENT_MS);
    assert.equal(m.payload.id, reply.payload.id);
  }

  // Statuses: delivered once another member's socket got it, read once one of them reads it.
  const delivered = await aliceWs.next(statusIn(chat, 'delivered', ack.payload.id as number), EVENT_MS);
  assert.deepEqual(delivered.payload.chat, chat);
  await bobWs.next(statusIn(chat, 'delivered', reply.payload.id as number), EVENT_MS);
  // Bob's reply implies he read Alice's message; Carol reading the reply makes both read.
  await aliceWs.next(statusIn(chat, 'read', ack.payload.id as number), EVENT_MS);
  carolAll.send({ type: 'read', payload: { chat, id: reply.payload.id } });
  for (const ws of [bobWs, bobAll])
    await ws.next(statusIn(chat, 'read', reply.payload.id as number), EVENT_MS);
  const history = await historyAfter(api(gw2.url), alice!, `/group/${g.id}`);
  assert.deepEqual(
    history.map((m) => [m.id, m.sender, m.status]),
    [
      [ack.payload.id, alice!.login, 'read'],
      [reply.payload.id, bob!.login, 'read'],
    ],
  );

  // The outsider is refused with an error event and keeps the socket.
  const clientId = newClientId();
  sendText(daveAll1, 'let me in', { chat, clientId });
  const refused = await daveAll1.next(errorEvent(), EVENT_MS);
  assert.equal(refused.payload.code, 'not_member');
  assert.equal(refused.payload.client_id, clientId);

  await sleep(QUIET_MS);
  for (const ws of [daveAll1, daveAll2]) {
    assert.equal(messagesOf(ws, chat).length, 0, 'the outsider received nothing of the group');
    assert.equal(
      ws.events.filter((e) => e.payload.chat?.type === 'group').length,
      0,
      'nor any other event of it',
    );
  }
  for (const ws of [bobWs, bobAll, carolAll, aliceWs]) assert.equal(messagesOf(ws, chat).length, 2);
  assert.equal((await api(gw1.url).request('GET', `/group/${g.id}`, { token: dave!.token })).status, 403);
});

test('public group: every follower gets messages, a non-member may send and becomes a member', async (t) => {
  const { gw1, gw2 } = gateways();
  const [alice, erin, frank, george] = await users(4, 'pub');
  // Frank's multiplexed socket is open before the group exists.
  const frankAll = await open(t, `${gw1.wsUrl}/chats/ws`, frank!);
  const g = await createGroup(alice!, 'Town square', true, []);
  const chat = group(g.id);
  const aliceWs = await open(t, `${gw1.wsUrl}/group/${g.id}/ws`, alice!);
  const erinWs = await open(t, `${gw2.wsUrl}/group/${g.id}/ws`, erin!);
  const georgeAll = await open(t, `${gw2.wsUrl}/chats/ws`, george!);

  const ack = await sendAndAck(aliceWs, 'welcome all');
  for (const ws of [erinWs, frankAll, georgeAll]) {
    const m = await ws.next(messageIn(chat, 'welcome all'), EVENT_MS);
    assert.equal(m.payload.id, ack.payload.id);
  }
  const erinAck = await sendAndAck(erinWs, 'thanks');
  for (const ws of [aliceWs, frankAll, georgeAll]) {
    const m = await ws.next(messageIn(chat, 'thanks'), EVENT_MS);
    assert.equal(m.payload.id, erinAck.payload.id);
  }
  const members = await api(gw2.url).request<{ login: string; role: string }[]>(
    'GET',
    `/group/${g.id}/members`,
    {
      token: frank!.token,
    },
  );
  assert.equal(members.status, 200);
  assert.deepEqual(
    members.json!.map((m) => [m.login, m.role]).sort(),
    [
      [alice!.login, 'owner'],
      [erin!.login, 'member'],
    ].sort(),
  );
  await sleep(QUIET_MS);
  for (const ws of [aliceWs, erinWs, frankAll, georgeAll]) assert.equal(messagesOf(ws, chat).length, 2);
});

test('/chats/ws multiplexes dialogs and groups, naming each dialog by the other participant', async (t) => {
  const { gw1, gw2 } = gateways();
  const [alice, bob, carol] = await users(3, 'mux');
  const aliceAll = await open(t, `${gw1.wsUrl}/chats/ws`, alice!);
  const bobAll = await open(t, `${gw2.wsUrl}/chats/ws`, bob!);
  const carolAll = await open(t, `${gw2.wsUrl}/chats/ws`, carol!);
  const g = await createGroup(alice!, 'Three', false, [bob!.login, carol!.login]);

  const toBob = await sendAndAck(aliceAll, 'to bob', { chat: dialog(bob!.login) });
  const toCarol = await sendAndAck(aliceAll, 'to carol', { chat: dialog(carol!.login) });
  const fromBob = await sendAndAck(bobAll, 'to alice', { chat: dialog(alice!.login) });
  const inGroup = await sendAndAck(carolAll, 'to all', { chat: group(g.id) });
  assert.deepEqual(toBob.payload.chat, dialog(bob!.login));
  assert.deepEqual(toCarol.payload.chat, dialog(carol!.login));
  assert.deepEqual(fromBob.payload.chat, dialog(alice!.login));

  const atBob = await bobAll.next(messageIn(dialog(alice!.login), 'to bob'), EVENT_MS);
  assert.equal(atBob.payload.id, toBob.payload.id);
  assert.equal(atBob.payload.receiver, bob!.login);
  const atCarol = await carolAll.next(messageIn(dialog(alice!.login), 'to carol'), EVENT_MS);
  assert.equal(atCarol.payload.id, toCarol.payload.id);
  const atAlice = await aliceAll.next(messageIn(dialog(bob!.login), 'to alice'), EVENT_MS);
  assert.equal(atAlice.payload.id, fromBob.payload.id);
  assert.equal(atAlice.payload.sender, bob!.login);
  assert.equal(atAlice.payload.receiver, alice!.login);
  for (const ws of [aliceAll, bobAll]) {
    assert.equal((await ws.next(messageIn(group(g.id), 'to all'), EVENT_MS)).payload.id, inGroup.payload.id);
  }

  // Read receipts travel on the multiplexed socket too, each side naming the dialog by the other.
  aliceAll.send({ type: 'read', payload: { chat: dialog(bob!.login), id: fromBob.payload.id } });
  const read = await bobAll.next(
    statusIn(dialog(alice!.login), 'read', fromBob.payload.id as number),
    EVENT_MS,
  );
  assert.deepEqual(read.payload.chat, dialog(alice!.login));
  const bobsRead = await aliceAll.next(
    statusIn(dialog(bob!.login), 'read', toBob.payload.id as number),
    EVENT_MS,
  );
  assert.deepEqual(bobsRead.payload.chat, dialog(bob!.login), "bob's reply marked alice's message read");

  await sleep(QUIET_MS);
  assert.equal(
    messagesOf(carolAll, dialog(bob!.login)).length,
    0,
    "carol sees nothing of alice and bob's dialog",
  );
  assert.equal(messagesOf(aliceAll, dialog(bob!.login)).length, 2);
  assert.equal(messagesOf(aliceAll, dialog(carol!.login)).length, 1);
  assert.equal(messagesOf(bobAll, dialog(alice!.login)).length, 2);
  for (const ws of [aliceAll, bobAll, carolAll]) assert.equal(messagesOf(ws, group(g.id)).length, 1);
  for (const ws of [aliceAll, bobAll, carolAll]) assert.equal(ws.events.filter(errorEvent()).length, 0);
});

test('typing is relayed to the other side only', async (t) => {
  const { gw1, gw2 } = gateways();
  const [alice, bob] = await users(2, 'typ');
  const aliceWs = await open(t, `${gw1.wsUrl}/dialog/${bob!.login}/ws`, alice!);
  const aliceAll = await open(t, `${gw2.wsUrl}/chats/ws`, alice!);
  const bobWs = await open(t, `${gw2.wsUrl}/dialog/${alice!.login}/ws`, bob!);

  aliceWs.send({ type: 'typing', payload: {} });
  const atBob = await bobWs.next('typing', EVENT_MS);
  assert.deepEqual(atBob.payload, { chat: dialog(alice!.login), user_login: alice!.login });

  bobWs.send({ type: 'typing', payload: { chat: dialog(alice!.login) } });
  for (const ws of [aliceWs, aliceAll]) {
    const atAlice = await ws.next('typing', EVENT_MS);
    assert.deepEqual(atAlice.payload, { chat: dialog(bob!.login), user_login: bob!.login });
  }
  await sleep(QUIET_MS);
  assert.equal(
    aliceWs.events.filter((e) => e.type === 'typing').length,
    1,
    'alice never sees her own typing',
  );
  assert.equal(aliceAll.events.filter((e) => e.type === 'typing').length, 1);
  assert.equal(bobWs.events.filter((e) => e.type === 'typing').length, 1);
  assert.equal([aliceWs, aliceAll, bobWs].flatMap((ws) => ws.events.filter(errorEvent())).length, 0);
});

test('catch-up after a disconnect returns exactly what was missed', async (t) => {
  const { gw1, gw2 } = gateways();
  const [alice, bob] = await users(2, 'cu');
  const aliceWs = await open(t, `${gw1.wsUrl}/dialog/${bob!.login}/ws`, alice!);
  let bobWs = await open(t, `${gw2.wsUrl}/dialog/${alice!.login}/ws`, bob!);
  const fromAlice = dialog(alice!.login);

  await sendAndAck(aliceWs, 'before 1');
  await sendAndAck(aliceWs, 'before 2');
  const seen = await bobWs.take(messageIn(fromAlice), 2, EVENT_MS);
  const lastSeen = seen[1]!.payload.id as number;
  bobWs.terminate();
  await bobWs.closed;

  const missed: number[] = [];
  for (let i = 1; i <= 5; i++) missed.push((await sendAndAck(aliceWs, `missed ${i}`)).payload.id as number);
  const catchUp = await historyAfter(api(gw2.url), bob!, `/dialog/${alice!.login}`, lastSeen);
  assert.deepEqual(
    catchUp.map((m) => [m.id, m.text, m.sender]),
    missed.map((id, i) => [id, `missed ${i + 1}`, alice!.login]),
  );
  const empty = await historyAfter(api(gw1.url), bob!, `/dialog/${alice!.login}`, missed.at(-1)!);
  assert.deepEqual(empty, [], 'nothing after the newest message');

  bobWs = await open(t, `${gw1.wsUrl}/dialog/${alice!.login}/ws`, bob!);
  const live = await sendAndAck(aliceWs, 'after');
  const m = await bobWs.next(messageIn(fromAlice), EVENT_MS);
  assert.equal(m.payload.id, live.payload.id, 'the new socket starts after the catch-up, with no replay');
  assert.equal(m.payload.text, 'after');
  await sleep(QUIET_MS);
  assert.equal(messagesOf(bobWs, fromAlice).length, 1);
});
