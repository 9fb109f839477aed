/**
 * The standard benchmark suite behind `npm run bench`: its plan (sizes and
 * durations, full or --quick), and the run itself — the target cluster, user
 * registration, every scenario with CPU accounting, then the Socket.IO peer
 * doing the same dialog and fan-out workload.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runDialogSplit } from './lib/agents.js';
import { summarizeProfiles } from './lib/cpuprofile.js';
import { GmTransport } from './lib/gm-transport.js';
import { newLive, setPhase, type Live } from './lib/live.js';
import { CpuMeter, openFilesLimit } from './lib/proc.js';
import type { Progress } from './lib/progress.js';
import { startTarget, type BenchTarget } from './lib/target.js';
import type { BenchUser, Transport } from './lib/transport.js';
import { UserPool, peerUsers } from './lib/users.js';
import { startPeerCluster } from './peer/cluster.js';
import { SioTransport } from './peer/transport.js';
import type { StoreName } from './lib/args.js';
import type { Machine, ScenarioEntry, SuiteResult, System } from './report/model.js';
import { fmtMs, fmtNum } from './report/text.js';
import { restScenarios, runRest, writeHistory } from './rest.js';
import { runConnections } from './scenarios/connections.js';
import { runFanout } from './scenarios/fanout.js';
import { runReconnect } from './scenarios/reconnect.js';
import { Histogram } from './lib/histogram.js';

export interface SuitePlan {
  quick: boolean;
  /** Dialog pairs. */
  pairs: number;
  window: number;
  dialogRate: number;
  dialogMs: number;
  fanoutMembers: number;
  fanoutWindow: number;
  fanoutRate: number;
  fanoutMs: number;
  connections: number;
  holdMs: number;
  reconnectClients: number;
  reconnectWriters: number;
  restS: number;
  /** Load-generator processes for the dialog scenario. */
  procs: number;
  /** Uncounted load before each dialog measurement. */
  dialogWarmupMs: number;
  graceMs: number;
}

export function makePlan(quick: boolean, o: Partial<SuitePlan> = {}): SuitePlan {
  const base: SuitePlan = quick
    ? {
        quick,
        pairs: 100,
        window: 8,
        dialogRate: 2000,
        dialogMs: 8000,
        fanoutMembers: 500,
        fanoutWindow: 16,
        fanoutRate: 20,
        fanoutMs: 6000,
        connections: 10_000,
        holdMs: 3000,
        reconnectClients: 2000,
        reconnectWriters: 4,
        restS: 4,
        procs: 1,
        dialogWarmupMs: 2000,
        graceMs: 3000,
      }
    : {
        quick,
        pairs: 100,
        window: 8,
        dialogRate: 2000,
        dialogMs: 20_000,
        fanoutMembers: 1000,
        fanoutWindow: 16,
        fanoutRate: 20,
        fanoutMs: 15_000,
        connections: 100_000,
        holdMs: 10_000,
        reconnectClients: 10_000,
        reconnectWriters: 10,
        restS: 10,
        procs: 1,
        dialogWarmupMs: 3000,
        graceMs: 5000,
      };
  const plan = { ...base };
  for (const [k, v] of Object.entries(o)) if (v !== undefined) (plan as Record<string, unknown>)[k] = v;
  return plan;
}

export const SCENARIO_IDS = [
  'connections',
  'rest-login',
  'rest-chats',
  'rest-history',
  'dialog-saturate',
  'dialog-rate',
  'fanout-saturate',
  'fanout-rate',
  'reconnect',
] as const;

/** Scenarios the peer runs too. */
const PEER_IDS = new Set(['dialog-saturate', 'dialog-rate', 'fanout-saturate', 'fanout-rate']);

/** Scenarios that `--store cassandra` runs again on a local Cassandra node. */
export const CASSANDRA_IDS: readonly string[] = ['dialog-saturate', 'dialog-rate', 'rest-history'];

/** The scenarios of `opts` that run on Cassandra ([] unless `stores` has it). */
export function cassandraScenarios(opts: Pick<SuiteOptions, 'only' | 'stores'>): string[] {
  if (!opts.stores?.includes('cassandra')) return [];
  return CASSANDRA_IDS.filter((id) => selected(opts, id));
}

export interface SuiteOptions {
  plan: SuitePlan;
  target?: string;
  metrics?: string;
  /** Only these scenario ids (prefixes match: `dialog` runs both dialog scenarios). */
  only?: string[];
  peer: boolean;
  cpuProfDir?: string;
  command: string;
  /**
   * Stores of the local cluster: with 'cassandra', the dialog and GET /dialog
   * scenarios run again on a second local cluster that stores in a local
   * Cassandra node. @default ['sqlite']
   */
  stores?: StoreName[];
}

