/**
 * Connection capacity: N idle `/chats/ws` sockets on one gateway, each sending
 * a `user_activity` heartbeat every `heartbeatS` seconds, opened from source
 * addresses spread over 127.0.0.0/8 (one address gives only ~28k ephemeral
 * ports) by several agent processes (the open-files limit is per process).
 *
 * Measures how many open, how fast, and the gateway's resident memory before
 * (its empty baseline), while they are held, and after they are closed:
 * bytes per connection = (held − baseline) / open sockets.
 *
 * The sockets open in two halves with a pause between them, and the gateway's
 * memory is read after each: the lowest of readings every 250 ms over the pause
 * or the hold, with the held window's highest reading reported beside it. The
 * average above also carries costs that do not grow with the sockets (V8's
 * young generation grows during a burst of upgrades, buffers and caches warm
 * up). The second half's growth over the first estimates the marginal cost of
 * one more socket, and with it the figure at a count that cannot be opened here
 * (the open-files limit) is projected linearly. Both estimates still move with
 * the collector's timing (RSS rarely falls after a collection): compare them
 * across runs, not within one.
 */
import type { IdleSocketsSpec } from '../lib/agent.js';
import { Agent } from '../lib/agents.js';
import { setPhase, type Live } from '../lib/live.js';
import { openFiles, openFilesLimit, rssBytes, scrapeMetric } from '../lib/proc.js';
import { nowMs } from '../lib/schedule.js';

export interface ConnectionsOptions {
  /** Sockets wanted. */
  count: number;
  /** ws://host:port of the gateway under test. */
  wsUrl: string;
  /** Its ops URL, for gm_ws_connections and RSS when the pid is unknown. */
  metricsUrl?: string;
  /** Its pid when it runs on this machine (RSS from /proc, fd limit). */
  pid?: number;
  tokens: string[];
  /** @default 30 */
  heartbeatS?: number;
  /** How long to hold all sockets open after the last one opened. @default 10000 */
  holdMs?: number;
  /** @default 20000 */
  perAddress?: number;
  /** Sockets per agent process; defaults to this machine's open-files limit minus a margin. */
  perAgent?: number;
  /** Parallel opens per agent. @default 250 */
  concurrency?: number;
  /** Pause between the two halves before the half-way memory reading. @default 3000 */
  settleMs?: number;
  /** Socket count the per-connection memory is projected to. @default 100000 */
  projectionCount?: number;
}

