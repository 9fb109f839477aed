/**
 * The relay's other duties and its durability, with real parts
 * (relay/testing/fixture.ts): Unsent against history, redelivery of inbox
 * entries, and pending notifications across a SIGKILLed relay and a
 * SIGKILLed Redis.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { dialogChatId, groupChatId } from '../common/ids.js';
import { decodeInboxEntry } from '../delivery/index.js';
import type { ChatMessage } from '../proto/gen/gmessenger/v1/common_pb.js';
import type { StoredMessage } from '../store/index.js';
import { enqueueRedelivery, openRedeliveryQueue } from './index.js';
import { assertSigned, killChild, msg, setup, sleep, spawnTs, waitFor } from './testing/fixture.js';

test('Unsent equals history after the delivered mark, chat by chat', async (t) => {
  const f = await setup(t);
  await f.startRelay();
  const ab = dialogChatId('alice', 'bob');
  const bc = dialogChatId('bob', 'carol');
  const g = groupChatId('g1');
  const other = groupChatId('g2');
  const now = Date.now();
  await f.store.groups.createGroup(
    { id: 'g1', name: 'G1', isPublic: false, owner: 'carol', createdAt: now },
    [
      { login: 'carol', role: 'owner' },
      { login: 'bob', role: 'member' },
    ],
  );
  await f.store.groups.createGroup(
    { id: 'g2', name: 'G2', isPublic: false, owner: 'carol', createdAt: now },
    [{ login: 'carol', role: 'owner' }],
  );
  const batch: StoredMessage[] = [];
  for (let i = 1; i <= 6; i++) batch.push(msg(ab, i, i % 2 ? 'alice' : 'bob'));
  for (let i = 1; i <= 3; i++) batch.push(msg(bc, i, 'carol'));
  for (let i = 1; i <= 4; i++) batch.push(msg(g, i, 'carol'));
  for (let i = 1; i <= 2; i++) batch.push(msg(other, i, 'carol'));
  await f.store.messages.append(batch);
  await f.store.messages.saveMarks(ab, [
    { login: 'bob', deliveredId: 2, readId: 1 },
    { login: 'alice', deliveredId: 4, readId: 4 },
  ]);
  await f.store.messages.saveMarks(g, [{ login: 'bob', deliveredId: 4, readId: 0 }]);

  const reply = await f.client.unsent({ receiver: 'bob' });
  const got = reply.messages
    .map((m: ChatMessage) => `${m.chatId}#${m.id}:${m.sender}:${m.text}:${m.timeMs}`)
    .sort();
  const expected: string[] = [];
  for (const [chat, after] of [
    [ab, 2],
    [bc, 0],
    [g, 4],
  ] as const) {
    for (const m of await f.store.messages.history(chat, { after, limit: 100 })) {
      expected.push(`${m.chatId}#${m.id}:${m.sender}:${m.text}:${m.time}`);
    }
  }
  assert.deepEqual(got, expected.sort());
  assert.equal(got.length, 4 + 3);
  const statuses = Object.fromEntries(
    reply.messages.filter((m) => m.chatId === ab).map((m) => [m.id, m.status]),
  );
  // bob's own message 4 was read by alice; alice's 3 and 5 are not delivered to bob yet; 6 (bob's) not read.
  assert.deepEqual(statuses, { 3: 1, 4: 3, 5: 1, 6: 1 });

  const limited = await f.client.unsent({ receiver: 'bob', limitPerChat: 1 });
  assert.deepEqual(limited.messages.map((m) => `${m.chatId}#${m.id}`).sort(), [`${ab}#3`, `${bc}#1`].sort());
  assert.deepEqual((await f.client.unsent({ receiver: 'nobody' })).messages, []);
  await assert.rejects(f.client.unsent({ receiver: '' }), { code: 'invalid_field' });
});

test('redelivery retries an inbox entry to a live gateway and drops it for a dead one', async (t) => {
  const f = await setup(t);
  await f.startRelay();
  const queue = openRedeliveryQueue(f.redis, f.keys);
  f.defer(() => queue.close());
  await f.redis.zadd(f.keys.gateways(), Date.now() + 60_000, 'gw-live');
  await f.redis.zadd(f.keys.gateways(), Date.now() - 1, 'gw-dead');
  const entry = {
    type: 'new_message' as const,
    chatId: dialogChatId('alice', 'bob'),
    users: ['bob'],
    excludeConn: '',
    payload: '{"id":1}',
    storedAtMs: 123,
  };
  await enqueueRedelivery(queue, 'gw-dead', entry);
  await enqueueRedelivery(queue, 'gw-live', entry);
  await waitFor('entry in gw-live inbox', async () => (await f.redis.xlen(f.keys.inbox('gw-live'))) === 1);
  const [[, fields]] = (await f.redis.xrange(f.keys.inbox('gw-live'), '-', '+')) as [[string, string[]]];
  assert.deepEqual(decodeInboxEntry(fields), entry);
  await waitFor('both done', async () => (await queue.getCompletedCount()) === 2);
  const results = (await queue.getCompleted()).map((j) => `${j.data.node}:${j.returnvalue}`).sort();
  assert.deepEqual(results, ['gw-dead:gateway_gone', 'gw-live:delivered']);
  assert.equal(await f.redis.exists(f.keys.inbox('gw-dead')), 0);
});

test('a pending notification survives a SIGKILLed relay process', async (t) => {
  const f = await setup(t, { NOTIFY_DELAY_MS: '1500' });
  const start = async () => {
    const child = spawnTs('./main', { ...f.env, LOG_LEVEL: 'warn', NODE_ID: 'relay-1' });
    f.defer(() => killChild(child));
    await waitFor(
      'relay ready',
      async () =>
        (await fetch(`http://127.0.0.1:${f.env.METRICS_PORT}/readyz`).catch(() => null))?.status === 200,
      20_000,
    );
    return child;
  };
  const first = await start();
  await f.send('bob', msg(dialogChatId('alice', 'bob'), 1, 'alice'));
  first.kill('SIGKILL');
  await new Promise((r) => first.once('exit', r));
  await sleep(1700);
  assert.equal(f.receiver.requests.length, 0, 'nobody sent it while the relay was down');
  const second = await start();
  await waitFor('webhook after restart', () => f.receiver.requests.length === 1, 15_000);
  await sleep(500);
  assert.equal(f.receiver.requests.length, 1);
  assertSigned(f.receiver.requests[0]!);
  second.kill('SIGTERM');
  const code = await new Promise<number | null>((r) => second.once('exit', (c) => r(c)));
  assert.equal(code, 0, 'graceful stop exits 0');
});

test('a pending notification survives a Redis SIGKILL and restart (AOF)', async (t) => {
  const f = await setup(t, { NOTIFY_DELAY_MS: '1500', NOTIFY_COALESCE_MS: '15000' });
  await f.startRelay();
  await f.send('bob', msg(dialogChatId('alice', 'bob'), 1, 'alice'));
  await f.redisServer.kill();
  assert.equal(f.receiver.requests.length, 0, 'the job was still pending');
  await sleep(300);
  await f.redisServer.restart();
  await waitFor('webhook after the Redis restart', () => f.receiver.requests.length === 1, 20_000);
  assert.equal(f.receiver.requests[0]!.json.message_id, 1);
  // The coalescing window survived too.
  await f.send('bob', msg(dialogChatId('alice', 'bob'), 2, 'alice'));
  await sleep(1800);
  assert.equal(f.receiver.requests.length, 1);
});
