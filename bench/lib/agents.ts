/** The parent side of the load agents (bench/lib/agent.ts): spawning, messaging, and a dialog run split over them. */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { mergeDialog, runDialog, type DialogOptions, type DialogResult } from '../scenarios/dialog.js';
import type { AgentReply, AgentRequest } from './agent.js';
import type { Live } from './live.js';
import { nowMs } from './schedule.js';
import type { BenchUser, Transport } from './transport.js';

function agentEntry(): string {
  return fileURLToPath(import.meta.url).replace(/agents\.(ts|js)$/, 'agent.$1');
}

/** One agent child process. */
export class Agent {
  readonly child: ChildProcess;
  /** Latest progress counters reported by the agent. */
  opened = 0;
  failed = 0;
  live: Live | undefined;
  private waiters: ((m: AgentReply) => boolean)[] = [];

  constructor() {
    this.child = fork(agentEntry(), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.child.on('message', (m: AgentReply) => {
      if (m.type === 'progress') {
        this.opened = m.opened;
        this.failed = m.failed;
      } else if (m.type === 'live') {
        this.live = m;
      }
      this.waiters = this.waiters.filter((w) => !w(m));
    });
  }

  send(m: AgentRequest): void {
    this.child.send(m);
  }

  /** The next reply of `type`; rejects if the agent exits first. */
  next<T extends AgentReply['type']>(type: T): Promise<Extract<AgentReply, { type: T }>> {
    return new Promise((resolve, reject) => {
      const onExit = (code: number | null) => reject(new Error(`load agent exited with ${code}`));
      this.child.once('exit', onExit);
      this.waiters.push((m) => {
        if (m.type !== type) return false;
        this.child.off('exit', onExit);
        resolve(m as Extract<AgentReply, { type: T }>);
        return true;
      });
    });
  }

  kill(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
  }
}

export interface DialogRun {
  result: DialogResult;
  /** CPU seconds the load generator spent in agent processes (0 when it ran in this process). */
  agentCpuSeconds: number;
}

/**
 * Runs the dialog scenario in this process (`procs` = 1) or split over `procs`
 * agent processes, each with a share of the pairs and of the rate, starting
 * together after every share's warm-up.
 */
export async function runDialogSplit(
  transport: Transport,
  senders: BenchUser[],
  receivers: BenchUser[],
  opts: DialogOptions,
  procs: number,
  live?: Live,
): Promise<DialogRun> {
  if (procs <= 1)
    return { result: await runDialog(transport, senders, receivers, opts, live), agentCpuSeconds: 0 };
  const n = Math.min(senders.length, receivers.length);
  const agents = Array.from({ length: procs }, () => new Agent());
  const ticker = setInterval(() => {
    const first = agents[0]?.live;
    if (live && first) Object.assign(live, first);
  }, 250);
  const { ready: _ready, onMeasure: _onMeasure, ...shared } = opts;
  try {
    const results = agents.map((a, i) => {
      const lo = Math.floor((n * i) / procs);
      const hi = Math.floor((n * (i + 1)) / procs);
      a.send({
        type: 'dialog',
        transport: transport.spec,
        senders: senders.slice(lo, hi),
        receivers: receivers.slice(lo, hi),
        opts: { ...shared, ...(opts.rate ? { rate: (opts.rate * (hi - lo)) / n } : {}) },
      });
      return a.next('dialog-result');
    });
    await Promise.all(agents.map((a) => a.next('ready')));
    const start = nowMs() + 50;
    for (const a of agents) a.send({ type: 'go', start });
    const done = await Promise.all(results);
    return {
      result: mergeDialog(done.map((d) => d.result)),
      agentCpuSeconds: done.reduce((s, d) => s + d.cpuSeconds, 0),
    };
  } finally {
    clearInterval(ticker);
    for (const a of agents) a.kill();
  }
}
