/**
 * Live delivery end to end (issue 3): two gateways and two shards as real
 * processes on one real Redis. Senders and receivers sit on different
 * gateways, so every message crosses a shard and the other gateway's inbox
 * stream. Covers dialogs, acknowledgements and client_id deduplication, and
 * statuses; realtime-groups.test.ts covers groups, the multiplexed /chats/ws
 * socket, typing and catch-up.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Redis } from 'ioredis';
import { decodeInboxEntries } from '../../delivery/index.js';
import { Keys } from '../../common/keys.js';
import { api, type WsClient } from '../harness/index.js';
import {
  ackOf,
  assertIncreasing,
  dialog,
  errorEvent,
  EVENT_MS,
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
  waitFor,
} from './realtime.js';

const RFC3339_MS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

// The relay (offline notifications) plays no part in live delivery.
const { cluster, gateways, users, open } = liveCluster({ gateways: 2, shards: 2, relay: false });

test('dialog across gateways: ack with client_id to the sender socket, the message to every socket of both', async (t) => {
  const { gw1, gw2 } = gateways();
  const [alice, bob] = await users(2, 'dlv');
  const aliceDialog = await open(t, `${gw1.wsUrl}/dialog/${bob!.login}/ws`, alice!);
  const aliceAll = await open(t, `${gw2.wsUrl}/chats/ws`, alice!);
  const bobDialog = await open(t, `${gw2.wsUrl}/dialog/${alice!.login}/ws`, bob!);
  const bobAll = await open(t, `${gw1.wsUrl}/chats/ws`, bob!);

  const clientId = newClientId();
  sendText(aliceDialog, 'hello bob', { clientId }); // per-chat endpoint: chat omitted
  const ack = await aliceDialog.next(ackOf(clientId), EVENT_MS);
  assert.deepEqual(ack.payload.chat, dialog(bob!.login));
  assert.equal(ack.payload.sender, alice!.login);
  assert.equal(ack.payload.receiver, bob!.login);
  assert.equal(ack.payload.text, 'hello bob');
  assert.equal(ack.payload.status, 'sent');
  assert.match(String(ack.payload.time), RFC3339_MS);
  const id = ack.payload.id;

  const other = await aliceAll.next(messageIn(dialog(bob!.login)), EVENT_MS);
  assert.equal(other.payload.id, id, "the sender's other socket (other gateway) gets the message");
  assert.equal(other.payload.client_id, clientId, "the sender's sockets see the client_id");

  for (const ws of [bobDialog, bobAll]) {
    const m = await ws.next(messageIn(dialog(alice!.login)), EVENT_MS);
    assert.equal(m.payload.id, id);
    assert.equal(m.payload.text, 'hello bob');
    assert.equal(m.payload.sender, alice!.login);
    assert.equal(m.payload.receiver, bob!.login);
    assert.equal(m.payload.time, ack.payload.time);
    assert.equal('client_id' in m.payload, false, 'the receiver never sees the client_id');
  }

  await sleep(QUIET_MS);
  assert.equal(messagesOf(aliceDialog, dialog(bob!.login)).length, 1, 'the sending socket: only the ack');
  assert.equal(messagesOf(aliceAll, dialog(bob!.login)).length, 1);
  assert.equal(messagesOf(bobDialog, dialog(alice!.login)).length, 1);
  assert.equal(messagesOf(bobAll, dialog(alice!.login)).length, 1);
});

test("a sender's only socket on a gateway costs that gateway no inbox entry; a second socket there gets the message", async (t) => {
  const { gw1, gw2 } = gateways();
  const [alice, bob] = await users(2, 'sole');
  const redis = new Redis(cluster().redis.url, { maxRetriesPerRequest: null });
  t.after(() => redis.disconnect());
  const inbox = new Keys(cluster().prefix).inbox(gw1.name);
  const toBob = dialog(bob!.login);
  const fromAlice = dialog(alice!.login);
  /** new_message events of this dialog for alice written to gateway 1's inbox after stream id `from`. */
  const entriesForAlice = async (from: string) => {
    const rows = await redis.xrange(inbox, `(${from}`, '+');
    return rows
      .flatMap(([, fields]) => decodeInboxEntries(fields))
      .filter(
        (e) =>
          e.type === 'new_message' &&
          e.chatId.includes(alice!.login) &&
          e.chatId.includes(bob!.login) &&
          (e.users === '*' || e.users.includes(alice!.login)),
      );
  };
  const lastId = async () => (await redis.xrevrange(inbox, '+', '-', 'COUNT', 1))[0]?.[0] ?? '0-0';

  const aliceDialog = await open(t, `${gw1.wsUrl}/dialog/${bob!.login}/ws`, alice!);
  const bobWs = await open(t, `${gw2.wsUrl}/dialog/${alice!.login}/ws`, bob!);

  let from = await lastId();
  await sendAndAck(aliceDialog, 'only socket here');
  await bobWs.next(messageIn(fromAlice, 'only socket here'), EVENT_MS);
  await sleep(QUIET_MS); // the fan-out writes both gateways' entries in one pipeline; let it land
  assert.deepEqual(await entriesForAlice(from), [], 'no entry for alice on the gateway of her only socket');

  // A second socket of alice on the same gateway: the message must reach it through the inbox.
  const aliceAll = await open(t, `${gw1.wsUrl}/chats/ws`, alice!);
  from = await lastId();
  const ack = await sendAndAck(aliceDialog, 'two sockets here');
  const copy = await aliceAll.next(messageIn(toBob, 'two sockets here'), EVENT_MS);
  assert.equal(copy.payload.id, ack.payload.id);
  await bobWs.next(messageIn(fromAlice, 'two sockets here'), EVENT_MS);
  assert.equal(
    (await entriesForAlice(from)).length,
    1,
    'one entry for alice while she has two sockets there',
  );

  await sleep(QUIET_MS);
  assert.equal(messagesOf(aliceDialog, toBob).length, 2, 'the sending socket: only its two acks');
  assert.equal(messagesOf(aliceAll, toBob).length, 1);
  assert.equal(messagesOf(bobWs, fromAlice).length, 2);
});

