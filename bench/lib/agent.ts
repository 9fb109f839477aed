/**
 * Load agent: a child process that runs a share of a scenario, so the load
 * generator can use more than one core and more sockets than one process may
 * open (the open-files limit is per process: 20,000 on the reference
 * machine). Driven over IPC by {@link ./agents.ts}:
 *
 * idle sockets (connection capacity):
 *   parent → {type:'open', spec}      agent → {type:'progress'}… then {type:'opened'}
 *   parent → {type:'close'}           agent → {type:'closed'} and exits
 *
 * dialog share:
 *   parent → {type:'dialog', ...}     agent → {type:'live'}…, {type:'ready'} after its warm-up
 *   parent → {type:'go', start}       agent → {type:'dialog-result'} and exits
 */
import WebSocket from 'ws';
import { runDialog, type DialogOptions, type DialogResult } from '../scenarios/dialog.js';
import { AddressPool } from './addresses.js';
import { GmTransport, openSocket } from './gm-transport.js';
import { mapLimit } from './http.js';
import { newLive } from './live.js';
import type { BenchUser, Transport, TransportSpec } from './transport.js';

export interface IdleSocketsSpec {
  /** ws://host:port of the gateway. */
  wsUrl: string;
  /** Session tokens; socket i uses tokens[i % tokens.length]. */
  tokens: string[];
  count: number;
  /** Index of the first socket (for address and token assignment across agents). */
  offset: number;
  /** Sockets per source address. */
  perAddress: number;
  addressBlock: number;
  /** Seconds between two user_activity heartbeats of one socket (spread evenly). */
  heartbeatS: number;
  concurrency: number;
}

export type AgentRequest =
  | { type: 'open'; spec: IdleSocketsSpec }
  | { type: 'close' }
  | {
      type: 'dialog';
      transport: TransportSpec;
      senders: BenchUser[];
      receivers: BenchUser[];
      opts: Omit<DialogOptions, 'ready' | 'onMeasure'>;
    }
  | { type: 'go'; start: number };

export type AgentReply =
  | { type: 'progress'; opened: number; failed: number }
  | { type: 'opened'; opened: number; failed: number; errors: Record<string, number> }
  | { type: 'closed'; heartbeats: number; serverClosed: number; received: number; cpuSeconds: number }
  | { type: 'live'; phase: string; done: number; total: number; note?: string }
  | { type: 'ready' }
  | { type: 'dialog-result'; result: DialogResult; cpuSeconds: number };

const HEARTBEAT = '{"type":"user_activity","payload":{}}';

function reply(m: AgentReply): void {
  process.send?.(m);
}

function cpuSeconds(): number {
  const cpu = process.cpuUsage();
  return (cpu.user + cpu.system) / 1e6;
}

function errorKey(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  return e.code ?? (e.message ?? String(err)).slice(0, 60);
}

/** Rebuilds a transport from its serializable description. */
export async function transportFrom(spec: TransportSpec): Promise<Transport> {
  if (spec.kind === 'gmessenger') return new GmTransport(spec.httpUrls, spec.wsUrls);
  const { SioTransport } = await import('../peer/transport.js');
  return new SioTransport(spec.urls);
}

async function openIdle(spec: IdleSocketsSpec): Promise<void> {
  const sockets: WebSocket[] = [];
  const errors: Record<string, number> = {};
  const pool = new AddressPool(spec.perAddress, spec.addressBlock);
  let opened = 0;
  let failed = 0;
  let serverClosed = 0;
  let received = 0;
  let closing = false;
  const progress = setInterval(() => reply({ type: 'progress', opened, failed }), 500);
  await mapLimit(spec.count, spec.concurrency, async (k) => {
    const i = spec.offset + k;
    const token = spec.tokens[i % spec.tokens.length]!;
    try {
      const ws = await openSocket(`${spec.wsUrl}/chats/ws?token=${encodeURIComponent(token)}`, {
        localAddress: pool.addressFor(i),
        timeoutMs: 30_000,
      });
      ws.on('message', () => received++);
      ws.on('close', () => {
        if (!closing) serverClosed++;
      });
      sockets.push(ws);
      opened++;
    } catch (err) {
      failed++;
      const key = errorKey(err);
      errors[key] = (errors[key] ?? 0) + 1;
    }
  });
  clearInterval(progress);
  reply({ type: 'opened', opened, failed, errors });

  let tick = 0;
  let heartbeats = 0;
  const heartbeat = setInterval(() => {
    const slot = tick++ % spec.heartbeatS;
    for (let i = slot; i < sockets.length; i += spec.heartbeatS) {
      const ws = sockets[i]!;
      if (ws.readyState === WebSocket.OPEN) {
        ws.send(HEARTBEAT);
        heartbeats++;
      }
    }
  }, 1000);

  process.on('message', (m: AgentRequest) => {
    if (m.type !== 'close') return;
    closing = true;
    clearInterval(heartbeat);
    for (const ws of sockets) ws.terminate();
    reply({ type: 'closed', heartbeats, serverClosed, received, cpuSeconds: cpuSeconds() });
    setTimeout(() => process.exit(0), 100);
  });
}

async function dialogShare(m: Extract<AgentRequest, { type: 'dialog' }>): Promise<void> {
  const live = newLive();
  const ticker = setInterval(() => reply({ type: 'live', ...live }), 250);
  const go = new Promise<number>((resolve) =>
    process.on('message', (g: AgentRequest) => {
      if (g.type === 'go') resolve(g.start);
    }),
  );
  const cpu0 = cpuSeconds();
  const result = await runDialog(
    await transportFrom(m.transport),
    m.senders,
    m.receivers,
    {
      ...m.opts,
      ready: () => {
        reply({ type: 'ready' });
        return go;
      },
    },
    live,
  );
  clearInterval(ticker);
  reply({ type: 'dialog-result', result, cpuSeconds: cpuSeconds() - cpu0 });
  setTimeout(() => process.exit(0), 100);
}

process.once('message', (m: AgentRequest) => {
  const task =
    m.type === 'open' ? openIdle(m.spec) : m.type === 'dialog' ? dialogShare(m) : Promise.resolve();
  task.catch((err: unknown) => {
    console.error('agent failed:', err);
    process.exit(1);
  });
});
process.on('disconnect', () => process.exit(0));
