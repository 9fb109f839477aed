/** The report's tables, built once from a results file and rendered as Markdown or HTML. */
import { Histogram } from '../lib/histogram.js';
import { checkTargets, storeOf, type ScenarioEntry, type SuiteResult, type System } from './model.js';
import { fmtBytes, fmtMs, fmtNum, fmtRatio } from './text.js';

export interface Table {
  title: string;
  /** A paragraph under the title. */
  intro?: string;
  header: string[];
  rows: string[][];
}

/** A cell that reads as a number, a duration, a size or a ratio (right-aligned in reports). */
export function isNumeric(cell: string): boolean {
  return /^[–\d][\d,. –/]*\s*(ms|s|×|B|KiB|MiB|GiB|%)?$/.test(cell.trim()) || cell.trim() === '';
}

const SYSTEM_NAME: Record<System, string> = { gmessenger: 'gmessenger', socketio: 'Socket.IO peer' };

/** Whether the run measured gmessenger on Cassandra as well (`--store cassandra`). */
function twoStores(s: SuiteResult): boolean {
  return s.scenarios.some((e) => e.system === 'gmessenger' && storeOf(e) === 'cassandra');
}

/** The system of an entry, with its store where the run has both. */
export function systemName(e: ScenarioEntry, s: SuiteResult): string {
  if (e.system !== 'gmessenger' || !twoStores(s)) return SYSTEM_NAME[e.system];
  return storeOf(e) === 'cassandra' ? 'gmessenger, Cassandra' : 'gmessenger, SQLite';
}

function errors(e: Record<string, number>): string {
  const parts = Object.entries(e).map(([k, v]) => `${k}: ${v}`);
  return parts.length ? parts.join(', ') : '0';
}

function failedRow(e: ScenarioEntry, s: SuiteResult, width: number): string[] {
  return [
    e.title,
    systemName(e, s),
    `failed: ${e.error ?? ''}`,
    ...Array<string>(Math.max(0, width - 3)).fill(''),
  ];
}

export function machineLine(s: SuiteResult): string {
  const m = s.machine;
  return `${m.cpus} × ${m.cpuModel}, ${m.memoryGiB} GiB, ${m.kernel}, Node ${m.node}, open-files limit ${
    m.openFilesLimit ?? 'unlimited'
  }; 1-min load average ${m.loadBefore.toFixed(2)} before, ${m.loadAfter.toFixed(2)} after`;
}

/** The header line about the Cassandra cluster of a `--store cassandra` run. */
export function cassandraLine(c: NonNullable<SuiteResult['cassandra']>): string {
  return c.error
    ? `could not be started: ${c.error}`
    : `${c.description}; runs the dialog and GET /dialog scenarios again after the SQLite cluster is stopped`;
}

export function targetsTable(s: SuiteResult): Table {
  return {
    title: 'Targets',
    header: ['Area', 'Target', 'Measured', 'Verdict'],
    rows: checkTargets(s).map((t) => [
      t.area,
      t.target,
      t.measured + (t.note ? ` — ${t.note}` : ''),
      t.pass === null ? 'not measured' : t.pass ? 'met' : 'missed',
    ]),
  };
}

export function dialogTable(s: SuiteResult): Table {
  const header = [
    'Scenario',
    'System',
    'Delivered msg/s',
    'e2e p50',
    'p95',
    'p99',
    'max',
    'ack p99',
    'Sent',
    'Lost',
    'Dup',
    'Unacked',
    'Errors',
    'Other events',
  ];
  const rows: string[][] = [];
  for (const e of s.scenarios) {
    if (e.kind !== 'dialog') continue;
    if (!e.result) {
      rows.push(failedRow(e, s, header.length));
      continue;
    }
    const r = e.result;
    const h = Histogram.fromJSON(r.e2e);
    rows.push([
      `${e.title} (${r.pairs} pairs)`,
      systemName(e, s),
      fmtNum(r.deliveredPerSec),
      fmtMs(h.percentileMs(50)),
      fmtMs(h.percentileMs(95)),
      fmtMs(h.percentileMs(99)),
      fmtMs(h.max / 1000),
      fmtMs(Histogram.fromJSON(r.ack).percentileMs(99)),
      fmtNum(r.sent),
      fmtNum(r.lost),
      fmtNum(r.duplicates),
      fmtNum(r.unacked),
      errors(r.errors),
      errors(r.otherEvents ?? {}),
    ]);
  }
  return {
    title: 'Dialogs',
    intro:
      'Pairs of users, sender on gateway 1 and receiver on gateway 2. Latency is send → the receiver’s `new_message` (end to end) and send → the sender’s acknowledgement; at a fixed rate both are measured from the scheduled send time. Each measurement follows a few seconds of the same load that is not counted (`warmupMs` in the parameters), so it sees every process in its steady state; messages lost during that warm-up still count as lost.',
    header,
    rows,
  };
}

