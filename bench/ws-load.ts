/**
 * The WebSocket load generator as a command (`npm run bench:ws -- <scenario>`):
 * one scenario against a local cluster it starts (default), an existing
 * deployment (`--target URL[,URL]`), or the Socket.IO peer (`--peer`).
 *
 *   dialog       --mode saturate|rate --pairs 100 --window 8 --rate 2000 --duration 20 --warmup 3 --size 64 --procs 1
 *   fanout       --mode saturate|rate --members 1000 --window 16 --rate 20 --duration 15
 *   connections  --count 100000 --hold 10 --heartbeat 30 [--gateway 2]
 *   reconnect    --clients 10000 --writers 10 [--cold] [--depth N]
 *                (--cold: restart the shards before the storm, so every chat is activated again during it;
 *                 --depth N: store N older messages in every dialog first, local cluster only)
 *
 * Common: --target URL[,URL] --metrics URL[,URL] --peer --grace S --cpu-prof DIR --json FILE
 * Every run is bounded by its duration plus a grace period and stops by itself.
 */
import fs from 'node:fs';
import { runDialogSplit } from './lib/agents.js';
import { summarizeProfiles } from './lib/cpuprofile.js';
import { isMain, parseArgs } from './lib/args.js';
import { GmTransport } from './lib/gm-transport.js';
import { Histogram } from './lib/histogram.js';
import { newLive } from './lib/live.js';
import { CpuMeter } from './lib/proc.js';
import { Progress } from './lib/progress.js';
import { startTarget, type BenchTarget } from './lib/target.js';
import type { BenchUser, Transport } from './lib/transport.js';
import { UserPool, peerUsers } from './lib/users.js';
import { startPeerCluster, type PeerCluster } from './peer/cluster.js';
import { SioTransport } from './peer/transport.js';
import type { ProfileSummary } from './report/model.js';
import { fmtBytes, fmtMs, fmtNum, printTable } from './report/text.js';
import { runConnections } from './scenarios/connections.js';
import { runFanout } from './scenarios/fanout.js';
import { runReconnect } from './scenarios/reconnect.js';
import { cacheFileFor } from './suite.js';

const USAGE =
  'usage: npm run bench:ws -- dialog|fanout|connections|reconnect [options] (see bench/ws-load.ts)';

function latencyRows(rows: [string, Histogram][]): string[][] {
  return rows.map(([name, h]) => [
    name,
    fmtNum(h.count),
    fmtMs(h.percentileMs(50)),
    fmtMs(h.percentileMs(95)),
    fmtMs(h.percentileMs(99)),
    fmtMs(h.percentileMs(99.9)),
    fmtMs(h.max / 1000),
  ]);
}

function printLatency(rows: [string, Histogram][]): void {
  printTable(['latency', 'count', 'p50', 'p95', 'p99', 'p99.9', 'max'], latencyRows(rows));
}

/**
 * Gives every dialog `depth` older messages, written straight into the local cluster's SQLite store before
 * any actor has loaded the dialog (so the shard finds them as history, as after a long-lived chat).
 */
