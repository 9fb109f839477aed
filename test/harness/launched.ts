/**
 * `npm start` as a real process for tests: dist/launcher/main.js with given
 * arguments and environment, its JSON log lines parsed, and a wait for the
 * first launcher line that matches.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import readline from 'node:readline';
import { ROOT } from '../../launcher/services.js';
import { trackPid, untrackPid } from './cleanup.js';

export interface LogLine {
  msg?: string;
  service?: string;
  node?: string;
  url?: string;
  pid?: number;
  processes?: { name: string; pid: number; metrics?: number; redis?: number }[];
}

export interface Launched {
  child: ChildProcess;
  lines: LogLine[];
  /** Resolves with the first launcher line whose message matches. */
  waitFor(pattern: RegExp, timeoutMs: number): Promise<LogLine>;
  exit: Promise<number | null>;
}

export function launch(args: string[], env: NodeJS.ProcessEnv): Launched {
  const child = spawn(process.execPath, [path.join(ROOT, 'dist/launcher/main.js'), ...args], {
    cwd: ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  trackPid(child.pid);
  const lines: LogLine[] = [];
  const raw: string[] = [];
  const waiters: { pattern: RegExp; resolve: (l: LogLine) => void }[] = [];
  readline.createInterface({ input: child.stdout! }).on('line', (text) => {
    raw.push(text);
    const line = JSON.parse(text) as LogLine;
    lines.push(line);
    if (line.service !== 'launcher' || line.msg === undefined) return;
    for (const w of waiters.filter((w) => w.pattern.test(line.msg!))) {
      waiters.splice(waiters.indexOf(w), 1);
      w.resolve(line);
    }
    for (const p of line.processes ?? []) trackPid(p.pid);
  });
  child.stderr!.on('data', (chunk: Buffer) => raw.push(chunk.toString()));
  const exit = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => {
      untrackPid(child.pid);
      resolve(code);
    }),
  );
  const waitFor = (pattern: RegExp, timeoutMs: number) => {
    const seen = lines.find((l) => l.service === 'launcher' && l.msg && pattern.test(l.msg));
    if (seen) return Promise.resolve(seen);
    return new Promise<LogLine>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no "${pattern}" within ${timeoutMs} ms:\n${raw.join('\n')}`)),
        timeoutMs,
      );
      exit.then((code) =>
        reject(new Error(`launcher exited (${code}) before "${pattern}":\n${raw.join('\n')}`)),
      );
      waiters.push({
        pattern,
        resolve: (l) => {
          clearTimeout(timer);
          resolve(l);
        },
      });
    });
  };
  return { child, lines, waitFor, exit };
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