export function fanoutTable(s: SuiteResult): Table {
  const header = [
    'Scenario',
    'System',
    'Deliveries/s',
    'Msg/s',
    'Delivery p50',
    'p99',
    'Last member p50',
    'p99',
    'max',
    'Incomplete',
    'Dup',
    'Errors',
    'Other events',
  ];
  const rows: string[][] = [];
  for (const e of s.scenarios) {
    if (e.kind !== 'fanout') continue;
    if (!e.result) {
      rows.push(failedRow(e, s, header.length));
      continue;
    }
    const r = e.result;
    const d = Histogram.fromJSON(r.delivery);
    const l = Histogram.fromJSON(r.lastMember);
    rows.push([
      `${e.title} (${r.members} members)`,
      systemName(e, s),
      fmtNum(r.deliveriesPerSec),
      fmtNum(r.messagesPerSec),
      fmtMs(d.percentileMs(50)),
      fmtMs(d.percentileMs(99)),
      fmtMs(l.percentileMs(50)),
      fmtMs(l.percentileMs(99)),
      fmtMs(l.max / 1000),
      fmtNum(r.incomplete),
      fmtNum(r.duplicates),
      errors(r.errors),
      errors(r.otherEvents ?? {}),
    ]);
  }
  return {
    title: 'Group fan-out',
    intro:
      'One private group, every member online (spread over both gateways), one sender. “Last member” is, per message, the time until the last member has it.',
    header,
    rows,
  };
}

export function comparisonTable(s: SuiteResult): Table | undefined {
  const rows: string[][] = [];
  const pair = (id: string) => ({
    ours: s.scenarios.find((e) => e.id === id && e.system === 'gmessenger' && storeOf(e) === 'sqlite'),
    peer: s.scenarios.find((e) => e.id === id && e.system === 'socketio'),
  });
  const d = (id: string, label: string) => {
    const { ours, peer } = pair(id);
    if (ours?.kind !== 'dialog' || peer?.kind !== 'dialog' || !ours.result || !peer.result) return;
    const a = ours.result;
    const b = peer.result;
    const pa = Histogram.fromJSON(a.e2e).percentileMs(99);
    const pb = Histogram.fromJSON(b.e2e).percentileMs(99);
    rows.push([
      `${label}: delivered msg/s`,
      fmtNum(a.deliveredPerSec),
      fmtNum(b.deliveredPerSec),
      fmtRatio(a.deliveredPerSec / b.deliveredPerSec),
    ]);
    rows.push([`${label}: e2e p99`, fmtMs(pa), fmtMs(pb), fmtRatio(pa / pb)]);
  };
  const f = (id: string, label: string) => {
    const { ours, peer } = pair(id);
    if (ours?.kind !== 'fanout' || peer?.kind !== 'fanout' || !ours.result || !peer.result) return;
    const a = ours.result;
    const b = peer.result;
    const pa = Histogram.fromJSON(a.lastMember).percentileMs(99);
    const pb = Histogram.fromJSON(b.lastMember).percentileMs(99);
    rows.push([
      `${label}: deliveries/s`,
      fmtNum(a.deliveriesPerSec),
      fmtNum(b.deliveriesPerSec),
      fmtRatio(a.deliveriesPerSec / b.deliveriesPerSec),
    ]);
    rows.push([`${label}: last member p99`, fmtMs(pa), fmtMs(pb), fmtRatio(pa / pb)]);
  };
  d('dialog-saturate', 'Dialogs, saturate');
  d('dialog-rate', 'Dialogs, fixed rate');
  f('fanout-saturate', 'Fan-out, saturate');
  f('fanout-rate', 'Fan-out, fixed rate');
  if (rows.length === 0) return undefined;
  return {
    title: 'gmessenger versus the Socket.IO peer',
    intro:
      'Same generator, same workload, same machine; the peer runs after gmessenger is stopped. Ratio = gmessenger / peer (above 1 is better for rates, below 1 is better for latencies). gmessenger stores every message durably before acknowledging it; the peer stores nothing.',
    header: ['Figure', 'gmessenger', 'Socket.IO peer', 'Ratio'],
    rows,
  };
}

