/**
 * `npm start`: the whole cluster on one machine. Starts redis-server (AOF on,
 * files under ./data/redis) unless REDIS_URL names one, then relay, presence,
 * the shards and the gateways as separate processes, waits until each reports
 * ready, and prints the URL. Crashed processes are restarted with backoff.
 * SIGINT/SIGTERM stops gateways first, then shards, relay, presence and Redis.
 */
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs, USAGE, type LauncherOptions } from './args.js';
import { Output } from './output.js';
import { anyFreePort, portIsFree } from './ports.js';
import { redisServerArgs, waitForRedis } from './redis-server.js';
import {
  ROOT,
  STOP_ORDER,
  serviceEntry,
  serviceEnv,
  waitReady,
  type ServiceKind,
  type ServicePorts,
} from './services.js';
import { Supervised } from './supervisor.js';
import { startCassandraNode, type CassandraNode } from './cassandra-node.js';

interface Proc {
  kind: ServiceKind | 'redis';
  sup: Supervised;
  ports: ServicePorts | { redis: number };
}

const STOP_GRACE_MS = 15_000;

async function run(options: LauncherOptions, out: Output): Promise<number> {
  let entries: Record<ServiceKind, string>;
  try {
    entries = {
      gateway: serviceEntry('gateway'),
      shard: serviceEntry('shard'),
      relay: serviceEntry('relay'),
      presence: serviceEntry('presence'),
    };
  } catch (err) {
    out.error((err as Error).message);
    return 1;
  }
  const dataDir = path.resolve(options.data);
  fs.mkdirSync(path.join(dataDir, 'redis'), { recursive: true });
  if (!(await portIsFree(options.port, options.host))) {
    out.error(`port ${options.port} on ${options.host} is already in use; choose another with --port`);
    return 1;
  }

  const taken = new Set<number>([options.port]);
  const pick = async (preferred: number): Promise<number> => {
    let port = preferred;
    while (taken.has(port) || !(await portIsFree(port))) port = await anyFreePort();
    taken.add(port);
    return port;
  };

  const procs: Proc[] = [];
  const events = {
    line: (name: string, line: string, stream: 'stdout' | 'stderr') => out.child(name, line, stream),
    crashed: (name: string, how: string, delay: number) =>
      out.error(`${name} ${how}; restarting in ${delay} ms`, { node: name }),
    restarted: (name: string, pid: number | undefined) =>
      out.info(`${name} restarted (pid ${pid})`, { node: name, pid }),
  };
  let stopping: Promise<void> | null = null;
  let firstSignalAt = 0;
  /** The shutdown in progress, if a signal came (a function, so TypeScript does not narrow it away). */
  const stopRequested = (): Promise<void> | null => stopping;
  const shutdown = async (): Promise<void> => {
    for (const kind of [...STOP_ORDER, 'redis'] as const) {
      await Promise.all(
        procs
          .filter((p) => p.kind === kind)
          .map(async (p) => {
            const name = p.sup.spec.name;
            if ((await p.sup.stop('SIGTERM', STOP_GRACE_MS)) === 'killed') {
              out.error(`${name} did not stop within ${STOP_GRACE_MS} ms; killed it`, { node: name });
            } else {
              out.info(`${name} stopped`, { node: name });
            }
          }),
      );
    }
  };
  const onSignal = (signal: NodeJS.Signals) => {
    if (!stopping) {
      firstSignalAt = Date.now();
      out.info(
        `${signal}: stopping gateways, shards, relay, presence, then redis (Ctrl-C again kills everything)`,
      );
      stopping = shutdown();
    } else if (Date.now() - firstSignalAt > 1000) {
      // The first signal may arrive twice (terminal and npm both forward it); a later one means "now".
      out.error('killing every process');
      for (const p of procs) p.sup.killNow();
      process.exit(130);
    }
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('SIGHUP', onSignal);
  process.on('exit', () => procs.forEach((p) => p.sup.killNow()));

  const start = (
    kind: Proc['kind'],
    name: string,
    command: string,
    args: string[],
    env: NodeJS.ProcessEnv,
    ports: Proc['ports'],
  ) => {
    const sup = new Supervised({ name, command, args, env, cwd: ROOT }, events);
    procs.push({ kind, sup, ports });
    sup.start();
    return sup;
  };

  // The local Cassandra node, when --store cassandra names no cluster: started first, stopped last.
  let cassandraNode: CassandraNode | null = null;
  let cassandraContactPoints = process.env.CASSANDRA_CONTACT_POINTS ?? '';
  if (options.store === 'cassandra') {
    if (cassandraContactPoints) {
      out.info(`using Cassandra at ${cassandraContactPoints} (CASSANDRA_CONTACT_POINTS)`);
    } else {
      try {
        cassandraNode = await startCassandraNode({
          dataDir: path.join(dataDir, 'cassandra'),
          nativePort: 9042,
          storagePort: 7000,
          startTimeoutMs: Math.max(options.readyTimeoutMs, 180_000),
          log: (line) => out.info(line, { node: 'cassandra' }),
        });
      } catch (err) {
        out.error((err as Error).message);
        return 1;
      }
      cassandraContactPoints = cassandraNode.contactPoint;
      const node = cassandraNode;
      process.on('exit', () => {
        if (node.pid) {
          try {
            process.kill(node.pid, 'SIGKILL');
          } catch {
            // already stopped
          }
        }
      });
    }
  }
  const stopCassandra = async (): Promise<void> => {
    if (!cassandraNode) return;
    await cassandraNode.stop();
    out.info('cassandra stopped', { node: 'cassandra' });
  };

  let redisUrl = process.env.REDIS_URL ?? '';
  if (redisUrl) {
    out.info(`using Redis at ${redisUrl} (REDIS_URL)`);
  } else {
    const port = await pick(6379);
    const dir = path.join(dataDir, 'redis');
    const args = redisServerArgs({ port, dir, logFile: path.join(dir, 'redis.log') });
    const sup = start('redis', 'redis', 'redis-server', args, process.env, { redis: port });
    try {
      await waitForRedis(port, { timeoutMs: options.readyTimeoutMs, exited: () => sup.exits > 0 });
    } catch (err) {
      const pending = stopRequested();
      if (pending) return pending.then(stopCassandra).then(() => 0);
      out.error(`${(err as Error).message}; see ${path.join(dir, 'redis.log')}`);
      await shutdown();
      await stopCassandra();
      return 1;
    }
    redisUrl = `redis://127.0.0.1:${port}`;
  }
  // A signal while Redis was starting: start nothing more.
  const pending = stopRequested();
  if (pending) return pending.then(stopCassandra).then(() => 0);

  const relay = { grpc: await pick(7200), metrics: await pick(9300) };
  const presence = { grpc: await pick(7300), metrics: await pick(9400) };
  const wiring = {
    redisUrl,
    relayAddr: `127.0.0.1:${relay.grpc}`,
    presenceAddr: `127.0.0.1:${presence.grpc}`,
    sqlitePath: path.join(dataDir, 'gmessenger.db'),
    ...(options.store === 'cassandra'
      ? {
          cassandra: {
            contactPoints: cassandraContactPoints.split(',').map((s) => s.trim()),
            keyspace: process.env.CASSANDRA_KEYSPACE || 'gmessenger',
            ...(process.env.CASSANDRA_LOCAL_DC ? { localDataCenter: process.env.CASSANDRA_LOCAL_DC } : {}),
            ...(process.env.CASSANDRA_REPLICATION ? { replication: process.env.CASSANDRA_REPLICATION } : {}),
          },
        }
      : {}),
  };
  const plan: { kind: ServiceKind; name: string; ports: ServicePorts }[] = [
    { kind: 'relay', name: 'relay-1', ports: relay },
    { kind: 'presence', name: 'presence-1', ports: presence },
  ];
  for (let i = 0; i < options.shards; i++) {
    plan.push({
      kind: 'shard',
      name: `shard-${i + 1}`,
      ports: { grpc: await pick(7100 + i), metrics: await pick(9200 + i) },
    });
  }
  for (let i = 0; i < options.gateways; i++) {
    plan.push({
      kind: 'gateway',
      name: `gateway-${i + 1}`,
      ports: { http: options.port, metrics: await pick(9100 + i) },
    });
  }
  out.names(['redis', ...plan.map((p) => p.name)]);

  const services = plan.map((p) => {
    const env = { ...process.env, ...serviceEnv(p.kind, p.name, p.ports, wiring, options.host) };
    return { ...p, sup: start(p.kind, p.name, process.execPath, [entries[p.kind]], env, p.ports) };
  });
  const ready = Promise.all(
    services.map((s) =>
      waitReady(`http://127.0.0.1:${s.ports.metrics}/readyz`, {
        name: s.name,
        timeoutMs: options.readyTimeoutMs,
        exited: () => (s.sup.exits > 0 ? s.sup.lastExit : null),
      }),
    ),
  );
  try {
    await Promise.race([
      ready,
      new Promise<void>((resolve) => process.once('SIGINT', resolve).once('SIGTERM', resolve)),
    ]);
  } catch (err) {
    if (!stopping) {
      out.error(`${(err as Error).message}; its log lines are above`);
      stopping = shutdown();
      await stopping;
      await stopCassandra();
      return 1;
    }
  }
  if (!stopping) {
    const shown = options.host === '0.0.0.0' || options.host === '::' ? 'localhost' : options.host;
    const url = `http://${shown}:${options.port}/`;
    const processes = procs.map((p) => ({ name: p.sup.spec.name, pid: p.sup.pid, ...p.ports }));
    const summary = processes.map(({ name, pid, ...ports }) => {
      const where = Object.entries(ports).map(([k, v]) => `${k} :${v}`);
      return `${name} (pid ${pid}, ${where.join(', ')})`;
    });
    out.info(`gmessenger is up: ${url}`, { url });
    out.info(`processes: ${summary.join('; ')}`, { processes });
    await new Promise<void>((resolve) =>
      process.once('SIGINT', resolve).once('SIGTERM', resolve).once('SIGHUP', resolve),
    );
  }
  await stopping;
  await stopCassandra();
  out.info('stopped');
  return 0;
}

let options: LauncherOptions;
try {
  options = parseArgs(process.argv.slice(2));
} catch (err) {
  console.error(`${(err as Error).message}\n\n${USAGE}`);
  process.exit(2);
}
if (options.help) {
  console.log(USAGE);
  process.exit(0);
}
const out = new Output();
run(options, out).then(
  (code) => process.exit(code),
  (err: unknown) => {
    out.error(`launcher failed: ${err instanceof Error ? err.stack : String(err)}`);
    process.exit(1);
  },
);