async function seedDialogs(
  target: BenchTarget,
  dialogs: { user: string; writer: string }[],
  depth: number,
): Promise<void> {
  if (!target.sqlitePath) throw new Error('--depth needs the local cluster');
  const { openSqliteStore } = await import('../store/store.sqlite.js');
  const { dialogChatId } = await import('../common/ids.js');
  const store = await openSqliteStore(target.sqlitePath);
  try {
    const time = Date.now() - 86_400_000;
    for (const [i, { user, writer }] of dialogs.entries()) {
      const chatId = dialogChatId(user, writer);
      const messages = Array.from({ length: depth }, (_, j) => ({
        chatId,
        id: j + 1,
        sender: j % 2 === 0 ? writer : user,
        text: `older message ${j + 1} of a long conversation`,
        time: time + j,
        clientId: `00000000-0000-4000-8000-${(i * depth + j).toString(16).padStart(12, '0')}`,
      }));
      await store.messages.append(messages);
    }
  } finally {
    await store.close();
  }
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const scenario = args.positional[0];
  if (!scenario || !['dialog', 'fanout', 'connections', 'reconnect'].includes(scenario))
    throw new Error(USAGE);
  const usePeer = args.has('peer');
  if (usePeer && (scenario === 'connections' || scenario === 'reconnect')) {
    throw new Error(`--peer runs the dialog and fanout scenarios only`);
  }
  const durationMs = args.number('duration', scenario === 'fanout' ? 15 : 20) * 1000;
  const graceMs = args.number('grace', 5) * 1000;
  const progress = new Progress(1);
  const live = newLive();

  let target: BenchTarget | undefined;
  let peer: PeerCluster | undefined;
  let result: unknown;
  try {
    let transport: Transport;
    let users: (n: number) => Promise<BenchUser[]>;
    let meter: CpuMeter;
    if (usePeer) {
      process.stderr.write('starting the Socket.IO peer...\n');
      peer = await startPeerCluster(2);
      const p = peer;
      transport = new SioTransport(peer.urls);
      users = (n) => Promise.resolve(peerUsers(n));
      meter = new CpuMeter(() => ({
        'socket.io-1': p.pids[0],
        'socket.io-2': p.pids[1],
        redis: p.redis.pid,
      }));
    } else {
      process.stderr.write(args.string('target') ? 'using the target...\n' : 'starting a local cluster...\n');
      target = await startTarget({
        target: args.string('target'),
        metrics: args.string('metrics'),
        cpuProfDir: args.string('cpu-prof'),
        cpuProfWindow: true,
      });
      const t = target;
      transport = new GmTransport(t.httpUrls, t.wsUrls);
      const pool = new UserPool(t.httpUrls[0]!, {
        concurrency: 8,
        cacheFile: t.kind === 'remote' ? cacheFileFor(t.httpUrls[0]!) : undefined,
      });
      users = async (n) => {
        process.stderr.write(`registering ${n} users (8 at a time)...\n`);
        return pool.ensure(n);
      };
      meter = new CpuMeter(() => Object.fromEntries(t.processes().map((p) => [p.name, p.pid])));
    }

    progress.begin(scenario, live);
    // With --cpu-prof, the profiles cover the scenario itself, not the cluster start and registration;
    // dialog and fan-out narrow that to the measurement (after connecting and the warm-up).
    const profiled = async <T>(fn: () => Promise<T>): Promise<T> => {
      target?.toggleProfiles();
      try {
        return await fn();
      } finally {
        target?.toggleProfiles();
      }
    };
    const onMeasure = () => target?.toggleProfiles();
    if (scenario === 'dialog') {
      const pairs = args.number('pairs', 100);
      const u = await users(2 * pairs);
      meter.start();
      const procs = args.number('procs', 1);
      const run = () =>
        runDialogSplit(
          transport,
          u.slice(0, pairs),
          u.slice(pairs),
          {
            mode: args.string('mode') === 'rate' ? 'rate' : 'saturate',
            window: args.number('window', 8),
            rate: args.number('rate', 2000),
            durationMs,
            ...(args.has('warmup') ? { warmupMs: args.number('warmup', 0) * 1000 } : {}),
            graceMs,
            size: args.number('size', 64),
            ...(procs === 1 ? { onMeasure } : {}),
          },
          procs,
          live,
        );
      // Agent processes cannot signal the measurement window: profile the whole run then.
      const { result: r, agentCpuSeconds } = await (procs === 1 ? run() : profiled(run));
      const cpu = meter.stop(agentCpuSeconds);
      progress.stop();
      result = { ...r, cpu };
      printTable(
        [
          'mode',
          'pairs',
          'sent',
          'acked',
          'delivered',
          'lost',
          'unacked',
          'dup',
          'out of order',
          'delivered/s',
          'errors',
        ],
        [
          [
            r.mode,
            String(r.pairs),
            fmtNum(r.sent),
            fmtNum(r.acked),
            fmtNum(r.delivered),
            fmtNum(r.lost),
            fmtNum(r.unacked),
            fmtNum(r.duplicates),
            fmtNum(r.outOfOrder),
            fmtNum(r.deliveredPerSec),
            JSON.stringify(r.errors),
          ],
        ],
      );
      console.log(`other events received: ${JSON.stringify(r.otherEvents)}`);
      printLatency([
        ['end to end', Histogram.fromJSON(r.e2e)],
        ['ack', Histogram.fromJSON(r.ack)],
      ]);
      printCpu(cpu);
    } else if (scenario === 'fanout') {
      const u = await users(args.number('members', 1000));
      meter.start();
      const r = await runFanout(
        transport,
        u,
        {
          mode: args.string('mode') === 'rate' ? 'rate' : 'saturate',
          window: args.number('window', 16),
          rate: args.number('rate', 20),
          durationMs,
          graceMs,
          size: args.number('size', 64),
          onMeasure,
        },
        live,
      );
      const cpu = meter.stop();
      progress.stop();
      result = { ...r, cpu };
      printTable(
        [
          'mode',
          'members',
          'sent',
          'deliveries',
          'deliveries/s',
          'msg/s',
          'incomplete',
          'missing',
          'dup',
          'errors',
        ],
        [
          [
            r.mode,
            String(r.members),
            fmtNum(r.sent),
            fmtNum(r.deliveries),
            fmtNum(r.deliveriesPerSec),
            fmtNum(r.messagesPerSec),
            fmtNum(r.incomplete),
            fmtNum(r.missingDeliveries),
            fmtNum(r.duplicates),
            JSON.stringify(r.errors),
          ],
        ],
      );
      console.log(
        `other events received: ${JSON.stringify(r.otherEvents)}; while measured: ${JSON.stringify(r.otherEventsMeasured)}`,
      );
      printLatency([
        ['each delivery', Histogram.fromJSON(r.delivery)],
        ['last member', Histogram.fromJSON(r.lastMember)],
        ['ack', Histogram.fromJSON(r.ack)],
      ]);
      printCpu(cpu);
    } else if (scenario === 'connections') {
      const t = target!;
      const node =
        Math.min(t.wsUrls.length, Math.max(1, args.number('gateway', t.wsUrls.length > 1 ? 2 : 1))) - 1;
      const u = await users(args.number('users', 1000));
      const r = await profiled(() =>
        runConnections(
          {
            count: args.number('count', 100_000),
            wsUrl: t.wsUrls[node]!,
            metricsUrl: t.metricsUrls[node],
            pid: t.gatewayPids()[node],
            tokens: u.map((x) => x.token),
            heartbeatS: args.number('heartbeat', 30),
            holdMs: args.number('hold', 10) * 1000,
          },
          live,
        ),
      );
      progress.stop();
      result = r;
      printTable(
        ['figure', 'value'],
        [
          [
            'requested / attempted / open / failed',
            `${r.requested} / ${r.attempted} / ${r.opened} / ${r.failed}`,
          ],
          ['cap', r.cap ?? 'none'],
          ['errors', JSON.stringify(r.errors)],
          [
            'opening rate',
            `${fmtNum(r.opensPerSec)}/s over ${r.sourceAddresses} source addresses, ${r.agents} agents`,
          ],
          ['gateway gm_ws_connections', fmtNum(r.gatewayConnections)],
          [
            'gateway RSS baseline / held / after close',
            `${fmtBytes(r.rssBaseline)} / ${fmtBytes(r.rssHeld)} (highest ${fmtBytes(r.rssHeldPeak)}) / ${fmtBytes(r.rssAfterClose)}`,
          ],
          ['gateway RSS with the first half open', `${fmtBytes(r.rssHalf)} (${fmtNum(r.openedFirst)} open)`],
          ['bytes per connection (average over the baseline)', fmtNum(r.bytesPerConnection)],
          ['marginal bytes per connection (second half over first)', fmtNum(r.marginalBytesPerConnection)],
          [
            `projected bytes per connection at ${fmtNum(r.projectionCount)}`,
            fmtNum(r.projectedBytesPerConnection),
          ],
          ['heartbeats / closed by server', `${r.heartbeats} / ${r.serverClosed}`],
        ],
      );
    } else {
      const t = target!;
      const clients = args.number('clients', 10_000);
      const writers = args.number('writers', 10);
      const per = Math.ceil(clients / writers);
      const u = await users(per + writers);
      const r = await runReconnect(
        u.slice(0, per),
        u.slice(per),
        {
          clients,
          httpUrls: t.httpUrls,
          wsUrls: t.wsUrls,
          onMeasure,
          beforeStorm: args.has('cold') ? () => t.restartShards() : undefined,
          beforeConnect:
            args.number('depth', 0) > 0 ? (d) => seedDialogs(t, d, args.number('depth', 0)) : undefined,
        },
        live,
      );
      progress.stop();
      result = r;
      printTable(
        ['clients', 'caught up', 'failed', 'retries', 'all caught up in', 'errors'],
        [
          [
            fmtNum(r.clients),
            fmtNum(r.caughtUp),
            fmtNum(r.failed),
            fmtNum(r.retries),
            fmtMs(r.allCaughtUpMs),
            JSON.stringify(r.errors),
          ],
        ],
      );
      if (r.tcp) {
        console.log(
          `kernel during the storm: ${r.tcp.listenOverflows} connections dropped by full accept queues, ${r.tcp.synRetransmits} SYN retransmissions`,
        );
      }
      printLatency([
        ['catch-up', Histogram.fromJSON(r.catchUp)],
        ['connect', Histogram.fromJSON(r.connect)],
        ['history GET', Histogram.fromJSON(r.history)],
      ]);
    }
  } finally {
    progress.stop();
    const names = new Map<number, string>();
    for (const p of target?.processes() ?? []) if (p.pid !== undefined) names.set(p.pid, p.name);
    await target?.stop();
    await peer?.stop();
    const profDir = args.string('cpu-prof');
    if (profDir) printProfiles(summarizeProfiles(profDir, names));
  }
  const out = args.string('json');
  if (out) fs.writeFileSync(out, JSON.stringify(result, null, 2));
}

function printProfiles(profiles: ProfileSummary[]): void {
  for (const p of profiles) {
    console.log(`\n${p.process}: ${fmtMs(p.totalMs)} of CPU sampled (${p.file})`);
    printTable(
      ['self', 'share', 'function', 'where'],
      p.top.map((t) => [fmtMs(t.selfMs), `${(t.share * 100).toFixed(1)}%`, t.fn, t.where]),
    );
  }
}

function printCpu(cpu: Record<string, number>): void {
  printTable(
    ['process', 'cores'],
    Object.entries(cpu).map(([k, v]) => [k, v.toFixed(2)]),
  );
}

if (isMain(import.meta.url)) {
  main().then(
    () => process.exit(0),
    (err: unknown) => {
      console.error(err instanceof Error ? err.message : err);
      process.exit(1);
    },
  );
}