/** Figures of the SQLite vs Cassandra table: scenario id, label, and how to read each figure. */
const STORE_FIGURES: {
  id: string;
  label: (e: ScenarioEntry) => string;
  figures: { name: string; value: (e: ScenarioEntry) => number | null; fmt: (v: number) => string }[];
}[] = [
  ...(['dialog-saturate', 'dialog-rate'] as const).map((id) => ({
    id,
    label: (e: ScenarioEntry) =>
      id === 'dialog-saturate' ? 'Dialogs, saturate' : `Dialogs, ${fmtNum(Number(e.params.rate))} msg/s`,
    figures: [
      {
        name: 'delivered msg/s',
        value: (e: ScenarioEntry) => (e.kind === 'dialog' && e.result ? e.result.deliveredPerSec : null),
        fmt: fmtNum,
      },
      {
        name: 'e2e p99',
        value: (e: ScenarioEntry) =>
          e.kind === 'dialog' && e.result && e.result.e2e.count > 0
            ? Histogram.fromJSON(e.result.e2e).percentileMs(99)
            : null,
        fmt: fmtMs,
      },
    ],
  })),
  {
    id: 'rest-history',
    label: (e: ScenarioEntry) => (e.kind === 'rest' && e.result ? e.result.name : 'GET /dialog/{login}'),
    figures: [
      {
        name: 'requests/s',
        value: (e: ScenarioEntry) => (e.kind === 'rest' && e.result ? e.result.requestsPerSec : null),
        fmt: fmtNum,
      },
      {
        name: 'p99',
        value: (e: ScenarioEntry) => (e.kind === 'rest' && e.result ? e.result.latency.p99Ms : null),
        fmt: fmtMs,
      },
    ],
  },
];

/** Average cores of every server process (not the load generator) of an entry. */
export function serverCores(e: ScenarioEntry): number {
  return Object.entries(e.cpu).reduce((a, [name, v]) => (name === 'load generator' ? a : a + v), 0);
}

/**
 * The same scenarios on both stores, from one run (`--store cassandra`):
 * each figure on SQLite and on Cassandra, their ratio, the Cassandra node's
 * CPU and every server process's CPU on each.
 */
export function storeTable(s: SuiteResult): Table | undefined {
  const rows: string[][] = [];
  const get = (id: string, store: 'sqlite' | 'cassandra') =>
    s.scenarios.find((e) => e.id === id && e.system === 'gmessenger' && storeOf(e) === store);
  for (const f of STORE_FIGURES) {
    const a = get(f.id, 'sqlite');
    const b = get(f.id, 'cassandra');
    if (!b) continue;
    const label = f.label(b);
    f.figures.forEach((fig, i) => {
      const va = a ? fig.value(a) : null;
      const vb = fig.value(b);
      const cell = (e: ScenarioEntry | undefined, v: number | null) =>
        v !== null ? fig.fmt(v) : e?.error ? `failed: ${e.error}` : '–';
      rows.push([
        `${label}: ${fig.name}`,
        cell(a, va),
        cell(b, vb),
        va !== null && vb !== null && va > 0 ? fmtRatio(vb / va) : '–',
        i > 0 || b.cpu.cassandra === undefined ? '' : b.cpu.cassandra.toFixed(2),
        i > 0
          ? ''
          : `${a && Object.keys(a.cpu).length ? serverCores(a).toFixed(2) : '–'} / ${Object.keys(b.cpu).length ? serverCores(b).toFixed(2) : '–'}`,
      ]);
    });
  }
  if (rows.length === 0) return undefined;
  const version = s.cassandra?.version ? ` ${s.cassandra.version}` : '';
  return {
    title: 'SQLite vs Cassandra',
    intro: `The same scenarios in the same run on two local clusters of the same shape: first on SQLite (embedded in the shard, WAL with an fsync per commit), then on a local Apache Cassandra${version} node started for the run (commit log synced before each write is acknowledged, \`commitlog_sync: batch\`) on this same machine. Ratio = Cassandra / SQLite (above 1 is better for rates, below 1 is better for latencies). CPU in average cores while the scenario ran: the Cassandra JVM alone (read from /proc/<pid>/stat), and all server processes together (gateways, shard, relay, presence, redis-server, and on Cassandra the JVM); SQLite's CPU is inside the shard's.`,
    header: [
      'Figure',
      'SQLite',
      'Cassandra',
      'Ratio',
      'Cassandra node CPU (cores)',
      'Server CPU, SQLite / Cassandra (cores)',
    ],
    rows,
  };
}

