/**
 * WebSocket error handling end to end (API.md "WebSocket"): every malformed or
 * disallowed client event gets an `error` event with a code and changes
 * nothing, the socket stays open; oversized frames close with 1009; refused
 * upgrades are plain HTTP responses; logout closes the session's sockets on
 * every gateway. Two gateways, two shards, real Redis.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  api,
  connectWs,
  expectUpgradeRefused,
  uniqueLogin,
  UpgradeRefused,
  type WsClient,
  type WsOptions,
} from '../harness/index.js';
import {
  ackOf,
  dialog,
  errorEvent,
  group,
  historyAfter,
  messageIn,
  messagesOf,
  newClientId,
  sendAndAck,
  sendText,
  liveCluster,
  EVENT_MS,
  QUIET_MS,
  sleep,
} from './realtime.js';

/** The default WS_MAX_FRAME_BYTES. */
const MAX_FRAME = 32 * 1024;
const SEND_RATE_LIMIT = 20;

const { gateways, users, open } = liveCluster({
  gateways: 2,
  shards: 2,
  relay: false,
  env: { SEND_RATE_LIMIT: String(SEND_RATE_LIMIT) },
});

/** Sends a raw frame and resolves the error event it causes. */
async function rejected(ws: WsClient, frame: object | string, code: string): Promise<void> {
  ws.send(frame);
  const e = await ws.next(errorEvent(), EVENT_MS);
  assert.equal(e.payload.code, code, `error code for ${JSON.stringify(frame).slice(0, 80)}`);
  assert.equal(typeof e.payload.message, 'string');
}

/** The refused upgrade's HTTP status and JSON error code. */
async function refusal(url: string, options: WsOptions): Promise<[number, string | undefined]> {
  try {
    const ws = await connectWs(url, { timeoutMs: EVENT_MS, ...options });
    await ws.close();
  } catch (err) {
    if (!(err instanceof UpgradeRefused)) throw err;
    const body = JSON.parse(err.body) as { error?: { code?: string } };
    return [err.status, body.error?.code];
  }
  assert.fail(`upgrade of ${url} was accepted`);
}

test('malformed events on a per-chat socket get error events; the socket stays open and nothing changes', async (t) => {
  const { gw1, gw2 } = gateways();
  const [alice, bob, carol] = await users(3, 'bad');
  const aliceWs = await open(t, `${gw1.wsUrl}/dialog/${bob!.login}/ws`, alice!);
  const bobWs = await open(t, `${gw2.wsUrl}/dialog/${alice!.login}/ws`, bob!);

  await rejected(aliceWs, 'this is not JSON', 'invalid_json');
  await rejected(aliceWs, '{"type": "send_message", "payload": {"text": "cut', 'invalid_json');
  await rejected(aliceWs, '[1, 2, 3]', 'invalid_event');
  await rejected(aliceWs, { type: 5, payload: {} }, 'invalid_event');
  await rejected(aliceWs, { type: 'send_message', payload: 'hello' }, 'invalid_event');
  await rejected(aliceWs, { type: 'fly_away', payload: {} }, 'unknown_type');
  await rejected(aliceWs, { type: 'send_message', payload: { text: '' } }, 'invalid_field');
  await rejected(aliceWs, { type: 'send_message', payload: { text: 42 } }, 'invalid_field');
  await rejected(aliceWs, { type: 'send_message', payload: {} }, 'invalid_field');
  await rejected(aliceWs, { type: 'send_message', payload: { text: 'x'.repeat(4097) } }, 'text_too_long');
  await rejected(
    aliceWs,
    { type: 'send message', payload: { text: '\u{1F600}'.repeat(4097) } },
    'text_too_long',
  );
  await rejected(
    aliceWs,
    { type: 'send_message', payload: { text: 'hi', client_id: 'has space' } },
    'invalid_field',
  );
  await rejected(aliceWs, { type: 'read', payload: { id: 'seven' } }, 'invalid_field');
  await rejected(aliceWs, { type: 'read', payload: { id: 0 } }, 'invalid_field');
  await rejected(aliceWs, { type: 'read', payload: { id: 1.5 } }, 'invalid_field');
  // A per-chat socket may name its own chat, but no other.
  await rejected(
    aliceWs,
    { type: 'send_message', payload: { text: 'elsewhere', chat: dialog(carol!.login) } },
    'forbidden',
  );
  await rejected(
    aliceWs,
    { type: 'send_message', payload: { text: 'x', chat: { type: 'room', id: 'a' } } },
    'invalid_field',
  );

  // The error carries the client_id of a rejected send, so the client knows which one failed.
  const clientId = newClientId();
  sendText(aliceWs, 'y'.repeat(4097), { clientId });
  const tooLong = await aliceWs.next(errorEvent('text_too_long'), EVENT_MS);
  assert.equal(tooLong.payload.client_id, clientId);

  aliceWs.socket.send(Buffer.from('{"type":"send_message","payload":{"text":"binary"}}'), { binary: true });
  assert.equal(
    (await aliceWs.next(errorEvent(), EVENT_MS)).payload.code,
    'invalid_event',
    'binary frames are refused',
  );

  // Still open and working: exactly 4096 characters is fine, named with or without the chat.
  const longest = 'z'.repeat(4096);
  await sendAndAck(aliceWs, longest);
  await sendAndAck(aliceWs, 'named', { chat: dialog(bob!.login) });
  await bobWs.next(messageIn(dialog(alice!.login), 'named'), EVENT_MS);
  await sleep(QUIET_MS);
  const history = await historyAfter(api(gw2.url), bob!, `/dialog/${alice!.login}`);
  assert.deepEqual(
    history.map((m) => m.text),
    [longest, 'named'],
    'rejected events stored nothing',
  );
  assert.equal(messagesOf(bobWs, dialog(alice!.login)).length, 2);
  assert.equal(bobWs.events.filter(errorEvent()).length, 0);
});

