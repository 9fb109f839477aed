/**
 * The system under test: a local gmessenger cluster started with the test
 * harness (real processes from dist/, own redis-server, embedded SQLite
 * store, or a local Cassandra node started for it), or an existing
 * deployment given by `--target URL[,URL...]`.
 */
import fs from 'node:fs';
import path from 'node:path';
import { startCluster, type Cluster } from '../../test/harness/index.js';
import { fileURLToPath } from 'node:url';
import { startCassandraNode, type CassandraNode } from '../../launcher/cassandra-node.js';
import type { StoreName } from './args.js';
import { pidListeningOn } from './proc.js';

/** Node refuses --cpu-prof in NODE_OPTIONS; this preload profiles through the inspector instead. */
const PRELOAD = path.join(
  fileURLToPath(import.meta.url).replace(/(dist\/)?bench\/lib\/target\.(ts|js)$/, ''),
  'bench/lib/cpu-prof-preload.mjs',
);

/**
 * Settings of the local benchmark cluster, on top of the harness defaults.
 * Password hashing is put back to the production cost (the harness lowers it
 * for tests) so that the login figures are real; the per-user send limit is
 * lifted because one benchmark user sends far faster than a person (the
 * fan-out sender alone sends hundreds of messages a second); registration and
 * login limits are lifted because every benchmark user comes from this
 * machine.
 */
export const BENCH_ENV: Readonly<Record<string, string>> = {
  LOG_LEVEL: 'info',
  ARGON2_MEMORY_KIB: '19456',
  ARGON2_TIME: '2',
  ARGON2_PARALLELISM: '1',
  SEND_RATE_LIMIT: '100000',
  LOGIN_RATE_LIMIT: '100000',
  LOGIN_RATE_LIMIT_IP: '1000000',
  REGISTER_RATE_LIMIT_IP: '1000000',
};

/**
 * The local Cassandra node of `store: 'cassandra'`: the durable setting the
 * durability tests use (the commit log synced before each write is
 * acknowledged), the launcher's default heap.
 */
export const BENCH_CASSANDRA = { commitlogSync: 'batch', heapMb: 768 } as const;

export interface TargetProcess {
  name: string;
  pid: number | undefined;
}

export interface BenchTarget {
  /** 'local' (started here) or 'remote' (--target). */
  kind: 'local' | 'remote';
  description: string;
  httpUrls: string[];
  wsUrls: string[];
  /** Ops URL per gateway (/metrics), when known. */
  metricsUrls: (string | undefined)[];
  /** Pid per gateway, when it runs on this machine. */
  gatewayPids(): (number | undefined)[];
  /** Every server process on this machine, for CPU accounting. */
  processes(): TargetProcess[];
  /** Environment the local cluster runs with (empty for remote targets). */
  env: Record<string, string>;
  /**
   * With `cpuProfWindow`: starts, or stops and writes, one CPU profile in every
   * gateway and shard (SIGUSR2 to the preload). No-op otherwise.
   */
  toggleProfiles(): void;
  /** The store of the local cluster (undefined for remote targets). */
  store?: StoreName;
  /** The local cluster's SQLite database (local SQLite targets only). */
  sqlitePath?: string;
  /** The Cassandra node a local `store: 'cassandra'` target started (its CPU is in processes()). */
  cassandra?: { version: string; contactPoint: string; pid: number | undefined; settings: string };
  /** Restarts every shard gracefully (their actors start cold); not available for remote targets. */
  restartShards(): Promise<void>;
  /** Stops what was started here (profiles are written first when enabled); no-op for remote targets. */
  stop(): Promise<void>;
}

export interface TargetOptions {
  /** Comma-separated gateway base URLs of an existing deployment. */
  target?: string;
  /** Comma-separated ops URLs (/metrics) of those gateways, in the same order. */
  metrics?: string;
  /** @default 2 */
  gateways?: number;
  /** @default 1 */
  shards?: number;
  /** Write V8 CPU profiles of gateways and shards into this folder (local cluster). */
  cpuProfDir?: string;
  /** Profile only between calls of toggleProfiles() instead of the whole process life. */
  cpuProfWindow?: boolean;
  /** Extra environment for the local cluster. */
  env?: Record<string, string>;
  /**
   * The local cluster's store: the harness's SQLite file, or a local Cassandra
   * node (launcher/cassandra-node.ts, BENCH_CASSANDRA) started here for this
   * target and stopped with it. @default 'sqlite'
   */
  store?: StoreName;
  /** Progress lines while the Cassandra node starts. */
  log?: (line: string) => void;
}

