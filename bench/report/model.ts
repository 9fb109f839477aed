/**
 * The results file of `npm run bench` (bench/results/<date>.json) and the
 * summary both reports derive from it: headline figures per scenario, the
 * peer ratios, and the targets of the benchmark issue with a verdict.
 */
import type { RestResult } from '../rest.js';
import type { ConnectionsResult } from '../scenarios/connections.js';
import type { DialogResult } from '../scenarios/dialog.js';
import type { FanoutResult } from '../scenarios/fanout.js';
import type { ReconnectResult } from '../scenarios/reconnect.js';
import { Histogram, type HistogramJSON } from '../lib/histogram.js';

export type System = 'gmessenger' | 'socketio';

/** The message store of a gmessenger measurement. */
export type Store = 'sqlite' | 'cassandra';

interface EntryBase {
  /** Stable id, e.g. `dialog-saturate`. */
  id: string;
  title: string;
  system: System;
  /**
   * The store of the local gmessenger cluster it ran on; absent for the peer, a
   * remote target, and results written before `--store` existed (SQLite).
   */
  store?: Store;
  params: Record<string, unknown>;
  /** Average cores used per process while it ran (load generator included). */
  cpu: Record<string, number>;
  wallMs: number;
  /** Set when the scenario failed; the result is then absent. */
  error?: string;
}

export type ScenarioEntry = EntryBase &
  (
    | { kind: 'dialog'; result?: DialogResult }
    | { kind: 'fanout'; result?: FanoutResult }
    | { kind: 'connections'; result?: ConnectionsResult }
    | { kind: 'reconnect'; result?: ReconnectResult }
    | { kind: 'rest'; result?: RestResult }
  );

export interface Machine {
  cpus: number;
  cpuModel: string;
  memoryGiB: number;
  kernel: string;
  node: string;
  /** 1-minute load average before and after the run: other work on the machine skews results. */
  loadBefore: number;
  loadAfter: number;
  openFilesLimit: number | null;
}

export interface SuiteResult {
  version: 1;
  startedAt: string;
  finishedAt: string;
  command: string;
  quick: boolean;
  machine: Machine;
  target: { kind: string; description: string; env: Record<string, string> };
  /**
   * With `--store cassandra`: the second local cluster, on a Cassandra node of
   * its own, that ran the dialog and history scenarios again; `error` when it
   * could not be started.
   */
  cassandra?: { description: string; version: string; error?: string } | null;
  peer: { description: string } | null;
  registration: { users: number; ms: number } | null;
  scenarios: ScenarioEntry[];
  /** Top self-time functions per profiled process, when run with --cpu-prof. */
  profiles?: ProfileSummary[];
}

export interface ProfileSummary {
  file: string;
  process: string;
  totalMs: number;
  top: { fn: string; where: string; selfMs: number; share: number }[];
}

/** One row of the targets table. */
export interface TargetCheck {
  area: string;
  target: string;
  measured: string;
  /** null: not measured in this run. */
  pass: boolean | null;
  note?: string;
}

/** The store an entry ran on, SQLite where it does not say (older results, remote targets). */
export function storeOf(e: Pick<ScenarioEntry, 'store'>): Store {
  return e.store ?? 'sqlite';
}

/** The entry of scenario `id` of `system` on `store` (gmessenger on SQLite by default). */
export function find<K extends ScenarioEntry['kind']>(
  s: SuiteResult,
  id: string,
  system: System = 'gmessenger',
  store: Store = 'sqlite',
): Extract<ScenarioEntry, { kind: K }> | undefined {
  return s.scenarios.find(
    (e) => e.id === id && e.system === system && (system !== 'gmessenger' || storeOf(e) === store),
  ) as Extract<ScenarioEntry, { kind: K }> | undefined;
}

export function hist(j: HistogramJSON | undefined): Histogram {
  return j ? Histogram.fromJSON(j) : new Histogram();
}

export function p(j: HistogramJSON | undefined, pct: number): number | null {
  return j && j.count > 0 ? Histogram.fromJSON(j).percentileMs(pct) : null;
}

const ms = (v: number | null) => (v === null ? '–' : `${v < 10 ? v.toFixed(2) : v.toFixed(1)} ms`);
const num = (v: number | null | undefined) =>
  v === null || v === undefined ? '–' : Math.round(v).toLocaleString('en-US');