test('/chats/ws: client events need the chat field, and chats the user may not use are refused', async (t) => {
  const { gw1, gw2 } = gateways();
  const [alice, bob, outsider] = await users(3, 'mx');
  const g = await api(gw1.url).request<{ id: string }>('POST', '/groups', {
    token: alice!.token,
    body: { name: 'Private', members: [bob!.login] },
  });
  assert.equal(g.status, 201);
  const privateGroup = group(g.json!.id);
  const ws = await open(t, `${gw2.wsUrl}/chats/ws`, outsider!);
  const aliceWs = await open(t, `${gw1.wsUrl}/group/${privateGroup.id}/ws`, alice!);

  await rejected(ws, { type: 'send_message', payload: { text: 'to whom?' } }, 'invalid_field');
  await rejected(ws, { type: 'read', payload: { id: 1 } }, 'invalid_field');
  await rejected(ws, { type: 'typing', payload: {} }, 'invalid_field');
  await rejected(
    ws,
    { type: 'send_message', payload: { text: 'x', chat: { type: 'dialog' } } },
    'invalid_field',
  );
  await rejected(ws, { type: 'send_message', payload: { text: 'x', chat: 'bob' } }, 'invalid_field');
  await rejected(
    ws,
    { type: 'send_message', payload: { text: 'me', chat: dialog(outsider!.login) } },
    'self_dialog',
  );
  await rejected(
    ws,
    { type: 'send_message', payload: { text: 'x', chat: dialog(uniqueLogin('ghost')) } },
    'user_not_found',
  );
  await rejected(
    ws,
    { type: 'send_message', payload: { text: 'x', chat: group('noSuchGroup1') } },
    'group_not_found',
  );
  await rejected(
    ws,
    { type: 'send_message', payload: { text: 'x', chat: group('bad id!') } },
    'group_not_found',
  );
  await rejected(
    ws,
    { type: 'send_message', payload: { text: 'let me in', chat: privateGroup } },
    'not_member',
  );
  await rejected(ws, { type: 'read', payload: { id: 1, chat: privateGroup } }, 'not_member');
  await rejected(ws, { type: 'typing', payload: { chat: privateGroup } }, 'not_member');

  // Still open: a message to a real dialog goes through.
  await sendAndAck(ws, 'hello alice', { chat: dialog(alice!.login) });
  await sleep(QUIET_MS);
  assert.equal(aliceWs.events.filter((e) => e.type === 'typing' || e.type === 'new_message').length, 0);
  const history = await historyAfter(api(gw1.url), alice!, `/group/${privateGroup.id}`);
  assert.deepEqual(history, [], 'nothing reached the private group');
});