export interface ConnectionsResult {
  requested: number;
  /** What was attempted after capping by the gateway's open-files limit. */
  attempted: number;
  /** Why fewer than requested were attempted, if so. */
  cap: string | null;
  opened: number;
  failed: number;
  errors: Record<string, number>;
  openSeconds: number;
  opensPerSec: number;
  agents: number;
  sourceAddresses: number;
  heartbeatS: number;
  heartbeats: number;
  /** Sockets the server closed while they were held. */
  serverClosed: number;
  /** gm_ws_connections on the gateway while held, if its metrics are reachable. */
  gatewayConnections: number | null;
  rssBaseline: number | null;
  /** Gateway RSS with the first half of the sockets open. */
  rssHalf: number | null;
  /** Sockets open at the half-way reading. */
  openedFirst: number;
  rssHeld: number | null;
  /** The highest reading while all were held (`rssHeld` is the lowest). */
  rssHeldPeak: number | null;
  rssAfterClose: number | null;
  bytesPerConnection: number | null;
  /** (held − half) / sockets opened in the second half: an estimate of what one more socket costs. */
  marginalBytesPerConnection: number | null;
  /**
   * Bytes per connection over the baseline at `projectionCount` sockets, projected from the held reading
   * with the marginal cost; null when that many were opened (nothing to project) or a reading is missing.
   */
  projectedBytesPerConnection: number | null;
  projectionCount: number;
  /** CPU seconds spent by the agents. */
  generatorCpuSeconds: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Interval of the RSS readings within a window (see `rssOver`). */
const SAMPLE_EVERY_MS = 250;

/**
 * Reads the gateway's RSS every SAMPLE_EVERY_MS for `ms` and returns the lowest and highest reading. RSS
 * at one instant depends on where the collector is in its cycle; the lowest reading over a window is the
 * closest this gets to what is live without forcing a collection, and every memory figure uses it alike.
 */
async function rssOver(
  opts: ConnectionsOptions,
  ms: number,
): Promise<{ low: number | null; high: number | null }> {
  let low: number | null = null;
  let high: number | null = null;
  const until = nowMs() + ms;
  do {
    await sleep(Math.min(SAMPLE_EVERY_MS, Math.max(0, until - nowMs())));
    const r = await rss(opts);
    if (r === null) continue;
    low = low === null ? r : Math.min(low, r);
    high = high === null ? r : Math.max(high, r);
  } while (nowMs() < until);
  return { low, high };
}

async function rss(opts: ConnectionsOptions): Promise<number | null> {
  if (opts.pid !== undefined) return rssBytes(opts.pid) ?? null;
  if (opts.metricsUrl) return (await scrapeMetric(opts.metricsUrl, 'process_resident_memory_bytes')) ?? null;
  return null;
}

export async function runConnections(opts: ConnectionsOptions, live?: Live): Promise<ConnectionsResult> {
  const heartbeatS = opts.heartbeatS ?? 30;
  const perAddress = opts.perAddress ?? 20_000;
  const ownLimit = openFilesLimit() ?? 20_000;
  const perAgent = opts.perAgent ?? Math.max(1000, Math.min(50_000, ownLimit - 1000));
  let attempted = opts.count;
  let cap: string | null = null;
  if (opts.pid !== undefined) {
    const limit = openFilesLimit(opts.pid);
    const used = openFiles(opts.pid) ?? 0;
    if (limit !== undefined && Number.isFinite(limit) && limit - used - 100 < attempted) {
      attempted = Math.max(0, limit - used - 100);
      cap = `the gateway process may open ${limit} files (RLIMIT_NOFILE) and already uses ${used}`;
    }
  }

  setPhase(live, 'baseline', attempted);
  const rssBaseline = (await rssOver(opts, 2000)).low;

  const agents: Agent[] = [];
  let result: ConnectionsResult | undefined;
  let sourceAddresses = 0;
  let nextOffset = 0;
  let openMs = 0;
  /** Opens `count` more sockets with new agents, each taking up to perAgent of them. */
  const openMore = async (count: number) => {
    const t0 = nowMs();
    const replies = [];
    for (let from = 0; from < count; from += perAgent) {
      const agent = new Agent();
      const n = Math.min(perAgent, count - from);
      sourceAddresses += Math.ceil(n / perAddress);
      const spec: IdleSocketsSpec = {
        wsUrl: opts.wsUrl,
        tokens: opts.tokens,
        count: n,
        offset: nextOffset + from,
        perAddress,
        addressBlock: 100 + agents.length,
        heartbeatS,
        concurrency: opts.concurrency ?? 250,
      };
      agents.push(agent);
      agent.send({ type: 'open', spec });
      replies.push(agent.next('opened'));
    }
    nextOffset += count;
    const all = await Promise.all(replies);
    openMs += nowMs() - t0;
    return all;
  };
  try {
    setPhase(live, 'opening');
    const progress = setInterval(() => {
      if (live) {
        live.done = agents.reduce((s, a) => s + a.opened + a.failed, 0);
        live.note = `${agents.reduce((s, a) => s + a.opened, 0)} open`;
      }
    }, 250);
    const firstHalf = Math.ceil(attempted / 2);
    const firstReplies = await openMore(firstHalf);
    const openedFirst = firstReplies.reduce((s, r) => s + r.opened, 0);
    const rssHalf = (await rssOver(opts, opts.settleMs ?? 3000)).low;
    const openedReplies = [...firstReplies, ...(await openMore(attempted - firstHalf))];
    clearInterval(progress);
    const openSeconds = openMs / 1000;
    const opened = openedReplies.reduce((s, r) => s + r.opened, 0);
    const failed = openedReplies.reduce((s, r) => s + r.failed, 0);
    const errors: Record<string, number> = {};
    for (const r of openedReplies)
      for (const [k, v] of Object.entries(r.errors)) errors[k] = (errors[k] ?? 0) + v;

    setPhase(live, 'holding', opts.holdMs ?? 10_000, `${opened} open`);
    const holdStart = nowMs();
    const holdTicker = setInterval(() => {
      if (live) live.done = nowMs() - holdStart;
    }, 250);
    const held = await rssOver(opts, opts.holdMs ?? 10_000);
    clearInterval(holdTicker);
    const rssHeld = held.low;
    const gatewayConnections = opts.metricsUrl
      ? ((await scrapeMetric(opts.metricsUrl, 'ws_connections').catch(() => undefined)) ?? null)
      : null;

    setPhase(live, 'closing');
    const closed = await Promise.all(
      agents.map((a) => {
        const p = a.next('closed');
        a.send({ type: 'close' });
        return p;
      }),
    );
    await sleep(3000);
    const rssAfterClose = await rss(opts);
    result = {
      requested: opts.count,
      attempted,
      cap,
      opened,
      failed,
      errors,
      openSeconds,
      opensPerSec: opened / Math.max(0.001, openSeconds),
      agents: agents.length,
      sourceAddresses,
      heartbeatS,
      heartbeats: closed.reduce((s, c) => s + c.heartbeats, 0),
      serverClosed: closed.reduce((s, c) => s + c.serverClosed, 0),
      gatewayConnections,
      rssBaseline,
      rssHalf,
      openedFirst,
      rssHeld,
      rssHeldPeak: held.high,
      rssAfterClose,
      bytesPerConnection:
        rssBaseline !== null && rssHeld !== null && opened > 0 ? (rssHeld - rssBaseline) / opened : null,
      ...memoryModel(rssBaseline, rssHalf, rssHeld, openedFirst, opened, opts.projectionCount ?? 100_000),
      generatorCpuSeconds: closed.reduce((s, c) => s + c.cpuSeconds, 0),
    };
  } finally {
    for (const a of agents) a.kill();
  }
  return result;
}

/** The marginal cost of a socket (second half over first) and the average it implies at `count` sockets. */
export function memoryModel(
  baseline: number | null,
  half: number | null,
  held: number | null,
  openedFirst: number,
  opened: number,
  count: number,
): Pick<ConnectionsResult, 'marginalBytesPerConnection' | 'projectedBytesPerConnection' | 'projectionCount'> {
  const added = opened - openedFirst;
  const marginal = half !== null && held !== null && added > 0 ? (held - half) / added : null;
  const projected =
    marginal !== null && baseline !== null && held !== null && opened < count
      ? (held - baseline + marginal * (count - opened)) / count
      : null;
  return {
    marginalBytesPerConnection: marginal,
    projectedBytesPerConnection: projected,
    projectionCount: count,
  };
}
