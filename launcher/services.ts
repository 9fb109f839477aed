/**
 * What a gmessenger process is and how it is started: the entry point of each
 * service in dist/, the environment that wires the processes of one cluster
 * together, and the /readyz wait. Shared by `npm start` and the test harness so
 * both start services exactly the same way.
 */
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export type ServiceKind = 'gateway' | 'shard' | 'relay' | 'presence';

/** Graceful shutdown order: entry points first, so nothing new arrives at what stops later. */
export const STOP_ORDER: readonly ServiceKind[] = ['gateway', 'shard', 'relay', 'presence'];

/** The repository root: the nearest folder above this module with a package.json (works from dist/ and from source). */
export const ROOT: string = (() => {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!fs.existsSync(path.join(dir, 'package.json'))) {
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error('package.json not found above ' + fileURLToPath(import.meta.url));
    dir = parent;
  }
  return dir;
})();

const ENTRY: Record<ServiceKind, string> = {
  gateway: 'dist/gateway/main.js',
  shard: 'dist/shards/main.js',
  relay: 'dist/relay/main.js',
  presence: 'dist/presence/main.js',
};

/** Absolute path of a service's compiled entry point; throws a clear error when the build is missing. */
export function serviceEntry(kind: ServiceKind): string {
  const file = path.join(ROOT, ENTRY[kind]);
  if (!fs.existsSync(file)) throw new Error(`${ENTRY[kind]} not found: run \`npm run build\` first`);
  return file;
}

/** Where the processes of one cluster find each other. */
export interface ClusterWiring {
  redisUrl: string;
  relayAddr: string;
  presenceAddr: string;
  sqlitePath: string;
  /** When set, the processes store in Cassandra (STORE=cassandra) instead of the SQLite file. */
  cassandra?: CassandraWiring;
  /** Listen address of gRPC and ops servers. @default '127.0.0.1' */
  internalHost?: string;
}

/** The Cassandra cluster and keyspace of a cluster that stores in Cassandra. */
export interface CassandraWiring {
  contactPoints: readonly string[];
  keyspace: string;
  /** @default 'datacenter1' */
  localDataCenter?: string;
  /** @default 'SimpleStrategy:1' */
  replication?: string;
}

/** Ports of one process: `metrics` always, `http` for gateways, `grpc` for the others. */
export interface ServicePorts {
  metrics: number;
  http?: number;
  grpc?: number;
}

/** The environment variables (see common/config.ts) that make one process of a cluster. */
export function serviceEnv(
  kind: ServiceKind,
  nodeId: string,
  ports: ServicePorts,
  wiring: ClusterWiring,
  httpHost = '127.0.0.1',
): Record<string, string> {
  const internal = wiring.internalHost ?? '127.0.0.1';
  const env: Record<string, string> = {
    NODE_ID: nodeId,
    REDIS_URL: wiring.redisUrl,
    SQLITE_PATH: wiring.sqlitePath,
    RELAY_ADDR: wiring.relayAddr,
    PRESENCE_ADDR: wiring.presenceAddr,
    METRICS_HOST: internal,
    METRICS_PORT: String(ports.metrics),
  };
  if (wiring.cassandra) {
    env.STORE = 'cassandra';
    env.CASSANDRA_CONTACT_POINTS = wiring.cassandra.contactPoints.join(',');
    env.CASSANDRA_KEYSPACE = wiring.cassandra.keyspace;
    env.CASSANDRA_LOCAL_DC = wiring.cassandra.localDataCenter ?? 'datacenter1';
    env.CASSANDRA_REPLICATION = wiring.cassandra.replication ?? 'SimpleStrategy:1';
  }
  if (kind === 'gateway') {
    if (ports.http === undefined) throw new Error(`${nodeId}: a gateway needs an HTTP port`);
    env.HTTP_HOST = httpHost;
    env.HTTP_PORT = String(ports.http);
  } else {
    if (ports.grpc === undefined) throw new Error(`${nodeId}: a ${kind} needs a gRPC port`);
    env.GRPC_HOST = internal;
    env.GRPC_PORT = String(ports.grpc);
    env.GRPC_ADVERTISE = `${internal}:${ports.grpc}`;
  }
  return env;
}

/** One GET with a short timeout; the status code, or 0 when nothing answered. */
export function httpStatus(url: string, timeoutMs = 1000): Promise<number> {
  return new Promise((resolve) => {
    const req = http.get(url, { timeout: timeoutMs, agent: false }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.once('timeout', () => req.destroy());
    req.once('error', () => resolve(0));
  });
}

export interface WaitReadyOptions {
  /** Name used in the error message. */
  name: string;
  /** @default 30000 */
  timeoutMs?: number;
  /** Returns a reason when the process is gone; the wait then fails at once. */
  exited?: () => string | null;
}

/** Polls `readyzUrl` until it answers 200; the error names the service and the last status seen. */
export async function waitReady(readyzUrl: string, options: WaitReadyOptions): Promise<void> {
  const timeoutMs = options.timeoutMs ?? 30_000;
  const deadline = Date.now() + timeoutMs;
  let last: number;
  for (;;) {
    const gone = options.exited?.();
    if (gone) throw new Error(`${options.name} ${gone} before it was ready`);
    last = await httpStatus(readyzUrl);
    if (last === 200) return;
    if (Date.now() >= deadline) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  const seen = last === 0 ? 'no answer' : `last status ${last}`;
  throw new Error(`${options.name} not ready after ${timeoutMs} ms (${readyzUrl}: ${seen})`);
}
