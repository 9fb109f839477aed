/**
 * Dialog throughput and latency: N dialog pairs, each a sender socket on node
 * 0 and a receiver socket on node 1, so every message crosses gateways.
 *
 * - saturate: every pair keeps `window` messages in flight (sent, not yet both
 *   acknowledged and delivered) for the duration; measures the most the system
 *   delivers.
 * - rate: an open-loop schedule of `rate` messages/s over all pairs; latency
 *   is measured from each message's scheduled send time, so a stall shows up
 *   in the percentiles instead of silently slowing the generator down.
 *
 * Before measuring, the same load runs for `warmupMs` uncounted: one message per
 * pair activates the chats, but only sustained traffic brings every process to
 * its steady state (optimized code, grown buffers and caches), and a
 * measurement that starts cold reports the warm-up in its tail.
 *
 * End-to-end latency is send → the receiver's `new_message`; ack latency is
 * send → the sender's own `new_message` with its client_id. After the last
 * send the scenario waits up to `graceMs` for stragglers, then counts as lost
 * every acknowledged message that never reached the receiver, and as
 * duplicated every second delivery of one message on one socket.
 */
import crypto from 'node:crypto';
import { Histogram, type HistogramJSON } from '../lib/histogram.js';
import { mapLimit, retrying } from '../lib/http.js';
import { setPhase, type Live } from '../lib/live.js';
import { OpenLoopSchedule, driveSchedule, nowMs } from '../lib/schedule.js';
import { SeqStore } from '../lib/seqstore.js';
import { Timeline } from '../lib/timeline.js';
import {
  ClientIds,
  messageText,
  textSeq,
  type BenchUser,
  type ChatSocket,
  type ChatSocketHandlers,
  type Transport,
} from '../lib/transport.js';

export interface DialogOptions {
  mode: 'saturate' | 'rate';
  /** In-flight messages per pair (saturate). @default 8 */
  window?: number;
  /** Total messages per second over all pairs (rate). */
  rate?: number;
  durationMs: number;
  /** The same load, uncounted, before the measurement (lost messages still count). @default 3000 */
  warmupMs?: number;
  /** Wait for outstanding acks and deliveries after the last send. @default 5000 */
  graceMs?: number;
  /** Message text length in characters. @default 64 */
  size?: number;
  /** Parallel socket opens. @default 50 */
  connectConcurrency?: number;
  /** Called when the measurement starts ('start', after the warm-up load) and when sending stops, before the drain ('end'). */
  onMeasure?: (phase: 'start' | 'end') => void;
  /**
   * Called after the warm-up; resolves with the time (nowMs clock) at which
   * sending starts. Lets several processes start together. Default: now.
   */
  ready?: () => Promise<number>;
}

/** Serializable result of one dialog run (or of one process's share of it). */
export interface DialogResult {
  mode: 'saturate' | 'rate';
  pairs: number;
  durationMs: number;
  sent: number;
  acked: number;
  delivered: number;
  /** Acknowledged but not delivered within the grace period. */
  lost: number;
  /** Sent but neither acknowledged nor rejected within the grace period. */
  unacked: number;
  duplicates: number;
  duplicateAcks: number;
  outOfOrder: number;
  /** `error` events by code. */
  errors: Record<string, number>;
  /** Other events received (user_status, message_status, ...), by type. */
  otherEvents: Record<string, number>;
  /** Sockets closed by the server during the run. */
  closed: number;
  /** Deliveries within the measured window (after the warm-up, until sending stops) per second. */
  deliveredPerSec: number;
  ackedPerSec: number;
  e2e: HistogramJSON;
  ack: HistogramJSON;
  /** Per-second counts from the start of sending. */
  timeline: { slotMs: number; sent: number[]; delivered: number[] };
  /** The generator's own lag behind its schedule (rate mode). */
  maxLagMs: number;
  connectMs: number;
  /** Failed socket opens retried while connecting (before measuring). */
  setupRetries: number;
}

interface Pair {
  index: number;
  sender: ChatSocket;
  receiver: ChatSocket;
  inFlight: number;
  lastId: number;
}

