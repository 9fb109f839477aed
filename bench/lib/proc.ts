/**
 * What the load tools read about server processes on this machine: which pid
 * listens on a port, its resident memory, CPU time and open-file limit (from
 * /proc), and single values from a Prometheus /metrics page.
 */
import fs from 'node:fs';
import { request } from './http.js';

function listeningInodes(port: number): Set<string> {
  const inodes = new Set<string>();
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      // local_address is ADDR:PORT in hex, st 0A is LISTEN, inode is column 9.
      if (cols.length > 9 && cols[1]?.endsWith(`:${hexPort}`) && cols[3] === '0A') inodes.add(cols[9]!);
    }
  }
  return inodes;
}

/** The pid of the process listening on TCP `port` on this machine, if it can be found. */
export function pidListeningOn(port: number): number | undefined {
  const inodes = listeningInodes(port);
  if (inodes.size === 0) return undefined;
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let fds: string[];
    try {
      fds = fs.readdirSync(`/proc/${entry}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        const m = /^socket:\[(\d+)\]$/.exec(fs.readlinkSync(`/proc/${entry}/fd/${fd}`));
        if (m && inodes.has(m[1]!)) return Number(entry);
      } catch {
        // fd closed meanwhile
      }
    }
  }
  return undefined;
}

/** Resident set size of `pid` in bytes (VmRSS), or undefined when the process is gone. */
export function rssBytes(pid: number): number | undefined {
  try {
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

const TICKS_PER_SECOND = 100;

/** User + system CPU seconds `pid` has used so far, or undefined when it is gone. */
export function cpuSeconds(pid: number): number | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(rest[11]) + Number(rest[12])) / TICKS_PER_SECOND;
  } catch {
    return undefined;
  }
}

/** The soft open-files limit of `pid` (this process by default). */
export function openFilesLimit(pid: number | 'self' = 'self'): number | undefined {
  try {
    const m = /^Max open files\s+(\d+|unlimited)/m.exec(fs.readFileSync(`/proc/${pid}/limits`, 'utf8'));
    if (!m) return undefined;
    return m[1] === 'unlimited' ? Number.POSITIVE_INFINITY : Number(m[1]);
  } catch {
    return undefined;
  }
}

/** Open file descriptors of `pid`. */
export function openFiles(pid: number): number | undefined {
  try {
    return fs.readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return undefined;
  }
}

/**
 * The value of the first sample on a Prometheus text page whose metric name
 * ends with `suffix` (so `process_resident_memory_bytes` matches
 * `gm_process_resident_memory_bytes`), ignoring labels.
 */
export function metricValue(text: string, suffix: string): number | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (m && (m[1] === suffix || m[1]!.endsWith(`_${suffix}`))) return Number(m[3]);
  }
  return undefined;
}

/** Fetches `${metricsUrl}/metrics` and reads one value (see {@link metricValue}). */
export async function scrapeMetric(metricsUrl: string, suffix: string): Promise<number | undefined> {
  const res = await request('GET', `${metricsUrl}/metrics`, { timeoutMs: 10_000 });
  return res.status === 200 ? metricValue(res.text, suffix) : undefined;
}

/** CPU seconds of several named processes, sampled twice: where the machine's time went during a scenario. */
export class CpuMeter {
  private readonly before = new Map<string, number>();
  private startedAt = 0;

  constructor(private readonly pids: () => Record<string, number | undefined>) {}

  start(): void {
    this.before.clear();
    this.startedAt = performance.now();
    for (const [name, pid] of Object.entries(this.pids())) {
      const s = pid === undefined ? undefined : cpuSeconds(pid);
      if (s !== undefined) this.before.set(name, s);
    }
    this.before.set('load generator', process.cpuUsage().user / 1e6 + process.cpuUsage().system / 1e6);
  }

  /** Average cores used by each process since start(); `extra` adds child-process generator CPU. */
  stop(extraGeneratorSeconds = 0): Record<string, number> {
    const wall = (performance.now() - this.startedAt) / 1000;
    const out: Record<string, number> = {};
    if (wall <= 0) return out;
    for (const [name, pid] of Object.entries(this.pids())) {
      const b = this.before.get(name);
      const s = pid === undefined ? undefined : cpuSeconds(pid);
      if (b !== undefined && s !== undefined) out[name] = (s - b) / wall;
    }
    const usage = process.cpuUsage();
    const gen = usage.user / 1e6 + usage.system / 1e6 - (this.before.get('load generator') ?? 0);
    out['load generator'] = (gen + extraGeneratorSeconds) / wall;
    return out;
  }
}

/** Kernel TCP counters of this machine that explain slow connects under a storm. */
export interface TcpCounters {
  /** Connections dropped because a listen (accept) queue was full. */
  listenOverflows: number;
  /** SYN segments sent again because the first got no answer. */
  synRetransmits: number;
}

/** Reads /proc/net/netstat (TcpExt); undefined where it is not available. */
export function tcpCounters(): TcpCounters | undefined {
  try {
    const lines = fs.readFileSync('/proc/net/netstat', 'utf8').split('\n');
    const i = lines.findIndex((l) => l.startsWith('TcpExt:'));
    const names = lines[i]?.split(/\s+/) ?? [];
    const values = lines[i + 1]?.split(/\s+/) ?? [];
    const get = (name: string) => Number(values[names.indexOf(name)] ?? NaN);
    const c = { listenOverflows: get('ListenOverflows'), synRetransmits: get('TCPSynRetrans') };
    return Number.isFinite(c.listenOverflows) && Number.isFinite(c.synRetransmits) ? c : undefined;
  } catch {
    return undefined;
  }
}
