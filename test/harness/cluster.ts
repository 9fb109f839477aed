/**
 * A real gmessenger cluster for end-to-end tests: the services from dist/ as
 * separate child processes, wired to one Redis (started here unless given)
 * under a unique REDIS_PREFIX, with a temp SQLite database and free ports.
 * Each process's stdout/stderr goes to its own log file; tests print the tail
 * with `cluster.logs(proc)`, and it is printed automatically when a process
 * exits without being asked to or (with `t`) when the test fails.
 *
 * Needs a build (`npm run build`; scripts/run-tests.mjs does it). Set
 * TEST_LOGS=1 to also stream every child's output to stderr while debugging,
 * TEST_KEEP=1 to keep the temp dirs.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CONFIG_SPEC } from '../../common/config.js';
import {
  releasePorts,
  reservePort,
  ROOT,
  serviceEntry,
  serviceEnv,
  waitReady,
  type ClusterWiring,
  type ServiceKind,
} from '../../launcher/index.js';
import { removeDir, tail, testFailed, trackDir, trackPid, untrackPid, type TestLike } from './cleanup.js';
import { startRedis, type RedisServer } from './redis.js';
import { dropKeyspace, migrateKeyspace, testCassandra, testKeyspace } from './cassandra.js';

export type { ServiceKind };

/**
 * Service settings every test cluster gets unless `env` overrides them: cheap
 * password hashing and no per-address registration/login limits, so suites can
 * create many users from 127.0.0.1 quickly. Tests of those features set them.
 */
export const TEST_ENV: Readonly<Record<string, string>> = {
  LOG_LEVEL: 'info',
  ARGON2_MEMORY_KIB: '8192',
  ARGON2_TIME: '1',
  REGISTER_RATE_LIMIT_IP: '1000000',
  LOGIN_RATE_LIMIT_IP: '1000000',
};

export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** One service process of the cluster. Restarting it keeps the record, name, env and ports. */
export interface ServiceProcess {
  readonly kind: ServiceKind;
  /** Its NODE_ID: gateway-1, shard-2, relay-1, presence-1. */
  readonly name: string;
  /** Every variable the harness set for it (wiring, TEST_ENV, options.env, per-process env). */
  readonly env: Readonly<Record<string, string>>;
  /** http://127.0.0.1:<METRICS_PORT> (/metrics, /healthz, /readyz). */
  readonly metricsUrl: string;
  /** stdout and stderr of every run of this process, appended. */
  readonly logFile: string;
  /** The current (or last) child process. */
  readonly proc: ChildProcess;
  readonly pid: number | undefined;
  readonly running: boolean;
  /** Resolves when the current run exits. */
  readonly exited: Promise<ExitStatus>;
}

export interface GatewayProcess extends ServiceProcess {
  readonly kind: 'gateway';
  /** http://127.0.0.1:<HTTP_PORT>, this gateway's own port. */
  readonly url: string;
  /** ws://127.0.0.1:<HTTP_PORT>; append the path (`/chats/ws`). */
  readonly wsUrl: string;
  readonly port: number;
}

export interface GrpcProcess extends ServiceProcess {
  readonly kind: 'shard' | 'relay' | 'presence';
  /** 127.0.0.1:<GRPC_PORT> */
  readonly grpcAddr: string;
}

export interface StartClusterOptions {
  /** @default 1 */
  gateways?: number;
  /** @default 1 */
  shards?: number;
  /** Start the relay. Its address is reserved and wired either way. @default true */
  relay?: boolean;
  /** Start presence. Its address is reserved and wired either way. @default true */
  presence?: boolean;
  /** Extra variables for every process; override TEST_ENV and the wiring. */
  env?: Record<string, string>;
  /** Extra variables for one process (index counts from 0 within its kind); override `env`. */
  envFor?: (kind: ServiceKind, index: number) => Record<string, string> | undefined;
  /** Use this Redis (not stopped by the cluster) instead of starting one. */
  redis?: RedisServer;
  /**
   * The message store: SQLite in the cluster's temp dir, or a fresh keyspace (dropped at stop) on the
   * run's Cassandra node (test/harness/cassandra.ts). @default process.env.TEST_STORE ?? 'sqlite'
   */
  store?: 'sqlite' | 'cassandra';
  /** How long each process may take to answer 200 on /readyz. @default 60000 */
  readyTimeoutMs?: number;
  /** When given, the cluster is stopped after that test and its logs printed if the test failed. */
  t?: TestLike;
}