/**
 * Runs the dialog scenario over `senders[i]` → `receivers[i]` pairs.
 * `live` is updated for progress display.
 */
export async function runDialog(
  transport: Transport,
  senders: BenchUser[],
  receivers: BenchUser[],
  opts: DialogOptions,
  live?: Live,
): Promise<DialogResult> {
  const n = Math.min(senders.length, receivers.length);
  if (n === 0) throw new Error('dialog scenario needs at least one pair');
  const window = opts.window ?? 8;
  const size = opts.size ?? 64;
  const graceMs = opts.graceMs ?? 5000;
  const ids = new ClientIds(crypto.randomBytes(4).toString('hex'));
  const store = new SeqStore();
  const e2e = new Histogram();
  const ackH = new Histogram();
  const errors: Record<string, number> = {};
  /** Events other than new_message and error received by the scenario's sockets, by type. */
  const otherEvents: Record<string, number> = {};
  const onOther = (type: string) => {
    otherEvents[type] = (otherEvents[type] ?? 0) + 1;
  };
  let duplicates = 0;
  let duplicateAcks = 0;
  let outOfOrder = 0;
  let closed = 0;
  let closing = false;
  let measuredFrom = Number.POSITIVE_INFINITY;
  let sendingUntil = Number.POSITIVE_INFINITY;
  let sending = false;
  let nextSeq = 0;
  let counted = { sent: 0, acked: 0, delivered: 0 };
  let timelineSent = new Timeline(Number.POSITIVE_INFINITY);
  let timelineDelivered = new Timeline(Number.POSITIVE_INFINITY);
  const pairs: Pair[] = [];
  let onRelease: (p: Pair) => void = () => {};

  const release = (seq: number, p: Pair): void => {
    const f = store.flags[seq]!;
    if (f & SeqStore.RELEASED) return;
    if (f & SeqStore.FAILED || (f & SeqStore.ACKED && f & SeqStore.DELIVERED)) {
      store.flags[seq] = f | SeqStore.RELEASED;
      p.inFlight--;
      onRelease(p);
    }
  };

  const send = (p: Pair, refMs: number): void => {
    const seq = nextSeq++;
    store.add(seq, refMs, p.index);
    p.inFlight++;
    p.sender.send(messageText(seq, refMs, size), ids.make(seq));
    if (refMs >= measuredFrom) {
      counted.sent++;
      timelineSent.add(refMs);
    }
  };

  let setupRetries = 0;
  const t0 = nowMs();
  setPhase(live, 'connecting', n);
  await mapLimit(n, opts.connectConcurrency ?? 50, async (i) => {
    const pair = { index: i, inFlight: 0, lastId: 0 } as Pair;
    const onClose = () => {
      if (!closing) closed++;
    };
    const onError = (code: string, clientId: string | undefined) => {
      errors[code] = (errors[code] ?? 0) + 1;
      const seq = ids.parse(clientId);
      if (store.has(seq)) {
        store.flags[seq]! |= SeqStore.FAILED;
        release(seq, pair);
      }
    };
    const senderHandlers: ChatSocketHandlers = {
      onMessage(ev) {
        const seq = ids.parse(ev.clientId);
        if (!store.has(seq)) return;
        const now = nowMs();
        if (store.flags[seq]! & SeqStore.ACKED) {
          duplicateAcks++;
          return;
        }
        store.flags[seq]! |= SeqStore.ACKED;
        store.ackAt[seq] = now;
        if (store.sendAt[seq]! >= measuredFrom) {
          ackH.recordMs(now - store.sendAt[seq]!);
          counted.acked++;
        }
        release(seq, pair);
      },
      onError,
      onClose,
      onOther,
    };
    const receiverHandlers: ChatSocketHandlers = {
      onMessage(ev) {
        const seq = textSeq(ev.text);
        if (!store.has(seq)) return;
        const now = nowMs();
        if (store.flags[seq]! & SeqStore.DELIVERED) {
          duplicates++;
          return;
        }
        if (ev.id <= pair.lastId) outOfOrder++;
        else pair.lastId = ev.id;
        store.flags[seq]! |= SeqStore.DELIVERED;
        store.deliverAt[seq] = now;
        const sentAt = store.sendAt[seq]!;
        if (sentAt >= measuredFrom) {
          e2e.recordMs(now - sentAt);
          counted.delivered++;
          timelineDelivered.add(now);
        }
        release(seq, pair);
      },
      onError,
      onClose,
      onOther,
    };
    const retry = () => setupRetries++;
    pair.sender = await retrying(
      () => transport.openDialog(senders[i]!, receivers[i]!.login, 0, senderHandlers),
      4,
      retry,
    );
    pair.receiver = await retrying(
      () => transport.openDialog(receivers[i]!, senders[i]!.login, 1, receiverHandlers),
      4,
      retry,
    );
    pairs[i] = pair;
    if (live) live.done++;
  });
  const connectMs = nowMs() - t0;

  // Warm-up: one message per pair activates every chat before measuring.
  setPhase(live, 'warm-up', n);
  await new Promise<void>((resolve, reject) => {
    let left = n;
    const timer = setTimeout(() => {
      let acked = 0;
      let delivered = 0;
      for (let seq = 0; seq < n; seq++) {
        if (store.flags[seq]! & SeqStore.ACKED) acked++;
        if (store.flags[seq]! & SeqStore.DELIVERED) delivered++;
      }
      reject(
        new Error(
          `warm-up: ${left} of ${n} pairs unfinished after 30 s (${acked} acknowledged, ${delivered} delivered, errors ${JSON.stringify(errors)}, ${closed} sockets closed by the server)`,
        ),
      );
    }, 30_000);
    onRelease = () => {
      if (live) live.done++;
      if (--left === 0) {
        clearTimeout(timer);
        resolve();
      }
    };
    for (const p of pairs) send(p, nowMs());
  });
  counted = { sent: 0, acked: 0, delivered: 0 };

  const start = opts.ready ? await opts.ready() : nowMs() + 20;
  const warmupMs = opts.warmupMs ?? 3000;
  measuredFrom = start + warmupMs;
  sendingUntil = measuredFrom + opts.durationMs;
  const measuring = setTimeout(() => opts.onMeasure?.('start'), Math.max(0, measuredFrom - nowMs()));
  timelineSent = new Timeline(measuredFrom);
  timelineDelivered = new Timeline(measuredFrom);
  setPhase(live, opts.mode, warmupMs + opts.durationMs);
  const progress = setInterval(() => {
    if (live) {
      live.done = Math.min(warmupMs + opts.durationMs, nowMs() - start);
      live.note = nowMs() < measuredFrom ? 'warming up' : `${counted.delivered} delivered`;
    }
  }, 250);
  let maxLagMs = 0;

  if (opts.mode === 'saturate') {
    sending = true;
    onRelease = (p) => {
      if (sending && nowMs() < sendingUntil) {
        while (p.inFlight < window) send(p, nowMs());
      }
    };
    await new Promise((r) => setTimeout(r, Math.max(0, start - nowMs())));
    for (const p of pairs) while (p.inFlight < window) send(p, nowMs());
    await new Promise((r) => setTimeout(r, Math.max(0, sendingUntil - nowMs())));
    sending = false;
  } else {
    const rate = opts.rate ?? 1000;
    onRelease = () => {};
    const schedule = new OpenLoopSchedule(rate, start, warmupMs + opts.durationMs);
    const r = await driveSchedule(schedule, {
      clock: nowMs,
      send: (k, at) => send(pairs[OpenLoopSchedule.senderOf(k, n)]!, at),
    });
    maxLagMs = r.maxLagMs;
  }

  // Drain: wait for every outstanding message, up to the grace period.
  clearTimeout(measuring);
  opts.onMeasure?.('end');
  setPhase(live, 'draining');
  const outstanding = () => pairs.reduce((s, p) => s + p.inFlight, 0);
  const drainUntil = nowMs() + graceMs;
  while (outstanding() > 0 && nowMs() < drainUntil) await new Promise((r) => setTimeout(r, 20));
  clearInterval(progress);
  closing = true;
  for (const p of pairs) {
    p.sender.close();
    p.receiver.close();
  }

  let lost = 0;
  let unacked = 0;
  let deliveredInWindow = 0;
  let ackedInWindow = 0;
  for (let seq = 0; seq < store.size; seq++) {
    const sentAt = store.sendAt[seq]!;
    if (sentAt < start) continue;
    const f = store.flags[seq]!;
    // Losses count from the warm-up on; rates over the measurement only.
    if (f & SeqStore.ACKED && !(f & SeqStore.DELIVERED)) lost++;
    if (!(f & SeqStore.ACKED) && !(f & SeqStore.FAILED)) unacked++;
    const deliveredAt = store.deliverAt[seq]!;
    const ackedAt = store.ackAt[seq]!;
    if (f & SeqStore.DELIVERED && deliveredAt >= measuredFrom && deliveredAt <= sendingUntil)
      deliveredInWindow++;
    if (f & SeqStore.ACKED && ackedAt >= measuredFrom && ackedAt <= sendingUntil) ackedInWindow++;
  }
  const seconds = opts.durationMs / 1000;
  return {
    mode: opts.mode,
    pairs: n,
    durationMs: opts.durationMs,
    sent: counted.sent,
    acked: counted.acked,
    delivered: counted.delivered,
    lost,
    unacked,
    duplicates,
    duplicateAcks,
    outOfOrder,
    errors,
    otherEvents,
    closed,
    deliveredPerSec: deliveredInWindow / seconds,
    ackedPerSec: ackedInWindow / seconds,
    e2e: e2e.toJSON(),
    ack: ackH.toJSON(),
    timeline: { slotMs: 1000, sent: timelineSent.counts(), delivered: timelineDelivered.counts() },
    maxLagMs,
    connectMs,
    setupRetries,
  };
}

