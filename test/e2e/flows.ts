/**
 * Careful senders for the failover and fencing tests: each `Flow` is one
 * dialog whose sender retries every unacknowledged send with its client_id,
 * as a real client would, and whose receiver listens on another gateway;
 * `verify` checks the guarantees once traffic settled. Also the Redis
 * look-ups those tests use (live shards, lease holders) and metric reads.
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import type { Redis } from 'ioredis';
import type { ShardInfo } from '../../shards/index.js';
import { api, type Session, type WsClient } from '../harness/index.js';
import { assertIncreasing, dialog, historyAfter, messagesOf, sleep, waitFor } from './realtime.js';

/** A send without an ack after this long is sent again with the same client_id. */
export const RETRY_AFTER_MS = 1000;
/** Each sender sends one new message per tick while traffic is on. */
export const TICK_MS = 50;
export const SETTLE_MS = 30_000;

export interface Pair {
  sender: Session;
  receiver: Session;
  chatId: string;
}

interface Sent {
  clientId: string;
  text: string;
  firstAt: number;
  lastAt: number;
}

interface Ack {
  id: number;
  text: string;
  /** When the first ack arrived, and when the message was first sent. */
  at: number;
  firstAt: number;
}

/** One sender and its receiver, acting like a careful client: every send is retried until acknowledged. */
export class Flow {
  readonly pending = new Map<string, Sent>();
  readonly acks = new Map<string, Ack>();
  readonly errors = new Map<string, number>();
  /** Re-acks that named a different id than the first ack, or ids acked for two sends (must stay empty). */
  readonly conflicts: string[] = [];
  /** id → client_id of its first ack. */
  private readonly ackedIds = new Map<number, string>();
  /** Acknowledged sends sent again on purpose, and whether the repeat was acknowledged. */
  readonly replayed = new Map<string, boolean>();
  private seq = 0;

  constructor(
    readonly name: string,
    readonly pair: Pair,
    readonly senderWs: WsClient,
    readonly receiverWs: WsClient,
  ) {
    senderWs.socket.on('message', (data) => this.onFrame(String(data)));
  }

  private onFrame(raw: string): void {
    const event = JSON.parse(raw) as { type: string; payload: Record<string, unknown> };
    const clientId = event.payload.client_id;
    if (typeof clientId !== 'string') return;
    const now = Date.now();
    if (event.type === 'new_message') {
      const id = event.payload.id as number;
      const first = this.acks.get(clientId);
      if (first && first.id !== id) this.conflicts.push(`${clientId}: acked as ${first.id} and ${id}`);
      const owner = this.ackedIds.get(id);
      if (owner === undefined) this.ackedIds.set(id, clientId);
      else if (owner !== clientId) this.conflicts.push(`id ${id} acked for ${owner} and ${clientId}`);
      if (first && this.replayed.has(clientId)) this.replayed.set(clientId, true);
      const sent = this.pending.get(clientId);
      if (!first && sent) this.acks.set(clientId, { id, text: sent.text, at: now, firstAt: sent.firstAt });
      this.pending.delete(clientId);
    } else if (event.type === 'error') {
      const code = String(event.payload.code);
      this.errors.set(code, (this.errors.get(code) ?? 0) + 1);
      const sent = this.pending.get(clientId);
      if (sent) sent.lastAt = 0; // retried at the next tick
    }
  }

  private transmit(s: Sent): void {
    this.senderWs.send({ type: 'send_message', payload: { text: s.text, client_id: s.clientId } });
  }

  sendNew(now: number): void {
    const clientId = `${this.name}-${++this.seq}-${crypto.randomBytes(4).toString('hex')}`;
    const s = { clientId, text: `m ${clientId}`, firstAt: now, lastAt: now };
    this.pending.set(clientId, s);
    this.transmit(s);
  }

  /** Sends already acknowledged messages again, as a client that lost the acks would. */
  replay(clientIds: string[]): void {
    for (const clientId of clientIds) {
      this.replayed.set(clientId, false);
      this.senderWs.send({
        type: 'send_message',
        payload: { text: this.acks.get(clientId)!.text, client_id: clientId },
      });
    }
  }

  retryStale(now: number): void {
    for (const s of this.pending.values()) {
      if (now - s.lastAt < RETRY_AFTER_MS) continue;
      s.lastAt = now;
      this.transmit(s);
    }
  }