function remoteTarget(opts: TargetOptions & { target: string }): BenchTarget {
  const httpUrls = opts.target.split(',').map((u) => u.trim().replace(/\/$/, ''));
  const metricsUrls = (opts.metrics ?? '').split(',').map((u) => u.trim().replace(/\/$/, '') || undefined);
  const local = (u: string) => /^http:\/\/(127\.\d+\.\d+\.\d+|localhost)(:|\/|$)/.test(u);
  const pids = () =>
    httpUrls.map((u) => {
      if (!local(u)) return undefined;
      const port = Number(new URL(u).port || 80);
      return pidListeningOn(port);
    });
  return {
    kind: 'remote',
    description: `existing deployment at ${httpUrls.join(', ')}`,
    httpUrls,
    wsUrls: httpUrls.map((u) => u.replace(/^http/, 'ws')),
    metricsUrls: httpUrls.map((_, i) => metricsUrls[i]),
    gatewayPids: pids,
    processes: () => pids().map((pid, i) => ({ name: `gateway-${i + 1}`, pid })),
    env: {},
    toggleProfiles: () => {},
    restartShards: () => Promise.reject(new Error('cannot restart the shards of a remote target')),
    stop: () => Promise.resolve(),
  };
}

/** Starts the local cluster, or describes the remote one. */
export async function startTarget(opts: TargetOptions = {}): Promise<BenchTarget> {
  if (opts.target) return remoteTarget({ ...opts, target: opts.target });
  if (opts.store !== 'cassandra') return localTarget(opts, undefined);
  const node = await startCassandraNode({ ...BENCH_CASSANDRA, log: opts.log });
  // An interrupted run must not leave the JVM behind (a clean stop removes this first).
  const killNode = () => {
    if (node.pid === undefined) return;
    try {
      process.kill(node.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  };
  process.once('exit', killNode);
  // The harness puts each cluster in a keyspace of its own on the node named here (test/harness/cassandra.ts).
  const saved = {
    TEST_CASSANDRA_CONTACT_POINTS: process.env.TEST_CASSANDRA_CONTACT_POINTS,
    TEST_CASSANDRA_VERSION: process.env.TEST_CASSANDRA_VERSION,
  };
  const restore = () => {
    process.off('exit', killNode);
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  };
  process.env.TEST_CASSANDRA_CONTACT_POINTS = node.contactPoint;
  process.env.TEST_CASSANDRA_VERSION = node.releaseVersion;
  try {
    return await localTarget(opts, node, restore);
  } catch (err) {
    restore();
    await node.stop();
    throw err;
  }
}

async function localTarget(
  opts: TargetOptions,
  node: CassandraNode | undefined,
  restore?: () => void,
): Promise<BenchTarget> {
  const env = { ...BENCH_ENV, ...opts.env };
  const profDir = opts.cpuProfDir ? path.resolve(opts.cpuProfDir) : undefined;
  if (profDir) fs.mkdirSync(profDir, { recursive: true });
  const cluster: Cluster = await startCluster({
    gateways: opts.gateways ?? 2,
    shards: opts.shards ?? 1,
    env,
    store: node ? 'cassandra' : 'sqlite',
    readyTimeoutMs: 90_000,
    envFor: (kind) =>
      profDir && (kind === 'gateway' || kind === 'shard')
        ? {
            NODE_OPTIONS: `--import ${PRELOAD}`,
            BENCH_CPU_PROF_DIR: profDir,
            ...(opts.cpuProfWindow ? { BENCH_CPU_PROF_WINDOW: 'signal' } : {}),
          }
        : undefined,
  });
  const gateways = cluster.gateways;
  const settings = `one node, commitlog_sync: ${BENCH_CASSANDRA.commitlogSync}, heap ${BENCH_CASSANDRA.heapMb} MiB, keyspace ${cluster.keyspace ?? ''} (SimpleStrategy 1, LOCAL_QUORUM)`;
  const storeLine = node ? `Cassandra ${node.releaseVersion} (${settings})` : 'SQLite';
  return {
    kind: 'local',
    description: `local cluster: ${gateways.length} gateways, ${cluster.shards.length} shard, relay, presence, redis-server, ${storeLine}`,
    httpUrls: gateways.map((g) => g.url),
    wsUrls: gateways.map((g) => g.wsUrl),
    metricsUrls: gateways.map((g) => g.metricsUrl),
    gatewayPids: () => cluster.gateways.map((g) => g.pid),
    processes: () => [
      ...cluster.processes.map((p) => ({ name: p.name, pid: p.pid })),
      { name: 'redis', pid: cluster.redis.pid },
      ...(node ? [{ name: 'cassandra', pid: node.pid }] : []),
    ],
    env,
    toggleProfiles: () => {
      if (!profDir || !opts.cpuProfWindow) return;
      for (const p of [...cluster.gateways, ...cluster.shards])
        if (p.pid !== undefined) process.kill(p.pid, 'SIGUSR2');
    },
    store: node ? 'cassandra' : 'sqlite',
    ...(node
      ? {
          cassandra: {
            version: node.releaseVersion,
            contactPoint: node.contactPoint,
            pid: node.pid,
            settings,
          },
        }
      : { sqlitePath: cluster.sqlitePath }),
    restartShards: async () => {
      for (const s of cluster.shards) await cluster.restart(s);
    },
    stop: async () => {
      try {
        if (profDir) {
          // Profiles are written at a normal exit: stop the profiled processes gracefully first.
          for (const p of [...cluster.gateways, ...cluster.shards]) {
            if (p.running) await cluster.kill(p, 'SIGTERM').catch(() => undefined);
          }
        }
        await cluster.stop();
      } finally {
        restore?.();
        await node?.stop();
      }
    },
  };
}