export function connectionsTable(s: SuiteResult): Table | undefined {
  const e = s.scenarios.find((x) => x.kind === 'connections');
  if (!e || e.kind !== 'connections') return undefined;
  if (!e.result)
    return { title: 'Connection capacity', header: ['Result'], rows: [[`failed: ${e.error ?? ''}`]] };
  const r = e.result;
  return {
    title: 'Connection capacity',
    intro: `Idle \`/chats/ws\` sockets on one gateway, a \`user_activity\` heartbeat every ${r.heartbeatS} s each, from ${r.sourceAddresses} source address(es) in 127.0.0.0/8, held ${fmtMs(Number(e.params.holdMs))}, opened in two halves. Each memory figure is the lowest of the gateway's RSS readings every 250 ms over a window (the baseline's 2 s, the pause after the first half, the hold).`,
    header: ['Figure', 'Value'],
    rows: [
      ['Requested', fmtNum(r.requested)],
      ['Attempted', `${fmtNum(r.attempted)}${r.cap ? ` (capped: ${r.cap})` : ''}`],
      ['Open', fmtNum(r.opened)],
      ['Failed', `${fmtNum(r.failed)}${r.failed ? ` (${errors(r.errors)})` : ''}`],
      ['Opening rate', `${fmtNum(r.opensPerSec)} connections/s`],
      ['Gateway gm_ws_connections while held', fmtNum(r.gatewayConnections)],
      ['Closed by the server while held', fmtNum(r.serverClosed)],
      ['Heartbeats sent', fmtNum(r.heartbeats)],
      ['Gateway RSS: empty baseline', fmtBytes(r.rssBaseline)],
      ...(r.rssHalf !== undefined
        ? [[`Gateway RSS: ${fmtNum(r.openedFirst)} open (first half)`, fmtBytes(r.rssHalf)]]
        : []),
      [
        'Gateway RSS: all open',
        r.rssHeldPeak != null
          ? `${fmtBytes(r.rssHeld)} (highest reading ${fmtBytes(r.rssHeldPeak)})`
          : fmtBytes(r.rssHeld),
      ],
      ['Gateway RSS: after closing', fmtBytes(r.rssAfterClose)],
      [
        'Gateway memory per connection (average over the baseline)',
        r.bytesPerConnection === null ? '–' : `${fmtNum(r.bytesPerConnection)} B`,
      ],
      ...(r.marginalBytesPerConnection !== undefined
        ? [
            [
              'Marginal memory per connection (second half over first)',
              r.marginalBytesPerConnection === null ? '–' : `${fmtNum(r.marginalBytesPerConnection)} B`,
            ],
            [
              `Projected average at ${fmtNum(r.projectionCount)} connections`,
              r.projectedBytesPerConnection === null ? '–' : `${fmtNum(r.projectedBytesPerConnection)} B`,
            ],
          ]
        : []),
    ],
  };
}

export function reconnectTable(s: SuiteResult): Table | undefined {
  const e = s.scenarios.find((x) => x.kind === 'reconnect');
  if (!e || e.kind !== 'reconnect') return undefined;
  if (!e.result)
    return { title: 'Reconnect storm', header: ['Result'], rows: [[`failed: ${e.error ?? ''}`]] };
  const r = e.result;
  const c = Histogram.fromJSON(r.catchUp);
  const k = Histogram.fromJSON(r.connect);
  const h = Histogram.fromJSON(r.history);
  return {
    title: 'Reconnect storm',
    intro: `${fmtNum(r.clients)} connected dialog sockets (over both gateways) drop at once; ${r.writers} writers put one message into each dialog meanwhile; then all reconnect at the same moment and fetch \`GET /dialog/{login}?after=\`.`,
    header: ['Figure', 'Value'],
    rows: [
      ['Clients caught up', `${fmtNum(r.caughtUp)} / ${fmtNum(r.clients)}`],
      ['Time until all caught up', fmtMs(r.allCaughtUpMs)],
      [
        'Per client catch-up p50 / p99 / max',
        `${fmtMs(c.percentileMs(50))} / ${fmtMs(c.percentileMs(99))} / ${fmtMs(c.max / 1000)}`,
      ],
      ['WebSocket connect p50 / p99', `${fmtMs(k.percentileMs(50))} / ${fmtMs(k.percentileMs(99))}`],
      ['History GET p50 / p99', `${fmtMs(h.percentileMs(50))} / ${fmtMs(h.percentileMs(99))}`],
      ['Failed clients', fmtNum(r.failed)],
      ['Retries', fmtNum(r.retries)],
      ['Errors', errors(r.errors)],
      [
        'Kernel: full accept queues / SYN retransmissions during the storm',
        r.tcp ? `${fmtNum(r.tcp.listenOverflows)} / ${fmtNum(r.tcp.synRetransmits)}` : '–',
      ],
      ['Writing the missed messages took', fmtMs(r.gapWriteMs)],
    ],
  };
}