test('dialog with concurrent senders on both gateways: one order, strictly increasing ids, once per socket', async (t) => {
  const { gw1, gw2 } = gateways();
  const [alice, bob] = await users(2, 'ord');
  const aliceDialog = await open(t, `${gw1.wsUrl}/dialog/${bob!.login}/ws`, alice!);
  const aliceAll = await open(t, `${gw2.wsUrl}/chats/ws`, alice!);
  const bobDialog = await open(t, `${gw2.wsUrl}/dialog/${alice!.login}/ws`, bob!);
  const bobAll = await open(t, `${gw1.wsUrl}/chats/ws`, bob!);
  const N = 40;
  const sent: { ws: WsClient; clientId: string; text: string }[] = [];
  for (let i = 0; i < N; i++) {
    for (const [ws, who] of [
      [aliceDialog, 'a'],
      [bobDialog, 'b'],
    ] as const) {
      const clientId = newClientId();
      const text = `${who}${i}`;
      sendText(ws, text, { clientId });
      sent.push({ ws, clientId, text });
    }
  }
  const acks = await Promise.all(sent.map((s) => s.ws.next(ackOf(s.clientId), EVENT_MS * 2)));
  const ackIds = acks.map((a) => a.payload.id as number);
  assert.equal(new Set(ackIds).size, 2 * N, 'every send got its own id');

  const views: [WsClient, string][] = [
    [aliceDialog, bob!.login],
    [aliceAll, bob!.login],
    [bobDialog, alice!.login],
    [bobAll, alice!.login],
  ];
  for (const [i, [ws, peer]] of views.entries()) {
    await waitFor(
      () => messagesOf(ws, dialog(peer)).length >= 2 * N,
      EVENT_MS * 2,
      () => `socket ${i} to receive ${2 * N} messages (has ${messagesOf(ws, dialog(peer)).length})`,
    );
  }
  await sleep(QUIET_MS);

  const history = await historyAfter(api(gw1.url), alice!, `/dialog/${bob!.login}`);
  assert.equal(history.length, 2 * N);
  assertIncreasing(
    history.map((m) => m.id),
    'history',
  );
  assert.deepEqual(
    history.map((m) => m.id).sort((a, b) => a - b),
    [...ackIds].sort((a, b) => a - b),
    'history holds exactly the acknowledged ids',
  );
  for (const who of ['a', 'b']) {
    const own = history.filter((m) => m.text.startsWith(who)).map((m) => m.text);
    assert.deepEqual(
      own,
      Array.from({ length: N }, (_, i) => `${who}${i}`),
      "each sender's messages keep the order they were sent in",
    );
  }
  for (const [i, [ws, peer]] of views.entries()) {
    const got = messagesOf(ws, dialog(peer)).map((e) => e.payload);
    assert.deepEqual(
      got.map((p) => p.id),
      history.map((m) => m.id),
      `socket ${i} received every message once, in id order`,
    );
    assert.deepEqual(
      got.map((p) => p.text),
      history.map((m) => m.text),
    );
  }
});