/** The targets of the benchmark issue, checked against this run. */
export function checkTargets(s: SuiteResult): TargetCheck[] {
  const out: TargetCheck[] = [];
  const ds = find<'dialog'>(s, 'dialog-saturate')?.result;
  const drEntry = find<'dialog'>(s, 'dialog-rate');
  const dr = drEntry?.result;
  const dsPeer = find<'dialog'>(s, 'dialog-saturate', 'socketio')?.result;
  const drPeer = find<'dialog'>(s, 'dialog-rate', 'socketio')?.result;
  const fs = find<'fanout'>(s, 'fanout-saturate')?.result;
  const fr = find<'fanout'>(s, 'fanout-rate')?.result;
  const conn = find<'connections'>(s, 'connections')?.result;

  out.push({
    area: 'Dialogs',
    target: '≥ 10,000 messages/s delivered end to end (saturation)',
    measured: ds ? `${num(ds.deliveredPerSec)} msg/s` : '–',
    pass: ds ? ds.deliveredPerSec >= 10_000 : null,
  });
  const drP99 = p(dr?.e2e, 99);
  out.push({
    area: 'Dialogs',
    target: 'p99 < 25 ms at 2,000 messages/s',
    measured: dr ? `p99 ${ms(drP99)} at ${num(dr.deliveredPerSec)} msg/s` : '–',
    pass: dr && drP99 !== null ? drP99 < 25 && Number(drEntry?.params.rate ?? 0) >= 2000 : null,
  });
  const lossDup = [ds, dr].filter((r): r is DialogResult => Boolean(r));
  out.push({
    area: 'Dialogs',
    target: 'zero lost or duplicated messages',
    measured: lossDup.length
      ? `${lossDup.reduce((a, r) => a + r.lost, 0)} lost, ${lossDup.reduce((a, r) => a + r.duplicates, 0)} duplicated, ${lossDup.reduce((a, r) => a + r.unacked, 0)} unacknowledged`
      : '–',
    pass: lossDup.length ? lossDup.every((r) => r.lost === 0 && r.duplicates === 0 && r.unacked === 0) : null,
  });
  out.push({
    area: 'Fan-out',
    target: '≥ 200,000 deliveries/s (1,000 members)',
    measured: fs ? `${num(fs.deliveriesPerSec)} deliveries/s (${fs.members} members)` : '–',
    pass: fs ? fs.deliveriesPerSec >= 200_000 && fs.members >= 1000 : null,
  });
  const lastP99 = p(fr?.lastMember ?? fs?.lastMember, 99);
  out.push({
    area: 'Fan-out',
    target: 'last of 1,000 members has the message within 50 ms at p99',
    measured:
      fr || fs ? `p99 ${ms(lastP99)} (${fr ? `at ${num(fr.messagesPerSec)} msg/s` : 'saturated'})` : '–',
    pass: lastP99 !== null ? lastP99 < 50 && (fr ?? fs)!.members >= 1000 : null,
  });
  out.push({
    area: 'Connections',
    target: '≥ 100,000 idle sockets on one gateway',
    measured: conn ? `${num(conn.opened)} open${conn.cap ? ' (capped)' : ''}` : '–',
    pass: conn ? conn.opened >= 100_000 : null,
    note: conn?.cap ? `capped: ${conn.cap}` : undefined,
  });
  out.push({
    area: 'Connections',
    target: '≤ 4 KiB gateway memory per connection',
    measured:
      conn?.bytesPerConnection != null
        ? `${num(conn.bytesPerConnection)} B/connection at ${num(conn.opened)}` +
          (conn.marginalBytesPerConnection != null
            ? ` (marginal ${num(conn.marginalBytesPerConnection)} B` +
              (conn.projectedBytesPerConnection != null
                ? `; projected ${num(conn.projectedBytesPerConnection)} B at ${num(conn.projectionCount)})`
                : ')')
            : '')
        : '–',
    pass: conn?.bytesPerConnection != null ? conn.bytesPerConnection <= 4096 : null,
  });
  if (ds && dsPeer) {
    const ratio = ds.deliveredPerSec / Math.max(1e-9, dsPeer.deliveredPerSec);
    out.push({
      area: 'Versus peer',
      target: 'at least equal dialog throughput',
      measured: `${ratio.toFixed(2)}× the peer (${num(ds.deliveredPerSec)} vs ${num(dsPeer.deliveredPerSec)} msg/s)`,
      pass: ratio >= 1,
    });
  }
  const oursP99 = p(dr?.e2e, 99);
  const peerP99 = p(drPeer?.e2e, 99);
  if (oursP99 !== null && peerP99 !== null) {
    out.push({
      area: 'Versus peer',
      target: 'lower dialog p99 (at the same fixed rate)',
      measured: `${ms(oursP99)} vs ${ms(peerP99)}`,
      pass: oursP99 < peerP99,
    });
  }
  for (const [id, minRps, maxP99] of [
    ['rest-login', 40, 200],
    ['rest-chats', 10_000, 20],
    ['rest-history', 10_000, 20],
  ] as const) {
    const r = find<'rest'>(s, id)?.result;
    out.push({
      area: 'REST',
      target: `${r?.name ?? id}: ≥ ${minRps.toLocaleString('en-US')} req/s, p99 < ${maxP99} ms`,
      measured: r ? `${num(r.requestsPerSec)} req/s, p99 ${ms(r.latency.p99Ms)}, ${r.non2xx} non-2xx` : '–',
      pass: r ? r.requestsPerSec >= minRps && r.latency.p99Ms < maxP99 && r.non2xx === 0 : null,
    });
  }
  return out;
}