export function restTable(s: SuiteResult): Table | undefined {
  const rows: string[][] = [];
  const both = twoStores(s);
  for (const e of s.scenarios) {
    if (e.kind !== 'rest') continue;
    const route = (name: string) =>
      both ? `${name} (${storeOf(e) === 'cassandra' ? 'Cassandra' : 'SQLite'})` : name;
    if (!e.result) {
      rows.push([route(e.title), `failed: ${e.error ?? ''}`, '', '', '', '', '', '']);
      continue;
    }
    const r = e.result;
    rows.push([
      route(r.name),
      String(r.connections),
      fmtNum(r.requestsPerSec),
      fmtMs(r.latency.p50Ms),
      fmtMs(r.latency.p99Ms),
      fmtMs(r.latency.maxMs),
      `${r.non2xx}${
        r.non2xx
          ? ` (${Object.entries(r.statuses)
              .filter(([k]) => !k.startsWith('2'))
              .map(([k, v]) => `${k}: ${v}`)
              .join(', ')})`
          : ''
      }`,
      fmtBytes(r.bytesPerResponse),
    ]);
  }
  if (rows.length === 0) return undefined;
  return {
    title: 'REST (autocannon)',
    intro:
      'Closed loop, fixed connections, one gateway. Login rotates over every benchmark user; /chats rotates their tokens; history reads a dialog of 150 messages (the newest 100 per page).',
    header: ['Route', 'Connections', 'Requests/s', 'p50', 'p99', 'max', 'Non-2xx', 'Response size'],
    rows,
  };
}

export function cpuTable(s: SuiteResult): Table {
  const names = new Set<string>();
  for (const e of s.scenarios) for (const k of Object.keys(e.cpu)) names.add(k);
  const cols = [...names].sort((a, b) =>
    a === 'load generator' ? 1 : b === 'load generator' ? -1 : a.localeCompare(b),
  );
  return {
    title: 'Where the CPU went',
    intro: `Average cores used by each process while the scenario ran (this machine has ${s.machine.cpus}).`,
    header: ['Scenario', 'System', ...cols, 'Total'],
    rows: s.scenarios.map((e) => {
      const total = Object.values(e.cpu).reduce((a, b) => a + b, 0);
      return [
        e.title,
        systemName(e, s),
        ...cols.map((c) => (e.cpu[c] === undefined ? '' : e.cpu[c]!.toFixed(2))),
        total.toFixed(2),
      ];
    }),
  };
}

export function profileTables(s: SuiteResult): Table[] {
  return (s.profiles ?? []).map((p) => ({
    title: `Profile: ${p.process}`,
    intro: `${fmtMs(p.totalMs)} of CPU sampled (${p.file}). Top functions by self time:`,
    header: ['Function', 'Where', 'Self', 'Share'],
    rows: p.top.map((t) => [t.fn, t.where, fmtMs(t.selfMs), `${(t.share * 100).toFixed(1)}%`]),
  }));
}

/** Every table of the report, in order. */
export function allTables(s: SuiteResult): Table[] {
  return [
    targetsTable(s),
    storeTable(s),
    comparisonTable(s),
    dialogTable(s),
    fanoutTable(s),
    connectionsTable(s),
    reconnectTable(s),
    restTable(s),
    cpuTable(s),
    ...profileTables(s),
  ].filter((t): t is Table => Boolean(t));
}