test('the same client_id twice makes one message and acknowledges the original again', async (t) => {
  const { gw1, gw2 } = gateways();
  const [alice, bob] = await users(2, 'dup');
  const aliceWs = await open(t, `${gw1.wsUrl}/dialog/${bob!.login}/ws`, alice!);
  const bobWs = await open(t, `${gw2.wsUrl}/dialog/${alice!.login}/ws`, bob!);
  const clientId = newClientId();

  sendText(aliceWs, 'only once', { clientId, type: 'send message' }); // the original spelling
  const first = await aliceWs.next(ackOf(clientId), EVENT_MS);
  sendText(aliceWs, 'only once', { clientId });
  const second = await aliceWs.next(ackOf(clientId), EVENT_MS);
  assert.equal(second.payload.id, first.payload.id, 'the retry is acknowledged with the original id');
  assert.equal(second.payload.text, 'only once');
  sendText(aliceWs, 'different text, same id', { clientId, type: 'send message' });
  const third = await aliceWs.next(ackOf(clientId), EVENT_MS);
  assert.equal(third.payload.id, first.payload.id);
  assert.equal(third.payload.text, 'only once', 'the original message is acknowledged, not the new text');

  // A client that reconnects and retries an unacknowledged send gets the ack on its new socket.
  const again = await open(t, `${gw2.wsUrl}/chats/ws`, alice!);
  sendText(again, 'only once', { clientId, chat: dialog(bob!.login) });
  const fourth = await again.next(ackOf(clientId), EVENT_MS);
  assert.equal(fourth.payload.id, first.payload.id);

  await bobWs.next(messageIn(dialog(alice!.login), 'only once'), EVENT_MS);
  await sleep(QUIET_MS);
  assert.equal(messagesOf(bobWs, dialog(alice!.login)).length, 1, 'the receiver got one message');
  const history = await historyAfter(api(gw2.url), bob!, `/dialog/${alice!.login}`);
  assert.deepEqual(
    history.map((m) => [m.id, m.text]),
    [[first.payload.id, 'only once']],
  );
});

test('a client_id is recognised behind 600 newer messages and after its chat moved to another shard process', async (t) => {
  const { gw1, gw2 } = gateways();
  const [alice, bob] = await users(2, 'dupw');
  const aliceWs = await open(t, `${gw1.wsUrl}/dialog/${bob!.login}/ws`, alice!);
  const bobWs = await open(t, `${gw2.wsUrl}/dialog/${alice!.login}/ws`, bob!);
  const clientId = newClientId();
  sendText(aliceWs, 'the original', { clientId });
  const first = await aliceWs.next(ackOf(clientId), EVENT_MS);

  // More newer messages than a chat keeps in memory, from both sides; rounds a second apart stay
  // within the per-user send limit (200 a second in fixed windows).
  for (let round = 0; round < 3; round++) {
    if (round > 0) await sleep(1000);
    await Promise.all(
      [aliceWs, bobWs].flatMap((ws, side) =>
        Array.from({ length: 100 }, (_, i) => sendAndAck(ws, `filler ${side}.${round}.${i}`, {}, EVENT_MS)),
      ),
    );
  }
  sendText(aliceWs, 'a new text', { clientId });
  const behind = await aliceWs.next(ackOf(clientId), EVENT_MS);
  assert.equal(behind.payload.id, first.payload.id, 'acknowledged with the original id');
  assert.equal(behind.payload.text, 'the original', 'and the original text');

  // The owning shard goes away: the next owner loads the chat from the store and still knows the client_id.
  for (const shard of cluster().shards) await cluster().restart(shard);
  sendText(aliceWs, 'a new text', { clientId });
  const moved = await aliceWs.next(ackOf(clientId), EVENT_MS);
  assert.equal(moved.payload.id, first.payload.id, 'acknowledged with the original id by the new owner');
  assert.equal(moved.payload.text, 'the original');

  await sleep(QUIET_MS);
  const originals = messagesOf(bobWs, dialog(alice!.login)).filter((m) => m.payload.text === 'the original');
  assert.equal(originals.length, 1, 'the receiver got the original once');
  const history = await historyAfter(api(gw2.url), bob!, `/dialog/${alice!.login}`);
  assert.equal(history.length, 601, 'one stored message per client_id');
  assert.deepEqual(
    history.filter((m) => m.text === 'the original').map((m) => m.id),
    [first.payload.id],
  );
});

