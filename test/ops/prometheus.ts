/**
 * A real Prometheus (and the Debian tools around it) for the ops test: installs the Debian package
 * when a tool is missing and the test runs as root, starts `prometheus` on a free port with a temp
 * dir and a generated config, and queries it through the HTTP API.
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { releasePorts, reservePort } from '../../launcher/index.js';
import { removeDir, tail, trackDir, trackPid, untrackPid } from '../harness/cleanup.js';

function onPath(bin: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${bin}`], { stdio: 'ignore' }).status === 0;
}

/**
 * Makes `bin` available, installing the Debian package `pkg` with apt-get when running as root.
 * Returns null when the tool is there, or why it is not (the caller skips with that reason).
 */
export function ensureTool(bin: string, pkg: string): string | null {
  if (onPath(bin)) return null;
  if (process.getuid?.() !== 0)
    return `${bin} is not installed and the test is not root (apt-get install -y ${pkg})`;
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const install = () =>
    spawnSync('apt-get', ['install', '-y', '--no-install-recommends', pkg], { env, encoding: 'utf8' });
  let result = install();
  if (result.status !== 0) {
    spawnSync('apt-get', ['update'], { env, stdio: 'ignore' });
    result = install();
  }
  if (onPath(bin)) return null;
  return `${bin} missing and apt-get install -y ${pkg} failed: ${(result.stderr ?? '').trim().split('\n').slice(-3).join(' ')}`;
}

/** Runs a command to completion; its exit code and output, combined. */
export function run(cmd: string, args: string[], cwd?: string): { code: number; output: string } {
  const result = spawnSync(cmd, args, { cwd, encoding: 'utf8', timeout: 60_000 });
  return { code: result.status ?? -1, output: `${result.stdout ?? ''}${result.stderr ?? ''}` };
}

/** One scrape target: the address and the labels Prometheus should attach to it. */
export interface Target {
  address: string;
  labels: Record<string, string>;
}

export interface PrometheusOptions {
  /** job name → targets, like the static_configs of grafana/prometheus.yml. */
  jobs: Record<string, Target[]>;
  /** Absolute paths of rule files to load and evaluate. */
  ruleFiles: string[];
  /** @default 1 */
  intervalSeconds?: number;
}

export interface Prometheus {
  readonly url: string;
  readonly configFile: string;
  /** The last lines of Prometheus's own log. */
  logs(lines?: number): string;
  stop(): Promise<void>;
}

/** Starts Prometheus on a free port with a temp dir; resolves once /-/ready answers 200. */
export async function startPrometheus(options: PrometheusOptions): Promise<Prometheus> {
  const port = await reservePort();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gm-prometheus-'));
  trackDir(dir);
  const interval = `${options.intervalSeconds ?? 1}s`;
  // JSON is YAML: no YAML writer needed.
  const config = {
    global: { scrape_interval: interval, scrape_timeout: interval, evaluation_interval: interval },
    rule_files: options.ruleFiles,
    scrape_configs: Object.entries(options.jobs).map(([job, targets]) => ({
      job_name: job,
      static_configs: targets.map((t) => ({ targets: [t.address], labels: t.labels })),
    })),
  };
  const configFile = path.join(dir, 'prometheus.yml');
  fs.writeFileSync(configFile, JSON.stringify(config, null, 2));
  const logFile = path.join(dir, 'prometheus.log');
  const log = fs.openSync(logFile, 'a');
  const child = spawn(
    'prometheus',
    [
      `--config.file=${configFile}`,
      `--storage.tsdb.path=${path.join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--log.level=warn',
    ],
    { cwd: dir, stdio: ['ignore', log, log] },
  );
  fs.closeSync(log);
  trackPid(child.pid);
  let exitedWith: string | null = null;
  const exited = new Promise<void>((resolve) =>
    child.once('close', (code, signal) => {
      exitedWith = `exited (${signal ?? code})`;
      untrackPid(child.pid);
      resolve();
    }),
  );
  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    if (!exitedWith) child.kill('SIGKILL');
    await exited;
    removeDir(dir);
    releasePorts([port]);
  };
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (exitedWith) {
      const why = `prometheus ${exitedWith} before it was ready:\n${tail(logFile, 20)}`;
      await stop();
      throw new Error(why);
    }
    const ok = await fetch(`${url}/-/ready`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`prometheus not ready within 30 s:\n${tail(logFile, 20)}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return { url, configFile, logs: (lines = 30) => tail(logFile, lines), stop };
}

/** The body of /api/v1/query. */
export interface QueryResult {
  status: 'success' | 'error';
  error?: string;
  data?: {
    resultType: string;
    result: { metric: Record<string, string>; value: [number, string] }[] | unknown;
  };
}

/** An instant query; `series` is the number of series (or 1 for a scalar) it returned. */
export async function instantQuery(url: string, expr: string): Promise<QueryResult & { series: number }> {
  const res = await fetch(`${url}/api/v1/query`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ query: expr }),
  });
  const body = (await res.json()) as QueryResult;
  const result = body.data?.result;
  const series = Array.isArray(result) ? result.length : result === undefined ? 0 : 1;
  return { ...body, series };
}
