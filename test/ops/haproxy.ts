/**
 * Runs deploy/haproxy.cfg for real in front of local gateways: the same file with the listen
 * addresses moved to free loopback ports and the compose service names replaced by the gateways'
 * 127.0.0.1 ports (no Docker DNS here, so the `resolvers docker` section is dropped).
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { releasePorts, reservePort } from '../../launcher/index.js';
import { removeDir, tail, trackDir, trackPid, untrackPid } from '../harness/cleanup.js';

export interface Backend {
  /** Server name in the config (the compose service, e.g. gateway-1). */
  name: string;
  httpPort: number;
  metricsPort: number;
}

export interface HaproxyProcess {
  /** http://127.0.0.1:<port> of the public frontend. */
  readonly url: string;
  readonly wsUrl: string;
  /** http://127.0.0.1:<port> of the ops frontend (/metrics, /stats). */
  readonly opsUrl: string;
  readonly config: string;
  logs(lines?: number): string;
  /** Server name → status (UP, DOWN, ...) of the gateways backend, from the stats CSV. */
  serverStatus(): Promise<Map<string, string>>;
  stop(): Promise<void>;
}

/** deploy/haproxy.cfg rewritten for loopback ports; throws when a line it must rewrite is missing. */
export function localHaproxyConfig(
  source: string,
  publicPort: number,
  opsPort: number,
  backends: Backend[],
): string {
  let text = source;
  const replace = (pattern: RegExp, by: (...m: string[]) => string, what: string) => {
    if (!pattern.test(text)) throw new Error(`deploy/haproxy.cfg: no ${what}`);
    text = text.replace(pattern, by);
  };
  replace(/^(\s*bind\s+):8080\b/m, (_, p) => `${p}127.0.0.1:${publicPort}`, 'bind :8080');
  replace(/^(\s*bind\s+):8404\b/m, (_, p) => `${p}127.0.0.1:${opsPort}`, 'bind :8404');
  replace(/^resolvers docker\n(?:[ \t]+.*\n)*/m, () => '', 'resolvers docker section');
  replace(/ resolvers docker/g, () => '', 'default-server resolvers');
  replace(/ check port \d+/, () => ' check', 'default-server check port');
  for (const b of backends) {
    replace(
      new RegExp(`^(\\s*server\\s+${b.name}\\s+)\\S+.*$`, 'm'),
      (_, p) => `${p}127.0.0.1:${b.httpPort} port ${b.metricsPort}`,
      `server ${b.name}`,
    );
  }
  return text;
}

export async function startHaproxy(sourceFile: string, backends: Backend[]): Promise<HaproxyProcess> {
  const publicPort = await reservePort();
  const opsPort = await reservePort();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gm-haproxy-'));
  trackDir(dir);
  const config = localHaproxyConfig(fs.readFileSync(sourceFile, 'utf8'), publicPort, opsPort, backends);
  const configFile = path.join(dir, 'haproxy.cfg');
  fs.writeFileSync(configFile, config);
  const logFile = path.join(dir, 'haproxy.log');
  const log = fs.openSync(logFile, 'a');
  const child = spawn('haproxy', ['-db', '-f', configFile], { cwd: dir, stdio: ['ignore', log, log] });
  fs.closeSync(log);
  trackPid(child.pid);
  let gone: string | null = null;
  const exited = new Promise<void>((resolve) =>
    child.once('close', (code, signal) => {
      gone = `exited (${signal ?? code})`;
      untrackPid(child.pid);
      resolve();
    }),
  );
  const opsUrl = `http://127.0.0.1:${opsPort}`;
  const stop = async () => {
    if (!gone) child.kill('SIGKILL');
    await exited;
    removeDir(dir);
    releasePorts([publicPort, opsPort]);
  };
  const serverStatus = async () => {
    const csv = await (await fetch(`${opsUrl}/stats;csv`)).text();
    const header = (csv.split('\n')[0] ?? '').replace(/^# /, '').split(',');
    const status = header.indexOf('status');
    const out = new Map<string, string>();
    for (const line of csv.split('\n').slice(1)) {
      const cols = line.split(',');
      if (cols[0] === 'gateways' && cols[1] && cols[1] !== 'BACKEND') out.set(cols[1], cols[status] ?? '');
    }
    return out;
  };
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (gone) {
      const why = `haproxy ${gone}:\n${tail(logFile, 20)}`;
      await stop();
      throw new Error(why);
    }
    const up = await serverStatus().then(
      (s) => backends.every((b) => s.get(b.name) === 'UP'),
      () => false,
    );
    if (up) break;
    if (Date.now() > deadline) {
      const last = await serverStatus().catch(() => new Map());
      await stop();
      throw new Error(
        `haproxy: gateways not UP within 20 s (${JSON.stringify([...last])}):\n${tail(logFile, 20)}`,
      );
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return {
    url: `http://127.0.0.1:${publicPort}`,
    wsUrl: `ws://127.0.0.1:${publicPort}`,
    opsUrl,
    config,
    logs: (lines = 30) => tail(logFile, lines),
    serverStatus,
    stop,
  };
}
