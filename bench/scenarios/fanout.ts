/**
 * Group fan-out: one group whose members are all online, spread over the
 * nodes, and one sender. Measures deliveries per second and, for each
 * message, the time until the last member has it ("last member" latency),
 * besides the latency of every single delivery.
 *
 * - saturate: `window` messages in flight (sent and not yet received by every
 *   member) for the duration;
 * - rate: an open-loop schedule of `rate` messages/s, latencies measured from
 *   the scheduled send times.
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

export interface FanoutOptions {
  mode: 'saturate' | 'rate';
  /** Messages in flight (saturate). @default 16 */
  window?: number;
  /** Messages per second (rate). @default 100 */
  rate?: number;
  durationMs: number;
  /** @default 5000 */
  graceMs?: number;
  /** How long the first message may take to reach every member. @default 60000 */
  warmupMs?: number;
  /** @default 64 */
  size?: number;
  /** Parallel socket opens. @default 100 */
  connectConcurrency?: number;
  /** Called when sending starts ('start') and when it stops, before the drain ('end'). */
  onMeasure?: (phase: 'start' | 'end') => void;
}

export interface FanoutResult {
  mode: 'saturate' | 'rate';
  /** Group members including the sender. */
  members: number;
  durationMs: number;
  sent: number;
  acked: number;
  /** new_message events received by members other than the sender. */
  deliveries: number;
  /** Messages every member received. */
  complete: number;
  /** Acknowledged messages that some member never received within the grace period. */
  incomplete: number;
  /** Member deliveries missing from incomplete messages. */
  missingDeliveries: number;
  duplicates: number;
  outOfOrder: number;
  errors: Record<string, number>;
  /** Other events received (user_status, message_status, ...), by type, over the whole run. */
  otherEvents: Record<string, number>;
  /** The part of `otherEvents` received while sending was measured (from the start to the end of sending). */
  otherEventsMeasured: Record<string, number>;
  closed: number;
  deliveriesPerSec: number;
  messagesPerSec: number;
  /** Latency of every delivery. */
  delivery: HistogramJSON;
  /** Per message: send → the last member has it. */
  lastMember: HistogramJSON;
  ack: HistogramJSON;
  timeline: { slotMs: number; sent: number[]; delivered: number[] };
  maxLagMs: number;
  connectMs: number;
  /** Failed socket opens retried while connecting (before measuring). */
  setupRetries: number;
}

/** Bit set of sequence numbers seen by one socket. */
class SeenSet {
  private bits = new Uint8Array(1024);
  /** True when `seq` was already set. */
  testAndSet(seq: number): boolean {
    const byte = seq >> 3;
    if (byte >= this.bits.length) {
      let n = this.bits.length;
      while (n <= byte) n *= 2;
      const b = new Uint8Array(n);
      b.set(this.bits);
      this.bits = b;
    }
    const mask = 1 << (seq & 7);
    const had = (this.bits[byte]! & mask) !== 0;
    this.bits[byte]! |= mask;
    return had;
  }
}