export interface Cluster {
  readonly redis: RedisServer;
  /** REDIS_PREFIX of this cluster, e.g. `t3f9a1c2e:`. */
  readonly prefix: string;
  /** Temp dir: SQLite database and logs/. */
  readonly dir: string;
  readonly sqlitePath: string;
  /** Which store the processes use. */
  readonly store: 'sqlite' | 'cassandra';
  /** The Cassandra keyspace when `store` is 'cassandra'. */
  readonly keyspace: string | undefined;
  readonly gateways: GatewayProcess[];
  readonly shards: GrpcProcess[];
  readonly relay: GrpcProcess | undefined;
  readonly presence: GrpcProcess | undefined;
  /** Every process, in start order. */
  readonly processes: ServiceProcess[];
  /** Processes that exited without kill/restart/stop asking them to. */
  readonly unexpectedExits: { name: string; status: ExitStatus }[];
  /** Sends `signal` and waits for the exit (a SIGTERM gets 30 s, then the call fails and SIGKILLs it). */
  kill(proc: ServiceProcess | ChildProcess, signal?: NodeJS.Signals): Promise<ExitStatus>;
  /** Stops it if running (SIGTERM), starts it again with the same env and ports, waits for /readyz. */
  restart(proc: ServiceProcess | ChildProcess): Promise<void>;
  /** Starts one more gateway or shard (scale-out), waits for /readyz. */
  add(kind: 'gateway', env?: Record<string, string>): Promise<GatewayProcess>;
  add(kind: 'shard', env?: Record<string, string>): Promise<GrpcProcess>;
  /** Waits until the process answers 200 on /readyz. */
  waitReady(proc: ServiceProcess | ChildProcess, timeoutMs?: number): Promise<void>;
  /** The last `lines` lines of the process's log. @default 80 */
  logs(proc: ServiceProcess | ChildProcess, lines?: number): string;
  /** Prints the tail of every process's log to stderr. @default 40 lines each */
  printLogs(lines?: number): void;
  /** SIGKILLs every process it started (and its own Redis), frees ports, removes the temp dir. Idempotent. */
  stop(): Promise<void>;
}

const STOP_TIMEOUT_MS = 30_000;

/** The test process's env without any service setting (common/config.ts) a developer may have exported. */
export function cleanEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const spec of Object.values(CONFIG_SPEC)) delete env[spec.env];
  delete env.NODE_TEST_CONTEXT;
  return env;
}

class Managed {
  child!: ChildProcess;
  exited!: Promise<ExitStatus>;
  running = false;
  expectExit = false;
  starting = false;
  url?: string;
  wsUrl?: string;
  port?: number;
  grpcAddr?: string;

  constructor(
    readonly kind: ServiceKind,
    readonly name: string,
    readonly env: Readonly<Record<string, string>>,
    readonly metricsUrl: string,
    readonly logFile: string,
    readonly ports: number[],
    private readonly onUnexpectedExit: (m: Managed, status: ExitStatus) => void,
  ) {}

  get proc(): ChildProcess {
    return this.child;
  }

  get pid(): number | undefined {
    return this.running ? this.child.pid : undefined;
  }

  spawn(): void {
    const tee = process.env.TEST_LOGS === '1';
    const fd = fs.openSync(this.logFile, 'a');
    const child = spawn(process.execPath, [serviceEntry(this.kind)], {
      cwd: ROOT,
      env: { ...cleanEnv(), ...this.env },
      stdio: ['ignore', tee ? 'pipe' : fd, tee ? 'pipe' : fd],
    });
    fs.closeSync(fd);
    if (tee) {
      const forward = (chunk: Buffer) => {
        fs.appendFileSync(this.logFile, chunk);
        for (const line of chunk.toString('utf8').split('\n'))
          if (line) process.stderr.write(`${this.name} | ${line}\n`);
      };
      child.stdout?.on('data', forward);
      child.stderr?.on('data', forward);
    }
    this.child = child;
    this.running = true;
    this.expectExit = false;
    trackPid(child.pid);
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        const status = { code, signal };
        this.running = false;
        untrackPid(child.pid);
        if (!this.expectExit) this.onUnexpectedExit(this, status);
        resolve(status);
      });
    });
  }

  async waitReady(timeoutMs: number): Promise<void> {
    try {
      await waitReady(`${this.metricsUrl}/readyz`, {
        name: this.name,
        timeoutMs,
        exited: () => (this.running ? null : 'exited'),
      });
    } catch (err) {
      throw new Error(
        `${(err as Error).message}\n--- last lines of ${this.logFile} ---\n${tail(this.logFile, 40)}`,
        { cause: err },
      );
    }
  }
}