test('a burst from one socket is stored in the order sent while sends wait for the rate limiter', async (t) => {
  const { gw1 } = gateways();
  const [alice, bob] = await users(2, 'ord');
  const aliceWs = await open(t, `${gw1.wsUrl}/dialog/${bob!.login}/ws`, alice!);
  // 150 sends at once, under the default limit of 200 a second: the gateway takes the per-user budget from
  // Redis a tenth (20) at a time, so most of these sends wait for a reservation before going on.
  const clientIds = Array.from({ length: 150 }, () => newClientId());
  clientIds.forEach((clientId, i) => sendText(aliceWs, `burst ${i}`, { clientId }));
  const acks = await Promise.all(clientIds.map((clientId) => aliceWs.next(ackOf(clientId), EVENT_MS)));
  const ids = acks.map((a) => a.payload.id as number);
  assert.deepEqual(
    ids,
    Array.from({ length: 150 }, (_, i) => ids[0]! + i),
    'ids follow the order of sending',
  );
});

test('delivered and read reach the sender and history; read implies delivered; marks never go back', async (t) => {
  const { gw1, gw2 } = gateways();
  const [alice, bob] = await users(2, 'st');
  const aliceWs = await open(t, `${gw1.wsUrl}/dialog/${bob!.login}/ws`, alice!);
  const aliceAll = await open(t, `${gw2.wsUrl}/chats/ws`, alice!);
  const toBob = dialog(bob!.login);
  const aliceApi = api(gw1.url);
  const statuses = async () =>
    (await historyAfter(aliceApi, alice!, `/dialog/${bob!.login}`)).map((m) => [m.id, m.status]);

  // Bob is offline: three messages stay "sent".
  const ids: number[] = [];
  for (const text of ['one', 'two', 'three'])
    ids.push((await sendAndAck(aliceWs, text)).payload.id as number);
  const [m1, m2, m3] = ids as [number, number, number];
  assert.deepEqual(await statuses(), [
    [m1, 'sent'],
    [m2, 'sent'],
    [m3, 'sent'],
  ]);

  // Bob opens the dialog (nothing is pushed: he starts at the current end) and reads up to m2.
  const bobWs = await open(t, `${gw2.wsUrl}/dialog/${alice!.login}/ws`, bob!);
  bobWs.send({ type: 'read', payload: { id: m2 } });
  for (const ws of [aliceWs, aliceAll]) {
    const read = await ws.next(statusIn(toBob, 'read'), EVENT_MS);
    assert.equal(read.payload.id, m2);
  }
  assert.deepEqual(await statuses(), [
    [m1, 'read'],
    [m2, 'read'],
    [m3, 'sent'],
  ]);

  // A message pushed to Bob's socket becomes delivered, and so does everything before it.
  const m4 = (await sendAndAck(aliceWs, 'four')).payload.id as number;
  await bobWs.next(messageIn(dialog(alice!.login), 'four'), EVENT_MS);
  for (const ws of [aliceWs, aliceAll]) {
    const delivered = await ws.next(statusIn(toBob, 'delivered'), EVENT_MS);
    assert.equal(delivered.payload.id, m4);
  }
  assert.deepEqual(await statuses(), [
    [m1, 'read'],
    [m2, 'read'],
    [m3, 'delivered'],
    [m4, 'delivered'],
  ]);

  // Read everything, then an older id: the read mark stays where it is.
  bobWs.send({ type: 'read', payload: { id: m4, chat: dialog(alice!.login) } });
  assert.equal((await aliceWs.next(statusIn(toBob, 'read'), EVENT_MS)).payload.id, m4);
  bobWs.send({ type: 'read', payload: { id: m1 } });
  await sleep(QUIET_MS);
  assert.equal(
    aliceWs.events.filter(statusIn(toBob, 'read')).length,
    2,
    'reading an older message sends no status',
  );
  assert.equal(bobWs.events.filter(errorEvent()).length, 0, 'reading an older id is not an error');
  assert.deepEqual(await statuses(), [
    [m1, 'read'],
    [m2, 'read'],
    [m3, 'read'],
    [m4, 'read'],
  ]);
  // Bob sent nothing, so no status event concerns him.
  assert.equal(bobWs.events.filter((e) => e.type === 'message_status').length, 0);
  // On each of Alice's sockets the statuses only moved forward: ids never shrink per status,
  // and no "delivered" ever came for an id already reported read.
  for (const ws of [aliceWs, aliceAll]) {
    const seen = { delivered: 0, read: 0 };
    for (const e of ws.events.filter((x) => x.type === 'message_status')) {
      const id = e.payload.id as number;
      const status = e.payload.status as 'delivered' | 'read';
      assert.ok(id >= seen[status], `${status} went from ${seen[status]} back to ${id}`);
      if (status === 'delivered') assert.ok(id > seen.read, `delivered ${id} after read ${seen.read}`);
      seen[status] = id;
    }
    assert.deepEqual(seen, { delivered: m4, read: m4 });
  }
});
