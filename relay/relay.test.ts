/**
 * Offline notifications with real parts (relay/testing/fixture.ts): one signed
 * webhook per recipient and chat per coalescing window, retries with backoff,
 * dead letters, and the cases where no webhook is due.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { dialogChatId, groupChatId } from '../common/ids.js';
import { notificationsSent, relayDeadLetters, relayRetries } from '../common/metrics.js';
import { PresenceClient, PresenceEngine } from '../presence/index.js';
import { DEAD_LETTER_QUEUE, type DeadLetterJob } from './index.js';
import {
  assertSigned,
  counter,
  logger,
  msg,
  setup,
  sleep,
  waitFor,
  type Received,
} from './testing/fixture.js';

test('one signed webhook per recipient and chat per coalescing window', async (t) => {
  const f = await setup(t, { NOTIFY_COALESCE_MS: '4000' });
  await f.startRelay();
  const dialog = dialogChatId('alice', 'bob');
  const started = Date.now();
  await f.send('bob', msg(dialog, 1, 'alice', 'hello bob'));
  const windowEnds = Date.now() + 4000; // the window opened while that call ran
  await f.send('bob', msg(dialog, 2, 'alice'));
  await f.send('bob', msg(dialog, 3, 'alice'));
  await f.send('bob', msg(groupChatId('team'), 1, 'carol', 'x'.repeat(300)));
  await f.send('alice', msg(dialog, 4, 'alice')); // nobody is notified of their own message
  await waitFor('two webhooks', () => f.receiver.requests.length >= 2);
  await sleep(700);
  assert.equal(f.receiver.requests.length, 2, 'one per chat');
  for (const r of f.receiver.requests) {
    assertSigned(r);
    assert.ok(r.at - started >= 300, 'not before NOTIFY_DELAY_MS');
    assert.equal(r.headers['content-type'], 'application/json; charset=utf-8');
    assert.ok(r.headers['x-gmessenger-delivery']);
  }
  const bodies = f.receiver.requests
    .map((r) => r.json)
    .sort((a, b) => a.chat.type.localeCompare(b.chat.type));
  assert.deepEqual(bodies[0], {
    recipient: 'bob',
    chat: { type: 'dialog', id: 'alice' },
    sender: 'alice',
    message_id: 1,
    preview: 'hello bob',
  });
  assert.deepEqual(bodies[1], {
    recipient: 'bob',
    chat: { type: 'group', id: 'team' },
    sender: 'carol',
    message_id: 1,
    preview: 'x'.repeat(100) + '…',
  });

  // Still inside the window: coalesced. After it: a new notification.
  await f.send('bob', msg(dialog, 5, 'alice'));
  await sleep(600);
  assert.equal(f.receiver.requests.length, 2);
  await sleep(Math.max(0, windowEnds + 100 - Date.now()));
  await f.send('bob', msg(dialog, 6, 'alice'));
  await waitFor('third webhook', () => f.receiver.requests.length === 3);
  assert.equal(f.receiver.requests[2]!.json.message_id, 6);
});

test('a failing webhook is retried with exponential backoff until it succeeds', async (t) => {
  const f = await setup(t, {}, [500, 503, 200]);
  await f.startRelay();
  const retriesBefore = await counter(relayRetries, { queue: 'notify' });
  await f.send('bob', msg(dialogChatId('alice', 'bob'), 1, 'alice'));
  await waitFor('three attempts', () => f.receiver.requests.length === 3);
  await sleep(500);
  const [a, b, c] = f.receiver.requests as [Received, Received, Received];
  assert.equal(f.receiver.requests.length, 3, 'no attempt after the success');
  assert.ok(b.at - a.at >= 90, `first retry after ~NOTIFY_BACKOFF_MS (${b.at - a.at} ms)`);
  assert.ok(c.at - b.at >= 190, `second retry after twice that (${c.at - b.at} ms)`);
  assert.equal(
    new Set(f.receiver.requests.map((r) => r.headers['x-gmessenger-delivery'])).size,
    1,
    'same delivery id',
  );
  for (const r of f.receiver.requests) assertSigned(r);
  assert.equal((await counter(relayRetries, { queue: 'notify' })) - retriesBefore, 2);
});

test('after NOTIFY_MAX_ATTEMPTS failures the job is dead-lettered and visible in metrics', async (t) => {
  const f = await setup(t, { NOTIFY_MAX_ATTEMPTS: '3' }, [500]);
  const relay = await f.startRelay();
  const deadBefore = await counter(relayDeadLetters, { queue: 'notify' });
  await f.send('bob', msg(dialogChatId('alice', 'bob'), 7, 'alice'));
  const dead = new Queue<DeadLetterJob>(DEAD_LETTER_QUEUE, {
    connection: f.redis,
    prefix: f.keys.bullPrefix(),
  });
  f.defer(() => dead.close());
  await waitFor('dead letter', async () => (await dead.getWaitingCount()) === 1);
  assert.equal(f.receiver.requests.length, 3);
  const [job] = await dead.getWaiting();
  assert.equal(job!.data.queue, 'notify');
  assert.equal(job!.data.attempts, 3);
  assert.equal(job!.data.error, 'webhook answered 500');
  assert.deepEqual((job!.data.data as { receiver: string; messageId: number }).receiver, 'bob');
  assert.equal((await counter(relayDeadLetters, { queue: 'notify' })) - deadBefore, 1);
  await waitFor('queue depth gauge', async () => {
    const text = await (await fetch(`http://127.0.0.1:${relay.metricsPort}/metrics`)).text();
    return /gm_relay_queue_depth\{[^}]*queue="dead-letter",state="waiting"[^}]*\} 1/.test(text);
  });
  await sleep(500);
  assert.equal(f.receiver.requests.length, 3, 'no attempt after dead-lettering');
});

test('a webhook that rejects the request (4xx) is dead-lettered without retries', async (t) => {
  const f = await setup(t, {}, [400]);
  await f.startRelay();
  const dead = new Queue<DeadLetterJob>(DEAD_LETTER_QUEUE, {
    connection: f.redis,
    prefix: f.keys.bullPrefix(),
  });
  f.defer(() => dead.close());
  await f.send('bob', msg(dialogChatId('alice', 'bob'), 1, 'alice'));
  await waitFor('dead letter', async () => (await dead.getWaitingCount()) === 1);
  await sleep(400);
  assert.equal(f.receiver.requests.length, 1);
});

test('no webhook when the delivered mark reaches the message in time; the window reopens', async (t) => {
  const f = await setup(t, { NOTIFY_DELAY_MS: '1500' });
  await f.startRelay();
  const dialog = dialogChatId('alice', 'bob');
  const skippedBefore = await counter(notificationsSent, { result: 'skipped_delivered' });
  await f.send('bob', msg(dialog, 1, 'alice'));
  await f.send('bob', msg(dialog, 2, 'alice'));
  // bob's client catches up before the notification is due.
  await f.store.messages.saveMarks(dialog, [{ login: 'bob', deliveredId: 2, readId: 0 }]);
  await waitFor(
    'skip',
    async () => (await counter(notificationsSent, { result: 'skipped_delivered' })) > skippedBefore,
  );
  assert.equal(f.receiver.requests.length, 0);
  // A later missed message in the same window is notified: the skipped job did not use up the window.
  await f.send('bob', msg(dialog, 3, 'alice'));
  await waitFor('webhook for message 3', () => f.receiver.requests.length === 1);
  assert.equal(f.receiver.requests[0]!.json.message_id, 3);
});

test('no webhook when the recipient comes back online before it is due', async (t) => {
  const f = await setup(t, { NOTIFY_DELAY_MS: '800', PRESENCE_DEBOUNCE_MS: '200' });
  await f.startRelay();
  const presenceRedis = new Redis(f.redisServer.url);
  f.defer(() => presenceRedis.disconnect());
  const engine = new PresenceEngine({
    redis: presenceRedis,
    keys: f.keys,
    store: f.store,
    config: f.config,
    logger,
  });
  await engine.start();
  f.defer(() => engine.stop());
  const gateway = new PresenceClient({
    redis: f.redis,
    keys: f.keys,
    node: 'gw-1',
    config: f.config,
    logger,
  });
  await gateway.start();
  f.defer(() => gateway.stop());

  const skippedBefore = await counter(notificationsSent, { result: 'skipped_online' });
  await f.send('bob', msg(dialogChatId('alice', 'bob'), 1, 'alice'));
  await gateway.connected('bob');
  await waitFor(
    'skip',
    async () => (await counter(notificationsSent, { result: 'skipped_online' })) > skippedBefore,
  );
  assert.equal(f.receiver.requests.length, 0);

  // Offline again: the next missed message is notified.
  await gateway.disconnected('bob');
  await sleep(600);
  await f.send('bob', msg(dialogChatId('alice', 'bob'), 2, 'alice'));
  await waitFor('webhook', () => f.receiver.requests.length === 1);
});

test('without NOTIFY_WEBHOOK_URL notifications are counted, not sent', async (t) => {
  const f = await setup(t, { NOTIFY_WEBHOOK_URL: '' });
  await f.startRelay();
  const before = await counter(notificationsSent, { result: 'unconfigured' });
  await f.send('bob', msg(dialogChatId('alice', 'bob'), 1, 'alice'));
  await waitFor(
    'counted',
    async () => (await counter(notificationsSent, { result: 'unconfigured' })) === before + 1,
  );
  assert.equal(f.receiver.requests.length, 0);
});