/** Combines the results of several processes that each ran a share of the pairs. */
export function mergeDialog(parts: DialogResult[]): DialogResult {
  const first = parts[0];
  if (!first) throw new Error('nothing to merge');
  const e2e = new Histogram();
  const ack = new Histogram();
  const errors: Record<string, number> = {};
  const otherEvents: Record<string, number> = {};
  const sum = (f: (r: DialogResult) => number) => parts.reduce((s, r) => s + f(r), 0);
  for (const r of parts) {
    for (const [k, v] of Object.entries(r.otherEvents)) otherEvents[k] = (otherEvents[k] ?? 0) + v;
    e2e.merge(Histogram.fromJSON(r.e2e));
    ack.merge(Histogram.fromJSON(r.ack));
    for (const [k, v] of Object.entries(r.errors)) errors[k] = (errors[k] ?? 0) + v;
  }
  return {
    mode: first.mode,
    pairs: sum((r) => r.pairs),
    durationMs: first.durationMs,
    sent: sum((r) => r.sent),
    acked: sum((r) => r.acked),
    delivered: sum((r) => r.delivered),
    lost: sum((r) => r.lost),
    unacked: sum((r) => r.unacked),
    duplicates: sum((r) => r.duplicates),
    duplicateAcks: sum((r) => r.duplicateAcks),
    outOfOrder: sum((r) => r.outOfOrder),
    errors,
    otherEvents,
    closed: sum((r) => r.closed),
    deliveredPerSec: sum((r) => r.deliveredPerSec),
    ackedPerSec: sum((r) => r.ackedPerSec),
    e2e: e2e.toJSON(),
    ack: ack.toJSON(),
    timeline: {
      slotMs: first.timeline.slotMs,
      sent: Timeline.sumCounts(parts.map((r) => r.timeline.sent)),
      delivered: Timeline.sumCounts(parts.map((r) => r.timeline.delivered)),
    },
    maxLagMs: Math.max(...parts.map((r) => r.maxLagMs)),
    connectMs: Math.max(...parts.map((r) => r.connectMs)),
    setupRetries: sum((r) => r.setupRetries),
  };
}
