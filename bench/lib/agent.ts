/**
 * Load agent: a child process that holds a share of many idle WebSocket
 * connections. The open-files limit is per process (20,000 on the reference
 * machine), so connection tests spread their client sockets over several
 * agents. Driven over IPC by {@link ../scenarios/connections.ts}:
 *
 *   parent → agent  {type:'open', spec}           open spec.count sockets
 *   agent → parent  {type:'progress', opened, failed}
 *   agent → parent  {type:'opened', opened, failed, errors}
 *   parent → agent  {type:'close'}                close all, then exit
 *   agent → parent  {type:'closed', heartbeats, serverClosed, received, cpuSeconds}
 */
import WebSocket from 'ws';
import { AddressPool } from './addresses.js';
import { openSocket } from './gm-transport.js';
import { mapLimit } from './http.js';

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

export type AgentRequest = { type: 'open'; spec: IdleSocketsSpec } | { type: 'close' };
export type AgentReply =
  | { type: 'progress'; opened: number; failed: number }
  | { type: 'opened'; opened: number; failed: number; errors: Record<string, number> }
  | { type: 'closed'; heartbeats: number; serverClosed: number; received: number; cpuSeconds: number };

const HEARTBEAT = '{"type":"user_activity","payload":{}}';

function reply(m: AgentReply): void {
  process.send?.(m);
}

function errorKey(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  return e.code ?? (e.message ?? String(err)).slice(0, 60);
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
    const cpu = process.cpuUsage();
    reply({ type: 'closed', heartbeats, serverClosed, received, cpuSeconds: (cpu.user + cpu.system) / 1e6 });
    setTimeout(() => process.exit(0), 100);
  });
}

process.once('message', (m: AgentRequest) => {
  if (m.type === 'open') {
    openIdle(m.spec).catch((err: unknown) => {
      console.error('agent failed:', err);
      process.exit(1);
    });
  }
});
process.on('disconnect', () => process.exit(0));
