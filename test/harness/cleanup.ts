/**
 * Safety net for everything the harness starts: every child pid and temp dir
 * is recorded here, and if the test process exits (normally, on an uncaught
 * error, or on the SIGTERM node's test runner sends when a file times out)
 * the children are SIGKILLed by pid and the dirs removed, so no redis-server
 * or service outlives its test.
 */
import fs from 'node:fs';

const pids = new Set<number>();
const dirs = new Set<string>();
let installed = false;

function sweep(): void {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
  pids.clear();
  if (process.env.TEST_KEEP !== '1') {
    for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
  }
  dirs.clear();
}

function install(): void {
  if (installed) return;
  installed = true;
  process.on('exit', sweep);
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      sweep();
      process.kill(process.pid, signal);
    });
  }
}

export function trackPid(pid: number | undefined): void {
  if (pid === undefined) return;
  install();
  pids.add(pid);
}

export function untrackPid(pid: number | undefined): void {
  if (pid !== undefined) pids.delete(pid);
}

export function trackDir(dir: string): void {
  install();
  dirs.add(dir);
}

/** Removes `dir` now (kept when TEST_KEEP=1, for post-mortems). */
export function removeDir(dir: string): void {
  dirs.delete(dir);
  if (process.env.TEST_KEEP !== '1') fs.rmSync(dir, { recursive: true, force: true });
}

/** The last `lines` lines of a log file ('' when it does not exist). */
export function tail(file: string, lines: number): string {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return '';
  }
  const all = text.split('\n');
  if (all.at(-1) === '') all.pop();
  return all.slice(-lines).join('\n');
}

/** What startRedis/startCluster need from a node:test context to clean up after one test. */
export interface TestLike {
  after(fn: () => unknown): void;
}

/** Whether the test of `t` failed (node 20.13+ sets `passed`; older versions count as failed). */
export function testFailed(t: TestLike): boolean {
  return (t as { passed?: boolean }).passed !== true;
}
