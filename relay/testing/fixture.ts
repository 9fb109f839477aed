/**
 * The relay with real parts, for the relay suites: a real redis-server (AOF
 * on) per test, the SQLite store in a temp dir, a real local HTTP server
 * receiving the webhook, the relay in process (or as its own process for the
 * crash cases), and its gRPC API called over the wire.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { Redis } from 'ioredis';
import { loadConfig, type Config } from '../../common/config.js';
import { Keys } from '../../common/keys.js';
import { createLogger } from '../../common/logger.js';
import { releasePorts, reservePort } from '../../launcher/index.js';
import { toChatMessage } from '../../proto/messages.js';
import { openStore, type Store, type StoredMessage } from '../../store/index.js';
import { spawnModule, startRedis, type RedisServer } from '../../test/harness/index.js';
import { createRelayClient, verifyWebhook, type NotificationBody, type RelayClient } from '../index.js';
import { startRelayServer, type RelayServer } from '../server.js';

export { killChild } from '../../test/harness/index.js';

export const logger = createLogger('relay-test', 'test', 'silent');
export const SECRET = 'test-secret';

export interface Received {
  headers: http.IncomingHttpHeaders;
  body: string;
  json: NotificationBody;
  at: number;
}

export interface Receiver {
  url: string;
  requests: Received[];
}

/** A real HTTP server that records each request and answers with the next status of `statuses` (the last repeats). */
export async function startReceiver(t: TestContext, statuses: number[] = [200]): Promise<Receiver> {
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

export interface Fixture {
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

export async function setup(
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
export function msg(chatId: string, id: number, sender: string, text = `message ${id}`): StoredMessage {
  return { chatId, id, sender, text, time: Date.now() + seq++, clientId: null };
}

export async function waitFor(
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

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function counter(
  metric: { get(): Promise<{ values: { labels: object; value: number }[] }> },
  label: object,
) {
  const { values } = await metric.get();
  const match = values.find((v) =>
    Object.entries(label).every(([k, val]) => (v.labels as Record<string, unknown>)[k] === val),
  );
  return match?.value ?? 0;
}

export function assertSigned(r: Received): void {
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

/** Runs module `rel` of relay/ (without extension) as a child process, its output drained. */
export function spawnTs(rel: string, env: Record<string, string>): ChildProcess {
  const child = spawnModule(import.meta.url, `../${rel}`, [], env);
  child.stdout!.resume();
  return child;
}