  /** Ack arrival times, oldest first. */
  ackTimes(): number[] {
    return [...this.acks.values()].map((a) => a.at).sort((a, b) => a - b);
  }
}

/** Runs traffic on every flow until `run` resolves, then until every send is acknowledged. */
export async function withTraffic(flows: Flow[], run: () => Promise<void>): Promise<void> {
  let generating = true;
  const timer = setInterval(() => {
    const now = Date.now();
    for (const f of flows) {
      if (generating) f.sendNew(now);
      f.retryStale(now);
    }
  }, TICK_MS);
  try {
    await run();
    generating = false;
    await waitFor(
      () => flows.every((f) => f.pending.size === 0),
      SETTLE_MS,
      () =>
        `every send to be acknowledged (${flows.map((f) => `${f.name}: ${f.pending.size} pending`).join(', ')})`,
    );
  } finally {
    clearInterval(timer);
  }
}

/** The longest time between two consecutive acks of a flow after `from`. */
export function longestGap(flow: Flow, from: number): number {
  const times = [from, ...flow.ackTimes().filter((t) => t >= from)];
  let gap = 0;
  for (let i = 1; i < times.length; i++) gap = Math.max(gap, times[i]! - times[i - 1]!);
  return gap;
}

/** Time from `at` to the first ack of a message first sent after `at`. */
export function resumedAfter(flow: Flow, at: number): number {
  const after = [...flow.acks.values()].filter((a) => a.firstAt > at).map((a) => a.at);
  assert.ok(after.length > 0, `${flow.name}: some message sent after the event was acknowledged`);
  return Math.min(...after) - at;
}

/**
 * The guarantees after the traffic settled: history holds every acknowledged
 * message under its acknowledged id, each client_id once, ids strictly
 * increasing; the receiver socket got exactly the history, in order.
 */
export async function verify(flow: Flow, baseUrl: string, already: ReadonlySet<string>): Promise<void> {
  assert.deepEqual(flow.conflicts, [], `${flow.name}: a client_id was acknowledged with two ids`);
  const history = await historyAfter(api(baseUrl), flow.pair.receiver, `/dialog/${flow.pair.sender.login}`);
  const ids = history.map((m) => m.id);
  assertIncreasing(ids, `${flow.name} history`);
  const byText = new Map<string, number>();
  for (const m of history) {
    assert.equal(
      byText.has(m.text),
      false,
      `${flow.name}: "${m.text}" is stored twice (ids ${byText.get(m.text)}, ${m.id})`,
    );
    byText.set(m.text, m.id);
  }
  for (const [clientId, ack] of flow.acks) {
    assert.equal(
      byText.get(ack.text),
      ack.id,
      `${flow.name}: acknowledged ${clientId} (id ${ack.id}) is in history`,
    );
  }
  const ours = history.filter((m) => !already.has(m.text));
  assert.equal(ours.length, flow.acks.size, `${flow.name}: history holds exactly the acknowledged messages`);

  const chat = dialog(flow.pair.sender.login);
  await waitFor(
    () => messagesOf(flow.receiverWs, chat).length >= history.length - already.size,
    SETTLE_MS,
    () =>
      `${flow.name}: receiver to get ${history.length - already.size} messages (has ${messagesOf(flow.receiverWs, chat).length})`,
  );
  await sleep(500);
  const received = messagesOf(flow.receiverWs, chat).map((e) => e.payload.id as number);
  assert.deepEqual(
    received,
    ids.slice(ids.length - received.length),
    `${flow.name}: the receiver got every message once, in id order`,
  );
  assert.equal(received.length, ours.length, `${flow.name}: the receiver got every new message`);
}

export async function liveShards(redis: Redis, prefix: string): Promise<ShardInfo[]> {
  const members = await redis.zrangebyscore(`${prefix}shards`, Date.now(), '+inf');
  return members.map((m) => ({ id: m.slice(0, m.indexOf('|')), address: m.slice(m.indexOf('|') + 1) }));
}

export async function leaseHolder(redis: Redis, prefix: string, chatId: string): Promise<string | null> {
  const token = await redis.get(`${prefix}lease:${chatId}`);
  return token ? token.slice(0, token.indexOf(':')) : null;
}

export async function metric(url: string, name: string, label: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const re = new RegExp(`^${name}\\{[^}]*${label}[^}]*\\} (\\d+)`, 'm');
  return Number(re.exec(text)?.[1] ?? 0);
}