export function machineInfo(): Omit<Machine, 'loadAfter'> & { loadAfter: number } {
  const cpus = os.cpus();
  return {
    cpus: cpus.length,
    cpuModel: cpus[0]?.model ?? 'unknown',
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    kernel: `${os.type()} ${os.release()}`,
    node: process.version,
    loadBefore: os.loadavg()[0]!,
    loadAfter: os.loadavg()[0]!,
    openFilesLimit: Number.isFinite(openFilesLimit() ?? NaN) ? (openFilesLimit() ?? null) : null,
  };
}

/** How many progress steps a run of `opts` shows. */
export function stepCount(opts: Pick<SuiteOptions, 'only' | 'peer' | 'stores'>): number {
  const ours = SCENARIO_IDS.filter((id) => selected(opts, id)).length;
  const cassandra = cassandraScenarios(opts).length;
  const peer = opts.peer ? [...PEER_IDS].filter((id) => selected(opts, id)).length : 0;
  return 3 + ours + (cassandra > 0 ? 3 + cassandra : 0) + (peer > 0 ? 1 + peer : 0);
}

function selected(opts: Pick<SuiteOptions, 'only'>, id: string): boolean {
  if (!opts.only || opts.only.length === 0) return true;
  return opts.only.some((o) => id === o || id.startsWith(`${o}-`) || id.startsWith(o));
}

function outcome(e: ScenarioEntry): string {
  if (e.error) return `failed: ${e.error}`;
  switch (e.kind) {
    case 'dialog': {
      const r = e.result!;
      const h = Histogram.fromJSON(r.e2e);
      return `${fmtNum(r.deliveredPerSec)} msg/s, p50 ${fmtMs(h.percentileMs(50))}, p99 ${fmtMs(h.percentileMs(99))}, ${r.lost} lost, ${r.duplicates} dup`;
    }
    case 'fanout': {
      const r = e.result!;
      const h = Histogram.fromJSON(r.lastMember);
      return `${fmtNum(r.deliveriesPerSec)} deliveries/s, last member p50 ${fmtMs(h.percentileMs(50))} p99 ${fmtMs(h.percentileMs(99))}`;
    }
    case 'connections': {
      const r = e.result!;
      return `${fmtNum(r.opened)} open, ${fmtNum(r.bytesPerConnection)} B/connection${r.cap ? ' (capped by the open-files limit)' : ''}`;
    }
    case 'reconnect': {
      const r = e.result!;
      return `${fmtNum(r.caughtUp)}/${fmtNum(r.clients)} caught up in ${fmtMs(r.allCaughtUpMs)}, ${r.failed} failed, ${r.retries} retries`;
    }
    case 'rest': {
      const r = e.result!;
      return `${fmtNum(r.requestsPerSec)} req/s, p99 ${fmtMs(r.latency.p99Ms)}, ${r.non2xx} non-2xx`;
    }
  }
}

/** Starts and stops one V8 CPU profile window per scenario in the target's gateways and shards. */
interface Profiling {
  begin(title: string): void;
  end(): void;
}