/** Starts Redis (unless given) and the services, and waits until every one is ready. */
export async function startCluster(options: StartClusterOptions = {}): Promise<Cluster> {
  const readyTimeoutMs = options.readyTimeoutMs ?? 60_000;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gm-cluster-'));
  trackDir(dir);
  fs.mkdirSync(path.join(dir, 'logs'));
  const ownRedis = !options.redis;
  const prefix = `t${crypto.randomBytes(4).toString('hex')}:`;
  const sqlitePath = path.join(dir, 'gmessenger.db');
  const store = options.store ?? (process.env.TEST_STORE === 'cassandra' ? 'cassandra' : 'sqlite');
  const node = store === 'cassandra' ? testCassandra() : undefined;
  if (node && 'unavailable' in node) throw new Error(`a Cassandra cluster is needed: ${node.unavailable}`);
  const keyspace = node ? testKeyspace('e2e') : undefined;
  const all: Managed[] = [];
  const unexpectedExits: { name: string; status: ExitStatus }[] = [];
  const counts: Record<ServiceKind, number> = { gateway: 0, shard: 0, relay: 0, presence: 0 };
  const reserved: number[] = [];
  let stopped = false;
  let redis: RedisServer | undefined = options.redis;

  const reserve = async () => {
    const port = await reservePort();
    reserved.push(port);
    return port;
  };
  const onUnexpectedExit = (m: Managed, status: ExitStatus) => {
    unexpectedExits.push({ name: m.name, status });
    if (m.starting || stopped) return;
    const how = status.signal ? `was killed by ${status.signal}` : `exited with code ${status.code}`;
    console.error(
      `[harness] ${m.name} (pid ${m.child.pid}) ${how} unexpectedly; last lines of its log:\n${tail(m.logFile, 40)}`,
    );
  };

  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    await Promise.all(
      all.map(async (m) => {
        if (!m.running) return;
        m.expectExit = true;
        m.child.kill('SIGKILL');
        await m.exited;
      }),
    );
    if (ownRedis && redis) await redis.destroy();
    if (node && keyspace) await dropKeyspace(node, keyspace).catch(() => undefined);
    releasePorts(reserved);
    removeDir(dir);
  };

  try {
    redis ??= await startRedis();
    const relayPorts = { grpc: await reserve(), metrics: await reserve() };
    const presencePorts = { grpc: await reserve(), metrics: await reserve() };
    const wiring: ClusterWiring = {
      redisUrl: redis.url,
      relayAddr: `127.0.0.1:${relayPorts.grpc}`,
      presenceAddr: `127.0.0.1:${presencePorts.grpc}`,
      sqlitePath,
      ...(node && keyspace ? { cassandra: { contactPoints: node.contactPoints, keyspace } } : {}),
    };
    // Migrated once here, so the services find the schema in place instead of racing to create it.
    if (node && keyspace) await migrateKeyspace(node, keyspace);

    const create = async (
      kind: ServiceKind,
      extraEnv: Record<string, string> | undefined,
    ): Promise<Managed> => {
      const index = counts[kind]++;
      const name = `${kind}-${index + 1}`;
      const ports =
        kind === 'relay'
          ? relayPorts
          : kind === 'presence'
            ? presencePorts
            : kind === 'gateway'
              ? { http: await reserve(), metrics: await reserve() }
              : { grpc: await reserve(), metrics: await reserve() };
      const env = {
        ...TEST_ENV,
        ...serviceEnv(kind, name, ports, wiring),
        REDIS_PREFIX: prefix,
        ...options.env,
        ...options.envFor?.(kind, index),
        ...extraEnv,
      };
      const m = new Managed(
        kind,
        name,
        Object.freeze(env),
        `http://127.0.0.1:${ports.metrics}`,
        path.join(dir, 'logs', `${name}.log`),
        Object.values(ports),
        onUnexpectedExit,
      );
      if ('http' in ports) {
        m.port = ports.http;
        m.url = `http://127.0.0.1:${ports.http}`;
        m.wsUrl = `ws://127.0.0.1:${ports.http}`;
      }
      if ('grpc' in ports) m.grpcAddr = `127.0.0.1:${ports.grpc}`;
      all.push(m);
      return m;
    };
    const launch = async (group: Managed[]): Promise<void> => {
      for (const m of group) {
        m.starting = true;
        m.spawn();
      }
      try {
        await Promise.all(group.map((m) => m.waitReady(readyTimeoutMs)));
      } finally {
        for (const m of group) m.starting = false;
      }
    };

    const first: Managed[] = [];
    if (options.relay !== false) first.push(await create('relay', undefined));
    if (options.presence !== false) first.push(await create('presence', undefined));
    for (let i = 0; i < (options.shards ?? 1); i++) first.push(await create('shard', undefined));
    for (let i = 0; i < (options.gateways ?? 1); i++) first.push(await create('gateway', undefined));
    await launch(first);

    const find = (p: ServiceProcess | ChildProcess): Managed => {
      const m = all.find((x) => x === p || x.child === p);
      if (!m) throw new Error('not a process of this cluster');
      return m;
    };
    const kill = async (
      p: ServiceProcess | ChildProcess,
      signal: NodeJS.Signals = 'SIGKILL',
    ): Promise<ExitStatus> => {
      const m = find(p);
      if (!m.running) return m.exited;
      m.expectExit = true;
      m.child.kill(signal);
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<null>((resolve) => {
        timer = setTimeout(() => resolve(null), STOP_TIMEOUT_MS);
      });
      const status = await Promise.race([m.exited, late]);
      clearTimeout(timer);
      if (status) return status;
      m.child.kill('SIGKILL');
      await m.exited;
      throw new Error(
        `${m.name} did not exit within ${STOP_TIMEOUT_MS} ms of ${signal}\n${tail(m.logFile, 40)}`,
      );
    };

    const cluster: Cluster = {
      redis,
      prefix,
      dir,
      sqlitePath,
      store,
      keyspace,
      get gateways() {
        return all.filter((m) => m.kind === 'gateway') as unknown as GatewayProcess[];
      },
      get shards() {
        return all.filter((m) => m.kind === 'shard') as unknown as GrpcProcess[];
      },
      get relay() {
        return all.find((m) => m.kind === 'relay') as unknown as GrpcProcess | undefined;
      },
      get presence() {
        return all.find((m) => m.kind === 'presence') as unknown as GrpcProcess | undefined;
      },
      get processes() {
        return [...all] as ServiceProcess[];
      },
      unexpectedExits,
      kill,
      restart: async (p) => {
        const m = find(p);
        if (m.running) await kill(m, 'SIGTERM');
        fs.appendFileSync(m.logFile, `--- harness: restarting ${m.name} ---\n`);
        await launch([m]);
      },
      add: (async (kind: 'gateway' | 'shard', env?: Record<string, string>) => {
        const m = await create(kind, env);
        await launch([m]);
        return m;
      }) as Cluster['add'],
      waitReady: (p, timeoutMs = readyTimeoutMs) => find(p).waitReady(timeoutMs),
      logs: (p, lines = 80) => tail(find(p).logFile, lines),
      printLogs: (lines = 40) => {
        for (const m of all)
          console.error(`[harness] --- ${m.name}: last lines of ${m.logFile} ---\n${tail(m.logFile, lines)}`);
      },
      stop,
    };
    const t = options.t;
    if (t) {
      t.after(async () => {
        if (testFailed(t)) cluster.printLogs();
        await stop();
      });
    }
    return cluster;
  } catch (err) {
    await stop();
    throw err;
  }
}
