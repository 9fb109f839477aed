/**
 * REST benchmarks with autocannon: POST /login, GET /chats and GET
 * /dialog/{login} (a history with messages in it). Each scenario runs
 * closed-loop with a fixed number of connections for a fixed time; latency
 * is recorded per response at microsecond resolution in the project's own
 * histogram (autocannon's own keeps whole milliseconds).
 *
 * As a command (`npm run bench:rest`): starts a local cluster (or uses
 * `--target URL`), registers users, writes a history, runs the three
 * scenarios and prints a table. Options: --duration S (default 10),
 * --connections N (reads, default 32), --login-connections N (default 4),
 * --users N (default 200), --json FILE, --cpu-prof DIR (one V8 CPU profile of
 * every gateway and shard per scenario), --store cassandra (the local cluster
 * stores in a local Cassandra node started for the run instead of SQLite).
 */
import autocannon, { type Request as AutocannonRequest } from 'autocannon';
import { isMain, parseArgs, parseStores } from './lib/args.js';
import { Histogram, type HistogramJSON, type LatencySummary } from './lib/histogram.js';
import { expectOk, request } from './lib/http.js';
import { nowMs } from './lib/schedule.js';
import { startTarget } from './lib/target.js';
import { Timeline } from './lib/timeline.js';
import type { BenchUser } from './lib/transport.js';
import { BENCH_PASSWORD, UserPool } from './lib/users.js';
import { fmtMs, fmtNum, printTable } from './report/text.js';

export interface RestScenario {
  name: string;
  method: 'GET' | 'POST';
  /** Path of request i (rotates users, peers...). */
  path: (i: number) => string;
  token?: (i: number) => string;
  body?: (i: number) => unknown;
  connections: number;
  durationS: number;
}

export interface RestResult {
  name: string;
  connections: number;
  durationS: number;
  requests: number;
  requestsPerSec: number;
  /** Responses by status code. */
  statuses: Record<string, number>;
  non2xx: number;
  errors: number;
  timeouts: number;
  bytesPerResponse: number;
  latency: LatencySummary;
  histogram: HistogramJSON;
  timeline: { slotMs: number; responses: number[] };
}

/** Runs one scenario against `baseUrl`. */
export async function runRest(baseUrl: string, s: RestScenario): Promise<RestResult> {
  let i = 0;
  const req: AutocannonRequest = {
    method: s.method,
    setupRequest: (r) => {
      const k = i++;
      const headers: Record<string, string> = {};
      if (s.token) headers.authorization = `Bearer ${s.token(k)}`;
      let body: string | undefined;
      if (s.body) {
        headers['content-type'] = 'application/json; charset=utf-8';
        body = JSON.stringify(s.body(k));
      }
      return { ...r, path: s.path(k), headers, ...(body !== undefined ? { body } : {}) };
    },
  };
  const hist = new Histogram();
  const start = nowMs();
  const timeline = new Timeline(start);
  let bytes = 0;
  let responses = 0;
  const instance = autocannon({
    url: baseUrl,
    connections: s.connections,
    duration: s.durationS,
    timeout: 30,
    requests: [req],
  });
  instance.on('response', (_client, _status, resBytes, ms) => {
    hist.recordMs(ms);
    timeline.add(nowMs());
    bytes += resBytes;
    responses++;
  });
  const r = await instance;
  const statuses: Record<string, number> = {};
  for (const [code, v] of Object.entries(r.statusCodeStats)) statuses[code] = v.count;
  return {
    name: s.name,
    connections: s.connections,
    durationS: s.durationS,
    requests: responses,
    requestsPerSec: responses / (r.duration || s.durationS),
    statuses,
    non2xx: r.non2xx,
    errors: r.errors,
    timeouts: r.timeouts,
    bytesPerResponse: responses > 0 ? bytes / responses : 0,
    latency: hist.summary(),
    histogram: hist.toJSON(),
    timeline: { slotMs: 1000, responses: timeline.counts() },
  };
}

export interface RestSuiteOptions {
  durationS: number;
  /** Connections of the read scenarios. @default 32 */
  connections?: number;
  /** Connections of the login scenario. @default 4 */
  loginConnections?: number;
}

/**
 * The standard REST scenarios over `users` (at least 2): login rotates over
 * every user; /chats rotates tokens; history reads the dialog between
 * `history.a` and `history.b`, which must already hold messages.
 */
