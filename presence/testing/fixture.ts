/**
 * Presence with real parts, for the presence suites: a real redis-server per
 * test, the SQLite store in a temp dir, PresenceClient instances as gateways
 * and the PresenceEngine in process, and child processes (a gateway's
 * presence client, the presence service) to SIGKILL.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { Redis } from 'ioredis';
import { loadConfig, type Config } from '../../common/config.js';
import { Keys } from '../../common/keys.js';
import { decodeInboxEntries } from '../../delivery/index.js';
import { createLogger } from '../../common/logger.js';
import { openStore, type Store } from '../../store/index.js';
import { spawnModule, startRedis, type RedisServer } from '../../test/harness/index.js';

export { killChild } from '../../test/harness/index.js';
import { PresenceClient, PresenceEngine, readPresence } from '../index.js';

export const logger = createLogger('presence-test', 'test', 'silent');
export const DEBOUNCE_MS = 600;
export const LEASE_MS = 1500;

export interface StatusEvent {
  users: string[];
  user_login: string;
  is_online: boolean;
  last_seen: string | null;
}

export interface Fixture {
  server: RedisServer;
  config: Config;
  keys: Keys;
  store: Store;
  /** A plain connection for assertions. */
  redis: Redis;
  connect(): Redis;
  startEngine(): Promise<PresenceEngine>;
  gateway(node: string): Promise<PresenceClient>;
  presenceOf(login: string): Promise<{ online: boolean; lastSeen: number | null }>;
  /** user_status entries in gw:{node}, oldest first. */
  statuses(node: string): Promise<StatusEvent[]>;
}

export async function setup(t: TestContext, env: Record<string, string> = {}): Promise<Fixture> {
  const server = await startRedis({ appendonly: false });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gm-presence-'));
  const config = loadConfig('presence', {
    REDIS_URL: server.url,
    REDIS_PREFIX: 'pt:',
    SQLITE_PATH: path.join(dir, 'gm.db'),
    LOG_LEVEL: 'silent',
    PRESENCE_DEBOUNCE_MS: String(DEBOUNCE_MS),
    GATEWAY_LEASE_MS: String(LEASE_MS),
    ...env,
  });
  const keys = new Keys(config.redisPrefix);
  const store = await openStore(config);
  const conns: Redis[] = [];
  const engines: PresenceEngine[] = [];
  const clients: PresenceClient[] = [];
  const connect = (): Redis => {
    const r = new Redis(server.url, { maxRetriesPerRequest: 2 });
    r.on('error', () => undefined);
    conns.push(r);
    return r;
  };
  const redis = connect();
  t.after(async () => {
    for (const c of clients) await c.stop().catch(() => undefined);
    for (const e of engines) await e.stop();
    for (const r of conns) r.disconnect();
    await store.close();
    fs.rmSync(dir, { recursive: true, force: true });
    await server.destroy();
  });
  return {
    server,
    config,
    keys,
    store,
    redis,
    connect,
    async startEngine() {
      const engine = new PresenceEngine({ redis: connect(), keys, store, config, logger });
      engines.push(engine);
      await engine.start();
      return engine;
    },
    async gateway(node) {
      const client = new PresenceClient({ redis: connect(), keys, node, config, logger });
      clients.push(client);
      await client.start();
      return client;
    },
    async presenceOf(login) {
      return (await readPresence(redis, keys, [login])).get(login)!;
    },
    async statuses(node) {
      const entries = await redis.xrange(keys.inbox(node), '-', '+');
      const out: StatusEvent[] = [];
      for (const [, fields] of entries) {
        for (const entry of decodeInboxEntries(fields)) {
          if (entry.type !== 'user_status') continue;
          assert.notEqual(entry.users, '*');
          out.push({
            users: entry.users as string[],
            ...((entry.data ?? JSON.parse(entry.payload)) as Omit<StatusEvent, 'users'>),
          });
        }
      }
      return out;
    },
  };
}

/** Polls `check` until it returns true; fails with `what` after `timeoutMs`. */
export async function waitFor(
  what: string,
  check: () => Promise<boolean>,
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function message(chatId: string, id: number, sender: string) {
  return { chatId, id, sender, text: `m${id}`, time: Date.now(), clientId: null };
}

export function gatewayEnv(f: Fixture, node: string): Record<string, string> {
  return {
    NODE_ID: node,
    REDIS_URL: f.server.url,
    REDIS_PREFIX: f.config.redisPrefix,
    SQLITE_PATH: f.config.sqlitePath,
    GATEWAY_LEASE_MS: String(f.config.gatewayLeaseMs),
    PRESENCE_DEBOUNCE_MS: String(f.config.presenceDebounceMs),
    LOG_LEVEL: 'warn',
  };
}

/** Runs module `rel` of presence/ (without extension) as a child process. */
export function spawnTs(rel: string, args: string[], env: Record<string, string>): ChildProcess {
  return spawnModule(import.meta.url, `../${rel}`, args, env);
}

export function waitForLine(child: ChildProcess, line: string, timeoutMs = 20_000): Promise<void> {
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`no "${line}" from child: ${out}`)), timeoutMs);
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk;
      if (out.split('\n').includes(line)) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', () => reject(new Error(`child exited before "${line}": ${out}`)));
  });
}