/** Runs the suite and returns everything measured. */
export async function runSuite(opts: SuiteOptions, progress: Progress): Promise<SuiteResult> {
  const plan = opts.plan;
  const startedAt = new Date().toISOString();
  const machine = machineInfo();
  const scenarios: ScenarioEntry[] = [];
  let registration: SuiteResult['registration'] | undefined;
  let peerDescription: string | null = null;
  let cassandraInfo: SuiteResult['cassandra'] = null;
  const profiles: NonNullable<SuiteResult['profiles']> = [];
  const cassandraIds = cassandraScenarios(opts);
  if (cassandraIds.length > 0 && opts.target)
    throw new Error('--store cassandra runs a local cluster of its own: leave out --target');

  const runStep = async <E extends ScenarioEntry>(
    entry: Omit<E, 'cpu' | 'wallMs' | 'result'>,
    meter: CpuMeter,
    fn: (live: Live) => Promise<{ result: E['result']; agentCpuSeconds?: number }>,
    profiling?: Profiling,
  ): Promise<void> => {
    const live = newLive();
    const on = entry.store === 'cassandra' ? ', on Cassandra' : '';
    progress.begin(`${entry.title} (${entry.system}${on})`, live);
    const t0 = performance.now();
    profiling?.begin(entry.title);
    meter.start();
    const e = { ...entry, cpu: {}, wallMs: 0 } as unknown as E;
    try {
      const { result, agentCpuSeconds } = await fn(live);
      e.result = result;
      e.cpu = meter.stop(agentCpuSeconds ?? 0);
    } catch (err) {
      e.error = (err as Error).message;
      e.cpu = meter.stop();
    }
    profiling?.end();
    e.wallMs = performance.now() - t0;
    scenarios.push(e);
    progress.end(outcome(e));
  };

  // gmessenger on SQLite (or the remote target)
  const first = await gmessengerPass(undefined, (id) => selected(opts, id));
  const targetInfo = first.info;
  if (first.registration) registration = first.registration;

  // gmessenger again on Cassandra: the same scenarios on a second cluster, on an otherwise idle machine.
  if (cassandraIds.length > 0) {
    try {
      const second = await gmessengerPass('cassandra', (id) => cassandraIds.includes(id));
      cassandraInfo = { description: second.info.description, version: second.cassandraVersion ?? '' };
    } catch (err) {
      // The SQLite figures are kept; the Cassandra rows say why they are missing.
      const message = (err as Error).message;
      progress.log(`gmessenger on Cassandra failed: ${message}`);
      cassandraInfo = { description: 'local cluster on Cassandra', version: '', error: message };
      for (const id of cassandraIds) {
        if (scenarios.some((e) => e.id === id && e.store === 'cassandra')) continue;
        const kind = id.startsWith('rest') ? 'rest' : 'dialog';
        const title =
          id === 'rest-history'
            ? 'GET /dialog/{login}'
            : id === 'dialog-saturate'
              ? 'dialogs, saturate'
              : `dialogs, ${fmtNum(plan.dialogRate)} msg/s`;
        scenarios.push({
          id,
          title,
          system: 'gmessenger',
          store: 'cassandra',
          kind,
          params: id === 'dialog-rate' ? { rate: plan.dialogRate } : {},
          cpu: {},
          wallMs: 0,
          error: message,
        } as ScenarioEntry);
      }
    }
  }

  // The peer, on an otherwise idle machine.
  if (opts.peer && [...PEER_IDS].some((id) => selected(opts, id))) {
    const live = newLive();
    progress.begin('starting the Socket.IO peer', live);
    const peer = await startPeerCluster(2);
    peerDescription = `Socket.IO ${socketIoVersion()} × 2 nodes, @socket.io/redis-streams-adapter, redis-server (no persistence)`;
    progress.end(peerDescription);
    try {
      const meter = new CpuMeter(() => ({
        'socket.io-1': peer.pids[0],
        'socket.io-2': peer.pids[1],
        redis: peer.redis.pid,
      }));
      const users = peerUsers(Math.max(2 * plan.pairs, plan.fanoutMembers));
      await workload('socketio', undefined, new SioTransport(peer.urls), users, meter, (id) =>
        selected(opts, id),
      );
    } finally {
      await peer.stop();
    }
  }

  const result: SuiteResult = {
    version: 1,
    startedAt,
    finishedAt: new Date().toISOString(),
    command: opts.command,
    quick: plan.quick,
    machine: { ...machine, loadAfter: os.loadavg()[0]! },
    target: targetInfo,
    ...(cassandraInfo ? { cassandra: cassandraInfo } : {}),
    peer: peerDescription ? { description: peerDescription } : null,
    registration: registration ?? null,
    scenarios,
  };
  if (opts.cpuProfDir) result.profiles = profiles;
  return result;

  /**
   * Starts a gmessenger target (the local cluster on `store`, or the remote
   * one when `store` is undefined and --target is given), registers users, and
   * runs the scenarios `want` selects, in the suite's order.
   */
  async function gmessengerPass(
    store: StoreName | undefined,
    want: (id: string) => boolean,
  ): Promise<{
    info: SuiteResult['target'];
    registration?: SuiteResult['registration'];
    cassandraVersion?: string;
  }> {
    const onCassandra = store === 'cassandra';
    const setupLive = newLive();
    progress.begin(
      opts.target
        ? 'connecting to the target'
        : onCassandra
          ? 'starting a Cassandra node and the local cluster on it'
          : 'starting the local cluster',
      setupLive,
    );
    setPhase(setupLive, 'starting', 1);
    // With --cpu-prof, every gmessenger scenario gets its own profile window (SIGUSR2 to the preload);
    // the Cassandra cluster's profiles go into a folder of their own.
    const profDir = opts.cpuProfDir
      ? onCassandra
        ? path.join(opts.cpuProfDir, 'cassandra')
        : opts.cpuProfDir
      : undefined;
    const target: BenchTarget = await startTarget({
      target: opts.target,
      metrics: opts.metrics,
      cpuProfDir: profDir,
      cpuProfWindow: true,
      store: opts.target ? undefined : (store ?? 'sqlite'),
      log: (line) => progress.log(`  ${line}`),
    });
    progress.end(target.description);
    const storeField = target.store ? { store: target.store } : {};
    const pidNames = new Map<number, string>();
    for (const p of target.processes())
      if (p.pid !== undefined) pidNames.set(p.pid, onCassandra ? `${p.name} (on Cassandra)` : p.name);
    const windows = new Map<number, string>();
    const profiling: Profiling | undefined = profDir
      ? {
          begin: (title) => {
            windows.set(windows.size + 1, title);
            target.toggleProfiles();
          },
          end: () => target.toggleProfiles(),
        }
      : undefined;
    const info: SuiteResult['target'] = {
      kind: target.kind,
      description: target.description,
      env: target.env,
    };
    let reg: SuiteResult['registration'] | undefined;
    try {
      const meter = new CpuMeter(() => Object.fromEntries(target.processes().map((p) => [p.name, p.pid])));
      const transport = new GmTransport(target.httpUrls, target.wsUrls);
      const fanout = want('fanout-saturate') || want('fanout-rate');
      const needPool = Math.max(
        2 * plan.pairs,
        fanout ? plan.fanoutMembers : 0,
        want('reconnect') ? Math.ceil(plan.reconnectClients / plan.reconnectWriters) : 0,
        2,
      );
      const writersNeeded = want('reconnect') ? plan.reconnectWriters : 0;
      const pool = new UserPool(target.httpUrls[0]!, {
        concurrency: 8,
        cacheFile: target.kind === 'remote' ? cacheFileFor(target.httpUrls[0]!) : undefined,
      });
      const regLive = newLive();
      progress.begin(onCassandra ? 'registering users (on Cassandra)' : 'registering users', regLive);
      setPhase(regLive, 'POST /register', needPool + writersNeeded);
      const all = await pool.ensure(needPool + writersNeeded, (done) => (regLive.done = done));
      reg = { users: pool.registered, ms: pool.registerMs };
      progress.end(
        `${all.length} users (${pool.registered} registered in ${fmtMs(pool.registerMs)}, bounded to 8 at a time)`,
      );
      const users = all.slice(0, needPool);
      const writers = all.slice(needPool);
      const step = <E extends ScenarioEntry>(
        entry: Omit<E, 'cpu' | 'wallMs' | 'result' | 'store'>,
        fn: (live: Live) => Promise<{ result: E['result']; agentCpuSeconds?: number }>,
      ) =>
        runStep<E>({ ...entry, ...storeField } as Omit<E, 'cpu' | 'wallMs' | 'result'>, meter, fn, profiling);

      if (want('connections')) {
        const node = target.httpUrls.length > 1 ? 1 : 0;
        await step(
          {
            id: 'connections',
            title: 'connection capacity',
            system: 'gmessenger',
            kind: 'connections',
            params: { requested: plan.connections, holdMs: plan.holdMs, heartbeatS: 30, gateway: node + 1 },
          },
          async (live) => {
            const result = await runConnections(
              {
                count: plan.connections,
                wsUrl: target.wsUrls[node]!,
                metricsUrl: target.metricsUrls[node],
                pid: target.gatewayPids()[node],
                tokens: users.map((u) => u.token),
                holdMs: plan.holdMs,
              },
              live,
            );
            return { result, agentCpuSeconds: result.generatorCpuSeconds };
          },
        );
      }

      const restIds = ['rest-login', 'rest-chats', 'rest-history'];
      if (restIds.some(want)) {
        const [a, b] = users as [BenchUser, BenchUser];
        await writeHistory(target.wsUrls[0]!, a, b, 150);
        const scen = restScenarios(users, { a, b }, { durationS: plan.restS });
        for (let i = 0; i < scen.length; i++) {
          const s = scen[i]!;
          if (!want(restIds[i]!)) continue;
          await step(
            {
              id: restIds[i]!,
              title: s.name,
              system: 'gmessenger',
              kind: 'rest',
              params: { connections: s.connections, durationS: s.durationS, users: users.length },
            },
            async (live) => {
              setPhase(live, 'autocannon', s.durationS * 1000);
              const t0 = Date.now();
              const tick = setInterval(() => (live.done = Date.now() - t0), 250);
              try {
                return { result: await runRest(target.httpUrls[0]!, s) };
              } finally {
                clearInterval(tick);
              }
            },
          );
        }
      }

      // The storm runs before the fan-out: its users are then not yet members of the 1,000-member groups,
      // whose presence fan-out would otherwise dominate it (measured separately: see docs/BENCHMARKS.md).
      await workload(
        'gmessenger',
        target.store,
        transport,
        users,
        meter,
        want,
        async () => {
          if (want('reconnect')) {
            const pUsers = users.slice(0, Math.ceil(plan.reconnectClients / plan.reconnectWriters));
            await step(
              {
                id: 'reconnect',
                title: 'reconnect storm',
                system: 'gmessenger',
                kind: 'reconnect',
                params: { clients: plan.reconnectClients, writers: writers.length, users: pUsers.length },
              },
              async (live) => ({
                result: await runReconnect(
                  pUsers,
                  writers,
                  { clients: plan.reconnectClients, httpUrls: target.httpUrls, wsUrls: target.wsUrls },
                  live,
                ),
              }),
            );
          }
        },
        profiling,
      );
    } finally {
      const stopLive = newLive();
      progress.begin(
        onCassandra ? 'stopping the cluster and the Cassandra node' : 'stopping the cluster',
        stopLive,
      );
      await target.stop();
      progress.end('stopped');
      if (profDir) profiles.push(...summarizeProfiles(profDir, pidNames, windows));
    }
    return { info, registration: reg, cassandraVersion: target.cassandra?.version };
  }

  /** Dialog scenarios, then `between` (the reconnect storm), then fan-out scenarios. */
  async function workload(
    system: System,
    store: StoreName | undefined,
    transport: Transport,
    users: BenchUser[],
    meter: CpuMeter,
    want: (id: string) => boolean,
    between?: () => Promise<void>,
    profiling?: Profiling,
  ) {
    const senders = users.slice(0, plan.pairs);
    const receivers = users.slice(plan.pairs, 2 * plan.pairs);
    const storeField = store ? { store } : {};
    const dialog = async (id: 'dialog-saturate' | 'dialog-rate') => {
      if (!want(id)) return;
      const saturate = id === 'dialog-saturate';
      const common = {
        pairs: plan.pairs,
        durationMs: plan.dialogMs,
        warmupMs: plan.dialogWarmupMs,
        procs: plan.procs,
      };
      const params = saturate ? { ...common, window: plan.window } : { ...common, rate: plan.dialogRate };
      await runStep(
        {
          id,
          title: saturate ? 'dialogs, saturate' : `dialogs, ${fmtNum(plan.dialogRate)} msg/s`,
          system,
          ...storeField,
          kind: 'dialog',
          params,
        },
        meter,
        (live) =>
          runDialogSplit(
            transport,
            senders,
            receivers,
            {
              mode: saturate ? 'saturate' : 'rate',
              window: plan.window,
              rate: plan.dialogRate,
              durationMs: plan.dialogMs,
              warmupMs: plan.dialogWarmupMs,
              graceMs: plan.graceMs,
            },
            plan.procs,
            live,
          ),
        profiling,
      );
    };
    await dialog('dialog-saturate');
    await dialog('dialog-rate');
    await between?.();
    for (const id of ['fanout-saturate', 'fanout-rate'] as const) {
      if (!want(id)) continue;
      const saturate = id === 'fanout-saturate';
      await runStep(
        {
          id,
          title: saturate ? 'group fan-out, saturate' : `group fan-out, ${fmtNum(plan.fanoutRate)} msg/s`,
          system,
          ...storeField,
          kind: 'fanout',
          params: saturate
            ? { members: plan.fanoutMembers, window: plan.fanoutWindow, durationMs: plan.fanoutMs }
            : { members: plan.fanoutMembers, rate: plan.fanoutRate, durationMs: plan.fanoutMs },
        },
        meter,
        async (live) => ({
          result: await runFanout(
            transport,
            users.slice(0, plan.fanoutMembers),
            {
              mode: saturate ? 'saturate' : 'rate',
              window: plan.fanoutWindow,
              rate: plan.fanoutRate,
              durationMs: plan.fanoutMs,
              graceMs: plan.graceMs,
            },
            live,
          ),
        }),
        profiling,
      );
    }
  }
}

function socketIoVersion(): string {
  try {
    const pkg = JSON.parse(
      fs.readFileSync(path.join(process.cwd(), 'node_modules/socket.io/package.json'), 'utf8'),
    ) as { version: string };
    return pkg.version;
  } catch {
    return '4';
  }
}

/** Where tokens of users registered on a remote target are kept between runs. */
export function cacheFileFor(baseUrl: string): string {
  const u = new URL(baseUrl);
  return path.join('.tmp', `bench-users-${u.hostname}-${u.port || '80'}.json`);
}
