/**
 * Reconnect storm: M clients are connected (each a dialog socket of a user
 * with one of W writers), all lose their connection at once, one message is
 * written into every client's dialog while they are away, then all reconnect
 * at the same moment and catch up with `GET /dialog/{writer}?after=<last id>`.
 *
 * Measures the time until every client has reconnected and holds its missed
 * message, the per-client catch-up time distribution, connect and GET
 * latencies, and every error. A client whose connect or GET fails retries
 * after a jittered backoff (as a real client would), up to `retries` times;
 * retries and final failures are reported.
 */
import http from 'node:http';
import { AddressPool } from '../lib/addresses.js';
import { openSocket } from '../lib/gm-transport.js';
import { Histogram, type HistogramJSON } from '../lib/histogram.js';
import { mapLimit, request, retrying } from '../lib/http.js';
import { setPhase, type Live } from '../lib/live.js';
import { tcpCounters, type TcpCounters } from '../lib/proc.js';
import { nowMs } from '../lib/schedule.js';
import type { BenchUser } from '../lib/transport.js';
import type WebSocket from 'ws';

export interface ReconnectOptions {
  clients: number;
  httpUrls: string[];
  wsUrls: string[];
  /** @default 3 */
  retries?: number;
  /** Give up waiting for the storm after this long. @default 60000 */
  timeoutMs?: number;
  /** Parallel opens while setting up (not during the storm). @default 200 */
  setupConcurrency?: number;
  /** Most HTTP connections per gateway during the storm. @default 256 */
  httpSockets?: number;
  /** Called when the storm starts ('start') and when it is over ('end'). */
  onMeasure?: (phase: 'start' | 'end') => void;
  /**
   * Runs after the missed messages are written and before the storm; `--cold` restarts the shards here so
   * that every chat's actor must be activated again (lease, state load) during the storm.
   */
  beforeStorm?: () => Promise<void>;
  /** Runs before the clients connect with every client's dialog (`--depth` gives each dialog a history). */
  beforeConnect?: (dialogs: { user: string; writer: string }[]) => Promise<void>;
}

export interface ReconnectResult {
  clients: number;
  writers: number;
  /** Clients that reconnected and found their missed message. */
  caughtUp: number;
  failed: number;
  retries: number;
  errors: Record<string, number>;
  /** Storm start → the last client caught up (or the timeout). */
  allCaughtUpMs: number;
  /** Per client: storm start → caught up. */
  catchUp: HistogramJSON;
  connect: HistogramJSON;
  history: HistogramJSON;
  setupMs: number;
  /** Failed opens retried while connecting everyone before the storm. */
  setupRetries: number;
  /**
   * This machine's kernel counters during the storm (all processes, so only meaningful for a
   * local target): full accept queues and the SYN retransmissions they cause.
   */
  tcp: TcpCounters | null;
  /** Time the writers took to put one message into every dialog while the clients were away. */
  gapWriteMs: number;
}

