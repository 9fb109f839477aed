/**
 * `npm run bench`: the standard suite against a local cluster it starts
 * itself (or `--target URL[,URL]`), then the Socket.IO peer doing the same
 * dialog and fan-out workload. Progress on stderr; writes
 * bench/results/<date>.json, .md (summary with peer ratios and targets) and
 * .html (self-contained charts).
 *
 * Options:
 *   --quick                 about two minutes in all (smaller counts, shorter runs)
 *   --target URL[,URL]      an existing deployment's gateways instead of a local cluster
 *   --metrics URL[,URL]     their ops URLs (/metrics), for memory figures
 *   --only ID[,ID]          scenarios: connections, rest-login, rest-chats, rest-history,
 *                           dialog-saturate, dialog-rate, fanout-saturate, fanout-rate, reconnect
 *                           (a prefix such as `dialog` or `rest` selects several)
 *   --store cassandra       also run dialog-saturate, dialog-rate and rest-history on a second
 *                           local cluster that stores in a local Cassandra 5.0 node (started for
 *                           the run, commitlog_sync: batch), after the SQLite cluster is stopped;
 *                           the report sets both side by side with the node's CPU (local only)
 *   --no-peer               skip the Socket.IO peer
 *   --procs N               load-generator processes for the dialog scenario (default 1)
 *   --cpu-prof DIR          V8 CPU profiles of gateways and shards, summarized in the report
 *   --no-build              do not run `npm run build` before starting the local cluster
 *   --out DIR               where results go (default bench/results)
 *   --report FILE.json      only re-render the .md and .html of an earlier run
 *   --pairs N --window N --rate N --duration S --warmup S --members N --fanout-window N --fanout-rate N
 *   --connections N --hold S --clients N --writers N --rest-duration S
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { isMain, parseArgs, parseStores, type Args } from './lib/args.js';
import { Progress } from './lib/progress.js';
import { renderHtml } from './report/html.js';
import { renderMarkdown } from './report/markdown.js';
import type { SuiteResult } from './report/model.js';
import { cassandraScenarios, CASSANDRA_IDS, makePlan, runSuite, SCENARIO_IDS, stepCount } from './suite.js';

function stamp(d: Date): string {
  return d.toISOString().slice(0, 16).replace(/:/g, '').replace('T', '-');
}

function writeReports(result: SuiteResult, base: string): string[] {
  const files = [`${base}.json`, `${base}.md`, `${base}.html`];
  fs.mkdirSync(path.dirname(base), { recursive: true });
  fs.writeFileSync(files[0]!, JSON.stringify(result));
  fs.writeFileSync(files[1]!, renderMarkdown(result));
  fs.writeFileSync(files[2]!, renderHtml(result));
  return files;
}

function optional(args: Args, name: string, scale = 1): number | undefined {
  return args.has(name) ? args.number(name, 0) * scale : undefined;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const outDir = args.string('out') ?? path.join('bench', 'results');
  const again = args.string('report');
  if (again) {
    const result = JSON.parse(fs.readFileSync(again, 'utf8')) as SuiteResult;
    const files = writeReports(result, again.replace(/\.json$/, ''));
    console.log(files.slice(1).join('\n'));
    return;
  }
  const only = args
    .string('only')
    ?.split(',')
    .map((s) => s.trim());
  for (const o of only ?? []) {
    if (!SCENARIO_IDS.some((id) => id === o || id.startsWith(o)))
      throw new Error(`--only: unknown scenario "${o}"`);
  }
  const stores = parseStores(args.string('store'));
  if (stores.includes('cassandra')) {
    if (args.string('target'))
      throw new Error('--store cassandra starts local clusters of its own: leave out --target');
    if (cassandraScenarios({ only, stores }).length === 0)
      throw new Error(`--store cassandra: --only selects none of ${CASSANDRA_IDS.join(', ')}`);
  }
  const plan = makePlan(args.has('quick'), {
    pairs: optional(args, 'pairs'),
    window: optional(args, 'window'),
    dialogRate: optional(args, 'rate'),
    dialogMs: optional(args, 'duration', 1000),
    fanoutMs: optional(args, 'duration', 1000),
    fanoutMembers: optional(args, 'members'),
    fanoutWindow: optional(args, 'fanout-window'),
    fanoutRate: optional(args, 'fanout-rate'),
    connections: optional(args, 'connections'),
    holdMs: optional(args, 'hold', 1000),
    reconnectClients: optional(args, 'clients'),
    reconnectWriters: optional(args, 'writers'),
    restS: optional(args, 'rest-duration'),
    procs: optional(args, 'procs'),
    dialogWarmupMs: optional(args, 'warmup', 1000),
  });
  if (!args.string('target') && !args.has('no-build')) {
    process.stderr.write('npm run build...\n');
    const build = spawnSync('npm', ['run', '--silent', 'build'], { stdio: ['ignore', 'ignore', 'inherit'] });
    if (build.status !== 0) throw new Error('npm run build failed');
  }
  const peer = !args.has('no-peer');
  const progress = new Progress(stepCount({ only, peer, stores }));
  const started = new Date();
  let result: SuiteResult;
  try {
    result = await runSuite(
      {
        plan,
        target: args.string('target'),
        metrics: args.string('metrics'),
        only,
        peer,
        cpuProfDir: args.string('cpu-prof'),
        stores,
        command: ['npm run bench', ...(process.argv.length > 2 ? ['--', ...process.argv.slice(2)] : [])].join(
          ' ',
        ),
      },
      progress,
    );
  } finally {
    progress.stop();
  }
  const files = writeReports(result, path.join(outDir, stamp(started)));
  console.log(fs.readFileSync(files[1]!, 'utf8'));
  console.error(`written: ${files.join(', ')}`);
}

if (isMain(import.meta.url)) {
  main().then(
    () => process.exit(0),
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
}
