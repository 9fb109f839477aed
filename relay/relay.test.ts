/**
 * The relay with real parts: a real redis-server (AOF on) per test, the SQLite
 * store in a temp dir, a real local HTTP server receiving the webhook, the
 * relay in process (or as its own process for the crash cases), and its gRPC
 * API called over the wire.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { test, type TestContext } from 'node:test';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { loadConfig, type Config } from '../common/config.js';
import { dialogChatId, groupChatId } from '../common/ids.js';
import { Keys } from '../common/keys.js';
import { decodeInboxEntry } from '../delivery/index.js';
import { createLogger } from '../common/logger.js';
import { notificationsSent, relayDeadLetters, relayRetries } from '../common/metrics.js';
import { releasePorts, reservePort, ROOT } from '../launcher/index.js';
import { PresenceClient, PresenceEngine } from '../presence/index.js';
import type { ChatMessage } from '../proto/gen/gmessenger/v1/common_pb.js';
import { toChatMessage } from '../proto/messages.js';
import { openStore, type Store, type StoredMessage } from '../store/index.js';
import { startRedis, type RedisServer } from '../test/harness/index.js';
import {
  createRelayClient,
  DEAD_LETTER_QUEUE,
  enqueueRedelivery,
  openRedeliveryQueue,
  verifyWebhook,
  type DeadLetterJob,
  type NotificationBody,
  type RelayClient,
} from './index.js';
import { startRelayServer, type RelayServer } from './server.js';

const logger = createLogger('relay-test', 'test', 'silent');
const SECRET = 'test-secret';

interface Received {
  headers: http.IncomingHttpHeaders;
  body: string;
  json: NotificationBody;
  at: number;
}

interface Receiver {
  url: string;
  requests: Received[];
}

/** A real HTTP server that records each request and answers with the next status of `statuses` (the last repeats). */
async function startReceiver(t: TestContext, statuses: number[] = [200]): Promise<Receiver> {
  const requests: Received[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (body += chunk));
    req.on('end', () => {
      requests.push({
        headers: req.headers,
        body,
        json: JSON.parse(body) as NotificationBody,
        at: Date.now(),
      });
      const status = statuses[Math.min(requests.length - 1, statuses.length - 1)]!;
      res.writeHead(status, { 'content-type': 'text/plain' }).end(String(status));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(
    () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  );
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, requests };
}

interface Fixture {
  redisServer: RedisServer;
  config: Config;
  env: Record<string, string>;
  keys: Keys;
  store: Store;
  redis: Redis;
  receiver: Receiver;
  relay: RelayServer | null;
  client: RelayClient;
  startRelay(): Promise<RelayServer>;
  /** Registers a cleanup step; steps run in reverse order before the fixture's own cleanup. */
  defer(fn: () => unknown): void;
  send(receiver: string, m: StoredMessage): Promise<void>;
}

async function setup(
  t: TestContext,
  env: Record<string, string> = {},
  statuses?: number[],
): Promise<Fixture> {
  const redisServer = await startRedis({ appendonly: true, appendfsync: 'always' });
  const receiver = await startReceiver(t, statuses);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gm-relay-'));
  const grpcPort = await reservePort();
  const metricsPort = await reservePort();
  const fullEnv: Record<string, string> = {
    REDIS_URL: redisServer.url,
    REDIS_PREFIX: 'rt:',
    SQLITE_PATH: path.join(dir, 'gm.db'),
    LOG_LEVEL: 'silent',
    GRPC_PORT: String(grpcPort),
    METRICS_PORT: String(metricsPort),
    NOTIFY_WEBHOOK_URL: receiver.url,
    NOTIFY_WEBHOOK_SECRET: SECRET,
    NOTIFY_DELAY_MS: '300',
    NOTIFY_COALESCE_MS: '2000',
    NOTIFY_BACKOFF_MS: '100',
    NOTIFY_MAX_ATTEMPTS: '4',
    ...env,
  };
  const config = loadConfig('relay', fullEnv);
  const keys = new Keys(config.redisPrefix);
  const store = await openStore(config);
  const redis = new Redis(redisServer.url, { maxRetriesPerRequest: null });
  redis.on('error', () => undefined);
  const client = createRelayClient(`127.0.0.1:${grpcPort}`);
  const deferred: (() => unknown)[] = [];
  const f: Fixture = {
    redisServer,
    config,
    env: fullEnv,
    keys,
    store,
    redis,
    receiver,
    relay: null,
    client,
    async startRelay() {
      f.relay = await startRelayServer(config, logger, store);
      return f.relay;
    },
    defer(fn) {
      deferred.push(fn);
    },
    async send(to, m) {
      await store.messages.append([m]);
      await client.newMessage({ receiver: to, message: toChatMessage(m) });
    },
  };
  t.after(async () => {
    for (const fn of deferred.reverse()) await fn();
    client.close();
    await f.relay?.close();
    redis.disconnect();
    await store.close();
    await redisServer.destroy();
    releasePorts([grpcPort, metricsPort]);
    fs.rmSync(dir, { recursive: true, force: true });
  });
  return f;
}

let seq = 0;
function msg(chatId: string, id: number, sender: string, text = `message ${id}`): StoredMessage {
  return { chatId, id, sender, text, time: Date.now() + seq++, clientId: null };
}

async function waitFor(
  what: string,
  check: () => Promise<boolean> | boolean,
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function counter(
  metric: { get(): Promise<{ values: { labels: object; value: number }[] }> },
  label: object,
) {
  const { values } = await metric.get();
  const match = values.find((v) =>
    Object.entries(label).every(([k, val]) => (v.labels as Record<string, unknown>)[k] === val),
  );
  return match?.value ?? 0;
}

function assertSigned(r: Received): void {
  assert.ok(
    verifyWebhook(
      SECRET,
      {
        timestamp: r.headers['x-gmessenger-timestamp'] as string,
        signature: r.headers['x-gmessenger-signature'] as string,
      },
      r.body,
    ),
    'valid signature',
  );
  assert.ok(
    !verifyWebhook(
      'other-secret',
      {
        timestamp: r.headers['x-gmessenger-timestamp'] as string,
        signature: r.headers['x-gmessenger-signature'] as string,
      },
      r.body,
    ),
  );
  assert.ok(
    !verifyWebhook(
      SECRET,
      {
        timestamp: r.headers['x-gmessenger-timestamp'] as string,
        signature: r.headers['x-gmessenger-signature'] as string,
      },
      r.body + ' ',
    ),
  );
}

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

/**
 * Node arguments that run the module `rel` (relative to this test file, without extension): the
 * TypeScript source through tsx when the test runs from source, the compiled file when it runs from dist/.
 */
function entry(rel: string): string[] {
  const fromSource = import.meta.url.endsWith('.ts');
  const file = fileURLToPath(new URL(`${rel}.${fromSource ? 'ts' : 'js'}`, import.meta.url));
  return fromSource ? ['--import', 'tsx', file] : [file];
}

function spawnTs(rel: string, env: Record<string, string>): ChildProcess {
  const child = spawn(process.execPath, entry(rel), {
    cwd: ROOT,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  child.stdout!.resume();
  return child;
}

async function killChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGKILL');
  await exited;
}
