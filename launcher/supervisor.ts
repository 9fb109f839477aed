/**
 * One long-running child process of the launcher: started in its own process
 * group (so a Ctrl-C in the terminal reaches only the launcher, which then
 * stops the children in order), its output passed line by line to a sink, and
 * restarted with exponential backoff when it exits without being asked to.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import readline from 'node:readline';

export interface ChildSpec {
  name: string;
  command: string;
  args: readonly string[];
  env: NodeJS.ProcessEnv;
  cwd: string;
}

export interface SupervisorEvents {
  line(name: string, line: string, stream: 'stdout' | 'stderr'): void;
  crashed(name: string, how: string, restartInMs: number): void;
  restarted(name: string, pid: number | undefined): void;
}

const BACKOFF_FIRST_MS = 500;
const BACKOFF_MAX_MS = 30_000;
/** A child that ran this long before crashing restarts without delay growth. */
const STABLE_AFTER_MS = 60_000;

export class Supervised {
  private child: ChildProcess | null = null;
  private stopping = false;
  private crashes = 0;
  private startedAt = 0;
  private restartTimer: NodeJS.Timeout | null = null;
  private exitWaiters: (() => void)[] = [];
  /** How the last child ended (`exited with code 1`), or null if none has. */
  lastExit: string | null = null;
  /** Children of this process that have ended so far. */
  exits = 0;

  constructor(
    readonly spec: ChildSpec,
    private readonly events: SupervisorEvents,
  ) {}

  get pid(): number | undefined {
    return this.child?.pid;
  }

  start(): void {
    this.startedAt = Date.now();
    const child = spawn(this.spec.command, [...this.spec.args], {
      cwd: this.spec.cwd,
      env: this.spec.env,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    this.child = child;
    for (const stream of ['stdout', 'stderr'] as const) {
      readline
        .createInterface({ input: child[stream], crlfDelay: Infinity })
        .on('line', (line) => this.events.line(this.spec.name, line, stream));
    }
    child.once('error', (err) => {
      this.events.line(this.spec.name, `cannot start ${this.spec.command}: ${err.message}`, 'stderr');
    });
    child.once('close', (code, signal) =>
      this.onExit(child, signal ? `was killed by ${signal}` : `exited with code ${code}`),
    );
  }

  private onExit(child: ChildProcess, how: string): void {
    if (this.child !== child) return;
    this.lastExit = how;
    this.exits++;
    this.child = null;
    const waiters = this.exitWaiters.splice(0);
    for (const resolve of waiters) resolve();
    if (this.stopping) return;
    this.crashes = Date.now() - this.startedAt >= STABLE_AFTER_MS ? 1 : this.crashes + 1;
    const delay = Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** (this.crashes - 1));
    this.events.crashed(this.spec.name, how, delay);
    this.restartTimer = setTimeout(() => {
      this.restartTimer = null;
      if (this.stopping) return;
      this.start();
      this.events.restarted(this.spec.name, this.child?.pid);
    }, delay);
  }

  /** Sends `signal` and waits for the exit; SIGKILL after `graceMs`. No restart afterwards. */
  async stop(signal: NodeJS.Signals = 'SIGTERM', graceMs = 15_000): Promise<'exited' | 'killed'> {
    this.stopping = true;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    const child = this.child;
    if (!child || child.pid === undefined) return 'exited';
    const exited = new Promise<void>((resolve) => this.exitWaiters.push(resolve));
    child.kill(signal);
    let timer: NodeJS.Timeout | undefined;
    const outcome = await Promise.race([
      exited.then(() => 'exited' as const),
      new Promise<'killed'>((resolve) => {
        timer = setTimeout(() => resolve('killed'), graceMs);
      }),
    ]);
    clearTimeout(timer);
    if (outcome === 'killed') {
      child.kill('SIGKILL');
      await exited;
    }
    return outcome;
  }

  /** Synchronous last resort when the launcher itself is exiting. */
  killNow(): void {
    this.stopping = true;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.child?.kill('SIGKILL');
  }
}