interface Client {
  user: BenchUser;
  writer: BenchUser;
  node: number;
  address: string;
  /** Id of the message written while the client was away. */
  expected: number;
  ws?: WebSocket;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A short, bounded error name: the stage and the error code or message, without URLs. */
function errorKey(stage: string, err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  const what =
    e.code ??
    (e.message ?? String(err))
      .replace(/\S+:\/\/\S+/g, '')
      .replace(/\s+/g, ' ')
      .trim();
  return `${stage}: ${what.slice(0, 60)}`;
}

/**
 * `users` are the clients' users (client k is users[k % users.length]);
 * `writers` write into the dialogs. clients must be <= users × writers.
 */
export async function runReconnect(
  users: BenchUser[],
  writers: BenchUser[],
  opts: ReconnectOptions,
  live?: Live,
): Promise<ReconnectResult> {
  const M = opts.clients;
  if (M > users.length * writers.length) throw new Error('reconnect: clients must be <= users × writers');
  const nodes = opts.wsUrls.length;
  const pool = new AddressPool(5000, 200);
  const clients: Client[] = Array.from({ length: M }, (_, k) => ({
    user: users[k % users.length]!,
    writer: writers[Math.floor(k / users.length) % writers.length]!,
    node: k % nodes,
    address: pool.addressFor(k),
    expected: 0,
  }));
  const errors: Record<string, number> = {};
  const fail = (stage: string, err: unknown) => {
    const k = errorKey(stage, err);
    errors[k] = (errors[k] ?? 0) + 1;
  };
  const url = (c: Client) =>
    `${opts.wsUrls[c.node]}/dialog/${encodeURIComponent(c.writer.login)}/ws?token=${encodeURIComponent(c.user.token)}`;

  if (opts.beforeConnect) {
    setPhase(live, 'preparing dialogs', 1);
    await opts.beforeConnect(clients.map((c) => ({ user: c.user.login, writer: c.writer.login })));
  }

  // Setup: every client connected.
  let setupRetries = 0;
  const t0 = nowMs();
  setPhase(live, 'connecting', M);
  await mapLimit(M, opts.setupConcurrency ?? 200, async (k) => {
    const c = clients[k]!;
    c.ws = await retrying(
      () => openSocket(url(c), { localAddress: c.address, timeoutMs: 30_000 }),
      4,
      () => setupRetries++,
    );
    if (live) live.done++;
  });
  const setupMs = nowMs() - t0;

  // Everyone drops at once (no close handshake, as when a network path fails).
  setPhase(live, 'dropping', 1);
  for (const c of clients) c.ws?.terminate();
  await sleep(2000);

  // While they are away, each writer puts one message into each of its dialogs.
  setPhase(live, 'writing missed messages', M);
  const g0 = nowMs();
  await Promise.all(
    writers.map(async (w, wi) => {
      const mine = clients.filter((c) => c.writer === w);
      const ws = await openSocket(`${opts.wsUrls[wi % nodes]}/chats/ws?token=${encodeURIComponent(w.token)}`);
      const waiting = new Map<string, Client>();
      let resolveDone: () => void = () => {};
      const done = new Promise<void>((r) => (resolveDone = r));
      let next = 0;
      const inFlight = 100;
      const pump = () => {
        while (next < mine.length && waiting.size < inFlight) {
          const c = mine[next++]!;
          const clientId = `00000000-0000-4000-8000-${(wi * 1_000_000 + next).toString(16).padStart(12, '0')}`;
          waiting.set(clientId, c);
          ws.send(
            JSON.stringify({
              type: 'send_message',
              payload: {
                text: `missed ${c.user.login}`,
                client_id: clientId,
                chat: { type: 'dialog', id: c.user.login },
              },
            }),
          );
        }
        if (next >= mine.length && waiting.size === 0) resolveDone();
      };
      ws.on('message', (data: Buffer) => {
        const ev = JSON.parse(data.toString()) as {
          type: string;
          payload: { client_id?: string; id?: number; code?: string };
        };
        const c = ev.payload.client_id ? waiting.get(ev.payload.client_id) : undefined;
        if (!c) return;
        waiting.delete(ev.payload.client_id!);
        if (ev.type === 'new_message') c.expected = ev.payload.id ?? 0;
        else fail('writing missed messages', new Error(`rejected: ${ev.payload.code}`));
        if (live) live.done++;
        pump();
      });
      pump();
      await done;
      ws.close();
    }),
  );
  const gapWriteMs = nowMs() - g0;
  if (opts.beforeStorm) {
    setPhase(live, 'before the storm', 1);
    await opts.beforeStorm();
  }

  // The storm: all reconnect at the same moment and catch up.
  const agents = opts.httpUrls.map(
    () => new http.Agent({ keepAlive: true, maxSockets: opts.httpSockets ?? 256 }),
  );
  const catchUp = new Histogram();
  const connectH = new Histogram();
  const historyH = new Histogram();
  let caughtUp = 0;
  let retries = 0;
  let last = 0;
  const maxRetries = opts.retries ?? 3;
  const deadline = nowMs() + (opts.timeoutMs ?? 60_000);
  setPhase(live, 'storm', M);
  opts.onMeasure?.('start');
  const tcpBefore = tcpCounters();
  const start = nowMs();
  const one = async (c: Client): Promise<void> => {
    for (let attempt = 0; attempt <= maxRetries; attempt++) {
      if (attempt > 0) {
        retries++;
        await sleep(250 * 2 ** attempt * (0.5 + Math.random()));
      }
      const left = deadline - nowMs();
      if (left <= 0) break;
      let stage = 'connect';
      try {
        const c0 = nowMs();
        c.ws = await openSocket(url(c), { localAddress: c.address, timeoutMs: Math.min(30_000, left) });
        connectH.recordMs(nowMs() - c0);
        stage = 'history';
        const h0 = nowMs();
        const res = await request(
          'GET',
          `${opts.httpUrls[c.node]}/dialog/${encodeURIComponent(c.writer.login)}?after=${c.expected - 1}`,
          {
            token: c.user.token,
            agent: agents[c.node],
            localAddress: c.address,
            timeoutMs: Math.max(1, Math.min(30_000, deadline - nowMs())),
          },
        );
        historyH.recordMs(nowMs() - h0);
        if (res.status !== 200) throw new Error(`status ${res.status}`);
        const messages = JSON.parse(res.text) as { id: number }[];
        if (!messages.some((m) => m.id === c.expected)) throw new Error('missed message not in history');
        const t = nowMs() - start;
        catchUp.recordMs(t);
        last = Math.max(last, t);
        caughtUp++;
        if (live) live.done++;
        return;
      } catch (err) {
        fail(stage, err);
        c.ws?.terminate();
      }
    }
  };
  // Every attempt is bounded by the deadline; the race only guards against a stuck socket.
  await Promise.race([Promise.all(clients.map(one)), sleep(deadline - nowMs() + 5000)]);
  const failed = M - caughtUp;
  const allCaughtUpMs = failed === 0 ? last : nowMs() - start;
  opts.onMeasure?.('end');
  const tcpAfter = tcpCounters();
  const tcp =
    tcpBefore && tcpAfter
      ? {
          listenOverflows: tcpAfter.listenOverflows - tcpBefore.listenOverflows,
          synRetransmits: tcpAfter.synRetransmits - tcpBefore.synRetransmits,
        }
      : null;

  for (const c of clients) c.ws?.close();
  for (const a of agents) a.destroy();
  return {
    clients: M,
    writers: writers.length,
    caughtUp,
    failed,
    retries,
    errors,
    allCaughtUpMs,
    catchUp: catchUp.toJSON(),
    connect: connectH.toJSON(),
    history: historyH.toJSON(),
    setupMs,
    setupRetries,
    tcp,
    gapWriteMs,
  };
}