test('upgrade refusals are plain HTTP responses with the REST codes', async (t) => {
  const { gw1, gw2 } = gateways();
  const [alice, bob, outsider] = await users(3, 'up');
  const g = await api(gw1.url).request<{ id: string }>('POST', '/groups', {
    token: alice!.token,
    body: { name: 'Closed', members: [bob!.login] },
  });
  const groupId = g.json!.id;

  assert.deepEqual(await refusal(`${gw1.wsUrl}/chats/ws`, {}), [401, 'unauthorized']);
  assert.deepEqual(await refusal(`${gw2.wsUrl}/chats/ws`, { token: 'not-a-session' }), [401, 'unauthorized']);
  assert.deepEqual(await refusal(`${gw1.wsUrl}/dialog/${bob!.login}/ws`, { cookie: 'sessionToken=forged' }), [
    401,
    'unauthorized',
  ]);
  assert.deepEqual(await refusal(`${gw2.wsUrl}/group/${groupId}/ws`, { token: outsider!.token }), [
    403,
    'not_member',
  ]);
  assert.deepEqual(
    await refusal(`${gw1.wsUrl}/chats/ws`, { token: alice!.token, origin: 'https://evil.example' }),
    [403, 'origin_not_allowed'],
  );
  assert.deepEqual(
    await refusal(`${gw1.wsUrl}/dialog/${uniqueLogin('nobody')}/ws`, { token: alice!.token }),
    [404, 'user_not_found'],
  );
  assert.deepEqual(await refusal(`${gw2.wsUrl}/group/doesNotExist42/ws`, { token: alice!.token }), [
    404,
    'group_not_found',
  ]);
  assert.equal(
    await expectUpgradeRefused(`${gw1.wsUrl}/dialog/${alice!.login}/ws`, { token: alice!.token }),
    400,
  );
  assert.equal(await expectUpgradeRefused(`${gw1.wsUrl}/no/such/ws`, { token: alice!.token }), 404);

  // Accepted: the server's own origin, no Origin (not a browser), and every way of presenting the session.
  await open(t, `${gw1.wsUrl}/chats/ws`, alice!, { origin: gw1.url });
  await open(t, `${gw2.wsUrl}/group/${groupId}/ws`, null, { cookie: bob!.cookie });
  const bearer = await open(t, `${gw2.wsUrl}/dialog/${alice!.login}/ws`, null, {
    headers: { authorization: `Bearer ${bob!.token}` },
  });
  await sendAndAck(bearer, 'over bearer');
});

test('a frame over WS_MAX_FRAME_BYTES closes the socket with 1009; a frame at the limit does not', async (t) => {
  const { gw1, gw2 } = gateways();
  const [alice, bob] = await users(2, 'frm');
  const envelope = (text: string) => JSON.stringify({ type: 'send_message', payload: { text } });
  const atLimit = envelope('a'.repeat(MAX_FRAME - envelope('').length));
  assert.equal(Buffer.byteLength(atLimit), MAX_FRAME);

  const ws = await open(t, `${gw1.wsUrl}/dialog/${bob!.login}/ws`, alice!);
  await rejected(ws, atLimit, 'text_too_long');
  // Any valid message fits the default limit: 4096 characters of 4 bytes each.
  const emoji = '\u{1F600}'.repeat(4096);
  await sendAndAck(ws, emoji, { chat: dialog(bob!.login) });

  for (const size of [MAX_FRAME + 1, 200 * 1024]) {
    const victim = await open(t, `${gw2.wsUrl}/chats/ws`, alice!);
    victim.send(envelope('b'.repeat(size - envelope('').length)));
    const closed = await victim.closed;
    assert.equal(
      closed.code,
      1009,
      `a ${size}-byte frame closes with 1009 (got ${closed.code} ${closed.reason})`,
    );
  }
  const history = await historyAfter(api(gw1.url), bob!, `/dialog/${alice!.login}`);
  assert.deepEqual(
    history.map((m) => m.text),
    [emoji],
  );
});

test('a client that keeps sending invalid events is disconnected with 1008', async (t) => {
  const { gw2 } = gateways();
  const [alice] = await users(1, 'spam');
  const ws = await open(t, `${gw2.wsUrl}/chats/ws`, alice!);
  for (let i = 0; i < 60; i++) ws.send('garbage');
  const closed = await ws.closed;
  assert.equal(closed.code, 1008);
  assert.ok(ws.events.filter(errorEvent('invalid_json')).length >= 50, 'the first ones got error events');
});