/** Runs the fan-out scenario: `members[0]` creates the group and sends; everyone else receives. */
export async function runFanout(
  transport: Transport,
  members: BenchUser[],
  opts: FanoutOptions,
  live?: Live,
): Promise<FanoutResult> {
  const sender = members[0];
  const receivers = members.slice(1);
  if (!sender || receivers.length === 0) throw new Error('fan-out needs a sender and at least one receiver');
  const R = receivers.length;
  const window = opts.window ?? 16;
  const size = opts.size ?? 64;
  const graceMs = opts.graceMs ?? 5000;
  const ids = new ClientIds(crypto.randomBytes(4).toString('hex'));
  const store = new SeqStore();
  let recvCount = new Int32Array(1024);
  const deliveryH = new Histogram();
  const lastH = new Histogram();
  const ackH = new Histogram();
  const errors: Record<string, number> = {};
  /** Events other than new_message and error received by the scenario's sockets, by type. */
  const otherEvents: Record<string, number> = {};
  const otherEventsMeasured: Record<string, number> = {};
  const onOther = (type: string) => {
    otherEvents[type] = (otherEvents[type] ?? 0) + 1;
    const now = nowMs();
    if (now >= measuredFrom && now < sendingUntil)
      otherEventsMeasured[type] = (otherEventsMeasured[type] ?? 0) + 1;
  };
  let duplicates = 0;
  let outOfOrder = 0;
  let closed = 0;
  let closing = false;
  let measuredFrom = Number.POSITIVE_INFINITY;
  let sendingUntil = Number.POSITIVE_INFINITY;
  let nextSeq = 0;
  let inFlight = 0;
  let deliveries = 0;
  let sent = 0;
  let acked = 0;
  let timelineSent = new Timeline(Number.POSITIVE_INFINITY);
  let timelineDelivered = new Timeline(Number.POSITIVE_INFINITY);
  let onRelease: () => void = () => {};

  const release = (seq: number): void => {
    const f = store.flags[seq]!;
    if (f & SeqStore.RELEASED) return;
    if (f & SeqStore.FAILED || (f & SeqStore.ACKED && f & SeqStore.DELIVERED)) {
      store.flags[seq] = f | SeqStore.RELEASED;
      inFlight--;
      onRelease();
    }
  };

  let senderSocket: ChatSocket | undefined = undefined;
  const send = (refMs: number): void => {
    const seq = nextSeq++;
    store.add(seq, refMs, 0);
    if (seq >= recvCount.length) {
      const b = new Int32Array(recvCount.length * 2);
      b.set(recvCount);
      recvCount = b;
    }
    inFlight++;
    senderSocket!.send(messageText(seq, refMs, size), ids.make(seq));
    if (refMs >= measuredFrom) {
      sent++;
      timelineSent.add(refMs);
    }
  };

  const t0 = nowMs();
  setPhase(live, 'creating group', 1);
  const groupId = await transport.createGroup(sender, receivers);
  const onClose = () => {
    if (!closing) closed++;
  };
  const onError = (code: string, clientId: string | undefined) => {
    errors[code] = (errors[code] ?? 0) + 1;
    const seq = ids.parse(clientId);
    if (store.has(seq)) {
      store.flags[seq]! |= SeqStore.FAILED;
      release(seq);
    }
  };

  let setupRetries = 0;
  setPhase(live, 'connecting', members.length);
  const sockets = await mapLimit(R, opts.connectConcurrency ?? 100, async (i) => {
    const seen = new SeenSet();
    let lastId = 0;
    const handlers: ChatSocketHandlers = {
      onMessage(ev) {
        const seq = textSeq(ev.text);
        if (!store.has(seq)) return;
        if (seen.testAndSet(seq)) {
          duplicates++;
          return;
        }
        if (ev.id <= lastId) outOfOrder++;
        else lastId = ev.id;
        const now = nowMs();
        const sentAt = store.sendAt[seq]!;
        const measured = sentAt >= measuredFrom;
        if (measured) {
          deliveries++;
          deliveryH.recordMs(now - sentAt);
          timelineDelivered.add(now);
        }
        if (++recvCount[seq]! === R) {
          store.flags[seq]! |= SeqStore.DELIVERED;
          store.deliverAt[seq] = now;
          if (measured) lastH.recordMs(now - sentAt);
          release(seq);
        }
      },
      onError,
      onClose,
      onOther,
    };
    const s = await retrying(
      () => transport.openGroup(receivers[i]!, groupId, i % transport.nodes, handlers),
      4,
      () => setupRetries++,
    );
    if (live) live.done++;
    return s;
  });
  const senderHandlers: ChatSocketHandlers = {
    onMessage(ev) {
      const seq = ids.parse(ev.clientId);
      if (!store.has(seq) || store.flags[seq]! & SeqStore.ACKED) return;
      const now = nowMs();
      store.flags[seq]! |= SeqStore.ACKED;
      store.ackAt[seq] = now;
      if (store.sendAt[seq]! >= measuredFrom) {
        acked++;
        ackH.recordMs(now - store.sendAt[seq]!);
      }
      release(seq);
    },
    onError,
    onClose,
    onOther,
  };
  senderSocket = await retrying(
    () => transport.openGroup(sender, groupId, 0, senderHandlers),
    4,
    () => setupRetries++,
  );
  const connectMs = nowMs() - t0;

  setPhase(live, 'warm-up', 1);
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () =>
        reject(
          new Error(
            `fan-out warm-up: ${recvCount[0]} of ${R} members got the first message in ${(opts.warmupMs ?? 60_000) / 1000} s` +
              ` (${closed} sockets closed, errors ${JSON.stringify(errors)})`,
          ),
        ),
      opts.warmupMs ?? 60_000,
    );
    onRelease = () => {
      clearTimeout(timer);
      resolve();
    };
    send(nowMs());
  });

  const start = nowMs() + 20;
  measuredFrom = start;
  sendingUntil = start + opts.durationMs;
  opts.onMeasure?.('start');
  timelineSent = new Timeline(start);
  timelineDelivered = new Timeline(start);
  setPhase(live, opts.mode, opts.durationMs);
  const progress = setInterval(() => {
    if (live) {
      live.done = Math.min(opts.durationMs, nowMs() - start);
      live.note = `${deliveries} deliveries`;
    }
  }, 250);
  let maxLagMs = 0;
  if (opts.mode === 'saturate') {
    let sending = true;
    onRelease = () => {
      if (sending && nowMs() < sendingUntil) while (inFlight < window) send(nowMs());
    };
    await new Promise((r) => setTimeout(r, Math.max(0, start - nowMs())));
    while (inFlight < window) send(nowMs());
    await new Promise((r) => setTimeout(r, Math.max(0, sendingUntil - nowMs())));
    sending = false;
  } else {
    onRelease = () => {};
    const schedule = new OpenLoopSchedule(opts.rate ?? 100, start, opts.durationMs);
    maxLagMs = (await driveSchedule(schedule, { clock: nowMs, send: (_k, at) => send(at) })).maxLagMs;
  }

  opts.onMeasure?.('end');
  setPhase(live, 'draining');
  const drainUntil = nowMs() + graceMs;
  while (inFlight > 0 && nowMs() < drainUntil) await new Promise((r) => setTimeout(r, 20));
  clearInterval(progress);
  closing = true;
  senderSocket.close();
  for (const s of sockets) s.close();

  let complete = 0;
  let incomplete = 0;
  let missingDeliveries = 0;
  let deliveredInWindow = 0;
  let messagesInWindow = 0;
  for (let seq = 0; seq < store.size; seq++) {
    if (store.sendAt[seq]! < start) continue;
    const f = store.flags[seq]!;
    if (f & SeqStore.DELIVERED) {
      complete++;
      if (store.deliverAt[seq]! <= sendingUntil) messagesInWindow++;
    } else if (f & SeqStore.ACKED) {
      incomplete++;
      missingDeliveries += R - recvCount[seq]!;
    }
  }
  const tl = timelineDelivered.counts();
  const fullSlots = Math.floor(opts.durationMs / 1000);
  for (let i = 0; i < Math.min(fullSlots, tl.length); i++) deliveredInWindow += tl[i]!;
  const seconds = opts.durationMs / 1000;
  return {
    mode: opts.mode,
    members: members.length,
    durationMs: opts.durationMs,
    sent,
    acked,
    deliveries,
    complete,
    incomplete,
    missingDeliveries,
    duplicates,
    outOfOrder,
    errors,
    otherEvents,
    otherEventsMeasured,
    closed,
    deliveriesPerSec: deliveredInWindow / Math.max(1, fullSlots),
    messagesPerSec: messagesInWindow / seconds,
    delivery: deliveryH.toJSON(),
    lastMember: lastH.toJSON(),
    ack: ackH.toJSON(),
    timeline: { slotMs: 1000, sent: timelineSent.counts(), delivered: tl },
    maxLagMs,
    connectMs,
    setupRetries,
  };
}
