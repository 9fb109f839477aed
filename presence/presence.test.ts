/**
 * Presence with real parts: a real redis-server per test, the SQLite store in a
 * temp dir, PresenceClient instances as gateways and the PresenceEngine in
 * process; the crash cases run a real gateway process and the real presence
 * service process and SIGKILL them.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { test, type TestContext } from 'node:test';
import { Redis } from 'ioredis';
import { loadConfig, type Config } from '../common/config.js';
import { dialogChatId, groupChatId } from '../common/ids.js';
import { Keys } from '../common/keys.js';
import { decodeInboxEntries } from '../delivery/index.js';
import { createLogger } from '../common/logger.js';
import { releasePorts, reservePort, ROOT } from '../launcher/index.js';
import { openStore, type Store } from '../store/index.js';
import { startRedis, type RedisServer } from '../test/harness/index.js';
import { createPresenceClient, PresenceClient, PresenceEngine, readPresence } from './index.js';

const logger = createLogger('presence-test', 'test', 'silent');
const DEBOUNCE_MS = 600;
const LEASE_MS = 1500;

interface StatusEvent {
  users: string[];
  user_login: string;
  is_online: boolean;
  last_seen: string | null;
}

interface Fixture {
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

async function setup(t: TestContext, env: Record<string, string> = {}): Promise<Fixture> {
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
async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function message(chatId: string, id: number, sender: string) {
  return { chatId, id, sender, text: `m${id}`, time: Date.now(), clientId: null };
}

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

test('a gateway that stalled past its lease is swept, then resyncs itself', async (t) => {
  const f = await setup(t);
  await f.startEngine();
  const child = spawnTs('./testing/gateway-process', ['alice>bob'], gatewayEnv(f, 'gw-stall'));
  t.after(() => killChild(child));
  await waitForLine(child, 'ready');
  await waitFor('alice online', async () => (await f.presenceOf('alice')).online, 5000);
  assert.deepEqual(await f.redis.hgetall(f.keys.watchers('bob')), { alice: '1' });

  child.kill('SIGSTOP'); // a stall: no heartbeats, sockets (in its memory) still open
  await waitFor(
    'alice offline after the sweep',
    async () => !(await f.presenceOf('alice')).online,
    LEASE_MS + 3000,
  );
  assert.equal(await f.redis.exists(f.keys.route('alice')), 0);
  assert.equal(await f.redis.exists(f.keys.watchers('bob')), 0, 'its watchers were dropped too');

  child.kill('SIGCONT'); // its next heartbeat finds the lease gone and pushes its state again
  await waitFor('alice online after resync', async () => (await f.presenceOf('alice')).online, LEASE_MS * 2);
  assert.deepEqual(await f.redis.hgetall(f.keys.route('alice')), { 'gw-stall': '1' });
  assert.deepEqual(await f.redis.hgetall(f.keys.watchers('bob')), { alice: '1' });
  assert.ok((await f.redis.zscore(f.keys.gateways(), 'gw-stall')) !== null);
});

test('a SIGKILLed gateway stops keeping its users online within about the lease', async (t) => {
  const f = await setup(t);
  await f.startEngine();
  const other = await f.gateway('gw-b');
  await other.connected('carol');
  const child = spawnTs('./testing/gateway-process', ['alice', 'bob', 'carol'], gatewayEnv(f, 'gw-dead'));
  t.after(() => killChild(child));
  await waitForLine(child, 'ready');
  await waitFor('users online', async () => (await f.presenceOf('bob')).online, 5000);

  child.kill('SIGKILL');
  const killedAt = Date.now();
  await waitFor('alice offline', async () => !(await f.presenceOf('alice')).online, LEASE_MS + 3000);
  const took = Date.now() - killedAt;
  assert.ok(took <= LEASE_MS + 2500, `offline ${took} ms after the kill (lease ${LEASE_MS} ms)`);
  assert.equal((await f.presenceOf('bob')).online, false);
  assert.equal((await f.presenceOf('carol')).online, true, 'carol still has a socket on gw-b');
  const { lastSeen } = await f.presenceOf('alice');
  assert.ok(
    lastSeen !== null && lastSeen <= killedAt && lastSeen > killedAt - LEASE_MS,
    'last_seen = last heartbeat',
  );
  assert.equal(await f.redis.zscore(f.keys.gateways(), 'gw-dead'), null);
  assert.deepEqual(await f.redis.hkeys(f.keys.route('carol')), ['gw-b']);
});

test('a gateway restarted with the same node id drops what its killed predecessor left', async (t) => {
  const f = await setup(t);
  await f.startEngine();
  const child = spawnTs('./testing/gateway-process', ['alice', 'bob'], gatewayEnv(f, 'gw-1'));
  t.after(() => killChild(child));
  await waitForLine(child, 'ready');
  await waitFor('bob online', async () => (await f.presenceOf('bob')).online, 5000);
  child.kill('SIGKILL');
  // Restarted at once (before its lease ran out); only alice reconnects to it.
  const gw = await f.gateway('gw-1');
  await gw.connected('alice');
  await waitFor('bob offline', async () => !(await f.presenceOf('bob')).online, DEBOUNCE_MS + 2000);
  assert.equal((await f.presenceOf('alice')).online, true);
  assert.deepEqual(await f.redis.smembers(f.keys.gatewayUsers('gw-1')), ['alice']);
});

test('a graceful gateway stop lets users move to another gateway without flapping', async (t) => {
  const f = await setup(t);
  await f.startEngine();
  const gwA = await f.gateway('gw-a');
  const gwB = await f.gateway('gw-b');
  await f.store.messages.append([message(dialogChatId('alice', 'bob'), 1, 'bob')]);
  await gwB.connected('bob');
  await gwA.connected('alice');
  await gwA.connected('zed');
  await waitFor('alice online', async () => (await f.presenceOf('alice')).online);
  await gwA.stop();
  await gwB.connected('alice');
  await waitFor('zed offline', async () => !(await f.presenceOf('zed')).online, DEBOUNCE_MS + 2000);
  await sleep(200);
  assert.equal((await f.presenceOf('alice')).online, true);
  assert.deepEqual(
    (await f.statuses('gw-b')).filter((s) => s.user_login === 'alice').map((s) => s.is_online),
    [true],
  );
  assert.equal(await f.redis.zscore(f.keys.gateways(), 'gw-a'), null);
});

test('a restarted engine rebuilds from Redis: changes made while it was down are settled', async (t) => {
  const f = await setup(t);
  const first = await f.startEngine();
  const gw = await f.gateway('gw-a');
  await gw.connected('alice');
  await waitFor('alice online', async () => (await f.presenceOf('alice')).online);
  await first.stop();

  await gw.disconnected('alice');
  await gw.connected('bob');
  await sleep(300);
  assert.equal((await f.presenceOf('alice')).online, true, 'nothing decides while presence is down');
  assert.equal((await f.presenceOf('bob')).online, false);

  await f.startEngine();
  await waitFor('bob online', async () => (await f.presenceOf('bob')).online, 3000);
  await waitFor('alice offline', async () => !(await f.presenceOf('alice')).online, DEBOUNCE_MS + 3000);
});

test('the presence process survives SIGKILL: restarted, it rebuilds and serves Get over gRPC', async (t) => {
  const f = await setup(t);
  const gw = await f.gateway('gw-a');
  const grpcPort = await reservePort();
  const metricsPort = await reservePort();
  t.after(() => releasePorts([grpcPort, metricsPort]));
  const env = {
    ...gatewayEnv(f, 'presence-1'),
    GRPC_PORT: String(grpcPort),
    METRICS_PORT: String(metricsPort),
  };
  const start = async () => {
    const child = spawnTs('./main', [], env);
    child.stdout!.resume();
    t.after(() => killChild(child));
    await waitFor(
      'presence ready',
      async () => (await fetch(`http://127.0.0.1:${metricsPort}/readyz`).catch(() => null))?.status === 200,
      20_000,
    );
    return child;
  };
  const first = await start();
  const client = createPresenceClient(`127.0.0.1:${grpcPort}`);
  t.after(() => client.close());

  await gw.connected('alice');
  await waitFor('alice online', async () => (await f.presenceOf('alice')).online);
  first.kill('SIGKILL');
  await new Promise((r) => first.once('exit', r));
  await gw.disconnected('alice');
  await gw.connected('bob');

  const second = await start();
  await waitFor('bob online', async () => (await f.presenceOf('bob')).online, 3000);
  await waitFor('alice offline', async () => !(await f.presenceOf('alice')).online, DEBOUNCE_MS + 3000);
  const reply = await client.get({ logins: ['alice', 'bob', 'nobody'] });
  const byLogin = Object.fromEntries(reply.users.map((u) => [u.login, u]));
  assert.equal(byLogin.bob?.online, true);
  assert.equal(byLogin.alice?.online, false);
  assert.ok((byLogin.alice?.lastSeenMs ?? 0) > 0);
  assert.equal(byLogin.nobody?.lastSeenMs, 0);
  const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  assert.match(metrics, /gm_presence_changes_total\{[^}]*status="online"[^}]*\} [1-9]/);
  await waitFor('online gauge', async () =>
    /gm_presence_online_users\{[^}]*\} 1\n/.test(
      await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text(),
    ),
  );

  second.kill('SIGTERM');
  const code = await new Promise<number | null>((r) => second.once('exit', (c) => r(c)));
  assert.equal(code, 0, 'graceful stop exits 0');
});

function gatewayEnv(f: Fixture, node: string): Record<string, string> {
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

/**
 * Node arguments that run the module `rel` (relative to this test file, without extension): the
 * TypeScript source through tsx when the test runs from source, the compiled file when it runs from dist/.
 */
function entry(rel: string): string[] {
  const fromSource = import.meta.url.endsWith('.ts');
  const file = fileURLToPath(new URL(`${rel}.${fromSource ? 'ts' : 'js'}`, import.meta.url));
  return fromSource ? ['--import', 'tsx', file] : [file];
}

function spawnTs(rel: string, args: string[], env: Record<string, string>): ChildProcess {
  return spawn(process.execPath, [...entry(rel), ...args], {
    cwd: ROOT,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
}

function waitForLine(child: ChildProcess, line: string, timeoutMs = 20_000): Promise<void> {
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

async function killChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGKILL');
  await exited;
}