export function restScenarios(
  users: BenchUser[],
  history: { a: BenchUser; b: BenchUser },
  o: RestSuiteOptions,
): RestScenario[] {
  const pick = (i: number) => users[i % users.length]!;
  return [
    {
      name: 'POST /login',
      method: 'POST',
      path: () => '/login',
      body: (i) => ({ login: pick(i).login, password: BENCH_PASSWORD }),
      connections: o.loginConnections ?? 4,
      durationS: o.durationS,
    },
    {
      name: 'GET /chats',
      method: 'GET',
      path: () => '/chats',
      token: (i) => pick(i).token,
      connections: o.connections ?? 32,
      durationS: o.durationS,
    },
    {
      name: 'GET /dialog/{login}',
      method: 'GET',
      path: (i) => `/dialog/${encodeURIComponent(i % 2 === 0 ? history.b.login : history.a.login)}`,
      token: (i) => (i % 2 === 0 ? history.a.token : history.b.token),
      connections: o.connections ?? 32,
      durationS: o.durationS,
    },
  ];
}

/** Writes `count` messages from a to b over a `/chats/ws` socket, waiting for every acknowledgement. */
export async function writeHistory(wsUrl: string, a: BenchUser, b: BenchUser, count: number): Promise<void> {
  const { openSocket } = await import('./lib/gm-transport.js');
  const ws = await openSocket(`${wsUrl}/chats/ws?token=${encodeURIComponent(a.token)}`);
  let acked = 0;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`history: ${acked}/${count} acknowledged in 60 s`)),
      60_000,
    );
    ws.on('message', (data: Buffer) => {
      const ev = JSON.parse(data.toString()) as {
        type: string;
        payload: { client_id?: string; code?: string };
      };
      if (ev.type === 'error') {
        clearTimeout(timer);
        reject(new Error(`history write rejected: ${ev.payload.code}`));
      } else if (ev.type === 'new_message' && ev.payload.client_id && ++acked === count) {
        clearTimeout(timer);
        resolve();
      }
    });
    for (let i = 0; i < count; i++) {
      const clientId = `00000000-0000-4000-8000-${i.toString(16).padStart(12, '0')}`;
      ws.send(
        JSON.stringify({
          type: 'send_message',
          payload: {
            text: `history message ${i} for the REST benchmark`,
            client_id: clientId,
            chat: { type: 'dialog', id: b.login },
          },
        }),
      );
    }
  });
  ws.close();
}

export function printRest(results: RestResult[]): void {
  printTable(
    ['scenario', 'conns', 'req/s', 'p50', 'p90', 'p99', 'max', 'non-2xx', 'errors', 'bytes/resp'],
    results.map((r) => [
      r.name,
      String(r.connections),
      fmtNum(r.requestsPerSec),
      fmtMs(r.latency.p50Ms),
      fmtMs(r.latency.p90Ms),
      fmtMs(r.latency.p99Ms),
      fmtMs(r.latency.maxMs),
      String(r.non2xx),
      String(r.errors + r.timeouts),
      fmtNum(r.bytesPerResponse),
    ]),
  );
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const durationS = args.number('duration', 10);
  const cpuProfDir = args.string('cpu-prof');
  const cassandra = parseStores(args.string('store')).includes('cassandra');
  if (cassandra && args.string('target')) throw new Error('--store cassandra needs the local cluster');
  const target = await startTarget({
    target: args.string('target'),
    metrics: args.string('metrics'),
    ...(cassandra
      ? { store: 'cassandra' as const, log: (line: string) => process.stderr.write(`${line}\n`) }
      : {}),
    ...(cpuProfDir ? { cpuProfDir, cpuProfWindow: true } : {}),
  });
  try {
    const pool = new UserPool(target.httpUrls[0]!, { concurrency: 8 });
    process.stderr.write(`registering users on ${target.description}...\n`);
    const users = await pool.ensure(args.number('users', 200));
    const [a, b] = users as [BenchUser, BenchUser];
    await writeHistory(target.wsUrls[0]!, a, b, 150);
    expectOk(
      await request('GET', `${target.httpUrls[0]}/dialog/${b.login}`, { token: a.token }),
      'history check',
    );
    const results: RestResult[] = [];
    for (const s of restScenarios(
      users,
      { a, b },
      {
        durationS,
        connections: args.number('connections', 32),
        loginConnections: args.number('login-connections', 4),
      },
    )) {
      process.stderr.write(`${s.name}: ${s.durationS} s, ${s.connections} connections\n`);
      target.toggleProfiles();
      results.push(await runRest(target.httpUrls[0]!, s));
      target.toggleProfiles();
    }
    printRest(results);
    const out = args.string('json');
    if (out) {
      const fs = await import('node:fs');
      fs.writeFileSync(out, JSON.stringify(results, null, 2));
    }
  } finally {
    await target.stop();
  }
}

if (isMain(import.meta.url)) {
  main().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