test('sending faster than SEND_RATE_LIMIT gets rate_limited errors with the client_id', async (t) => {
  const { gw1, gw2 } = gateways();
  const [alice, bob] = await users(2, 'rl');
  const ws = await open(t, `${gw1.wsUrl}/dialog/${bob!.login}/ws`, alice!);
  const bobWs = await open(t, `${gw2.wsUrl}/dialog/${alice!.login}/ws`, bob!);
  const total = SEND_RATE_LIMIT * 3;
  const ids = Array.from({ length: total }, () => newClientId());
  for (const clientId of ids) sendText(ws, 'burst', { clientId });
  const outcome = await Promise.all(
    ids.map((clientId) =>
      ws.next(
        (e) => e.payload.client_id === clientId && (e.type === 'new_message' || e.type === 'error'),
        EVENT_MS,
      ),
    ),
  );
  const acked = outcome.filter((e) => e.type === 'new_message').length;
  const limited = outcome.filter((e) => e.type === 'error');
  assert.ok(limited.length > 0, 'some sends were limited');
  assert.ok(acked >= SEND_RATE_LIMIT, `the burst allowance was served (${acked} acked)`);
  for (const e of limited) assert.equal(e.payload.code, 'rate_limited');
  await bobWs.take(messageIn(dialog(alice!.login)), acked, EVENT_MS);
  await sleep(QUIET_MS);
  assert.equal(messagesOf(bobWs, dialog(alice!.login)).length, acked, 'limited sends were not stored');
  assert.equal((await historyAfter(api(gw2.url), bob!, `/dialog/${alice!.login}`)).length, acked);
  // The socket stays open, and the budget refills.
  await sleep(1000);
  const again = newClientId();
  sendText(ws, 'later', { clientId: again });
  await ws.next(ackOf(again), EVENT_MS);
});

test('a sender far over the rate limit keeps its socket and every acknowledgement of what was accepted', async (t) => {
  const { gw1, gw2 } = gateways();
  const [alice, bob] = await users(2, 'flood');
  const ws = await open(t, `${gw1.wsUrl}/dialog/${bob!.login}/ws`, alice!);
  const bobWs = await open(t, `${gw2.wsUrl}/dialog/${alice!.login}/ws`, bob!);
  // Ten times the per-second limit at once: far more rate_limited answers than the 50 invalid events
  // that would close the socket, while the accepted sends are still on their way to the shard.
  const total = SEND_RATE_LIMIT * 10;
  const ids = Array.from({ length: total }, () => newClientId());
  for (const clientId of ids) sendText(ws, 'flood', { clientId });
  const outcome = await Promise.all(
    ids.map((clientId) =>
      ws.next(
        (e) => e.payload.client_id === clientId && (e.type === 'new_message' || e.type === 'error'),
        EVENT_MS,
      ),
    ),
  );
  const acked = outcome.filter((e) => e.type === 'new_message');
  const limited = outcome.filter((e) => e.type === 'error');
  assert.ok(limited.length > 50, `more rejections than the misbehaviour budget (${limited.length})`);
  assert.ok(acked.length >= SEND_RATE_LIMIT, `the burst allowance was served (${acked.length} acked)`);
  for (const e of limited) {
    assert.equal(e.payload.code, 'rate_limited', e.raw);
    const retry = e.payload.retry_after_ms;
    assert.ok(typeof retry === 'number' && Number.isInteger(retry) && retry > 0 && retry <= 1000, e.raw);
  }
  // Still open, and what was accepted is exactly what was stored and delivered.
  await sleep(QUIET_MS);
  assert.equal(ws.socket.readyState, ws.socket.OPEN, 'the socket stays open');
  await bobWs.take(messageIn(dialog(alice!.login)), acked.length, EVENT_MS);
  const stored = await historyAfter(api(gw2.url), bob!, `/dialog/${alice!.login}`);
  assert.deepEqual(
    stored.map((m) => m.id),
    acked.map((e) => e.payload.id!).sort((x, y) => x - y),
    'the acknowledged messages, and only those, are stored',
  );
  // The hint is honest: after waiting it out, the next send is accepted on the same socket.
  const wait = Math.max(...limited.map((e) => e.payload.retry_after_ms as number));
  await sleep(wait + 50);
  const again = newClientId();
  sendText(ws, 'after the hint', { clientId: again });
  await ws.next(ackOf(again), EVENT_MS);
});

test('logout closes the open sockets of that session on every gateway, and only those', async (t) => {
  const { gw1, gw2 } = gateways();
  const [alice, bob] = await users(2, 'out');
  const other = await api(gw2.url).login(alice!.login);
  const a1 = await open(t, `${gw1.wsUrl}/chats/ws`, alice!);
  const a2 = await open(t, `${gw2.wsUrl}/dialog/${bob!.login}/ws`, alice!);
  const keep = await open(t, `${gw2.wsUrl}/chats/ws`, other);

  const res = await api(gw1.url).request('POST', '/logout', { token: alice!.token });
  assert.equal(res.status, 204);
  for (const ws of [a1, a2]) {
    const closed = await Promise.race([ws.closed, sleep(EVENT_MS).then(() => null)]);
    assert.ok(closed, 'the socket of the revoked session was closed');
    assert.equal(closed.code, 1008);
  }
  await sendAndAck(keep, 'still here', { chat: dialog(bob!.login) });
  assert.equal(await expectUpgradeRefused(`${gw2.wsUrl}/chats/ws`, { token: alice!.token }), 401);
});
