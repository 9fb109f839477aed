/**
 * Chaos under load: 2 gateways, 3 shards, relay, presence and Redis (AOF on),
 * with clients sending steadily to dialogs and a private group. One at a time,
 * a shard, a gateway, the relay, presence and Redis are SIGKILLed and
 * restarted. Clients behave like real ones: they resend unacknowledged
 * client_ids after errors and reconnects, reconnect to any gateway, and catch
 * up with `?after=` on every reconnect. The checker then proves invariants 2,
 * 4 and 6 end to end and prints the counts and the longest unavailability
 * (longest time without any acknowledgement) during each fault.
 *
 * CHAOS_SECONDS sets the load time (default 60, the short run of `npm test`);
 * `npm run chaos` runs it longer. CHAOS_FAULTS (comma-separated names of
 * shard, gateway, relay, presence, redis) runs a subset.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import WebSocket from 'ws';
import {
  api,
  startCluster,
  uniqueLogin,
  type Cluster,
  type Session,
  type ServiceProcess,
} from '../harness/index.js';

const SECONDS = Number(process.env.CHAOS_SECONDS ?? 60);
const FAULT_NAMES = ['shard', 'gateway', 'relay', 'presence', 'redis'] as const;
const ONLY = (process.env.CHAOS_FAULTS ?? FAULT_NAMES.join(','))
  .split(',')
  .map((s) => s.trim())
  .filter(Boolean);
for (const name of ONLY) {
  if (!(FAULT_NAMES as readonly string[]).includes(name)) {
    throw new Error(`CHAOS_FAULTS: unknown fault "${name}" (known: ${FAULT_NAMES.join(', ')})`);
  }
}
const STORE = process.env.TEST_STORE === 'cassandra' ? 'Cassandra' : 'SQLite';
const SEND_INTERVAL_MS = 150;
const RESEND_AFTER_MS = 3000;
const CLIENTS = 4;

interface Chat {
  key: string;
  type: 'dialog' | 'group';
}

interface Pending {
  clientId: string;
  chat: Chat;
  sentAt: number;
}

function dialogKey(a: string, b: string): string {
  return `d:${[a, b].sort().join(':')}`;
}

class ChaosClient {
  ws: WebSocket | null = null;
  connecting = false;
  epoch = 0;
  seq = 0;
  readonly pending = new Map<string, Pending>();
  readonly acked = new Map<string, { chat: string; id: number }>();
  /** chat key → ids received (live or by catch-up), deduplicated. */
  readonly received = new Map<string, Set<number>>();
  /** chat key → highest id seen. */
  readonly highest = new Map<string, number>();
  readonly orderViolations: string[] = [];
  /** chat:status → highest id of message_status received; a lower one later means a mark went back. */
  private readonly statusHigh = new Map<string, number>();
  readonly markViolations: string[] = [];
  statusEvents = 0;
  /** epoch:chat → last live id on that socket. */
  private readonly liveCursor = new Map<string, number>();
  sent = 0;
  reconnects = 0;

  constructor(
    readonly session: Session,
    readonly chats: Chat[],
    private readonly urls: () => string[],
    private readonly peerOf: (chat: Chat) => string,
    private readonly onAck: (chat: string, at: number) => void,
  ) {}

  private ref(chat: Chat): { type: string; id: string } {
    return { type: chat.type, id: this.peerOf(chat) };
  }

  private record(chat: string, id: number): void {
    let set = this.received.get(chat);
    if (!set) this.received.set(chat, (set = new Set()));
    set.add(id);
    if (id > (this.highest.get(chat) ?? 0)) this.highest.set(chat, id);
  }

  private chatKeyOf(ref: { type: string; id: string }): string {
    return ref.type === 'group' ? `g:${ref.id}` : dialogKey(this.session.login, ref.id);
  }

  async connect(): Promise<void> {
    if (this.connecting) return;
    this.connecting = true;
    // Catch up from what this client had before the new socket opened: live events on the new socket
    // may arrive before the catch-up answers.
    const from = new Map(this.highest);
    try {
      for (let attempt = 0; ; attempt++) {
        const urls = this.urls();
        const url = urls[attempt % urls.length]!;
        const ok = await new Promise<WebSocket | null>((resolve) => {
          const ws = new WebSocket(`${url}/chats/ws`, {
            headers: { authorization: `Bearer ${this.session.token}` },
          });
          const timer = setTimeout(() => {
            ws.terminate();
            resolve(null);
          }, 5000);
          ws.once('open', () => {
            clearTimeout(timer);
            resolve(ws);
          });
          ws.once('error', () => {
            clearTimeout(timer);
            resolve(null);
          });
        });
        if (ok) {
          this.attach(ok);
          break;
        }
        await new Promise((r) => setTimeout(r, 300));
      }
      await this.catchUp(from);
      for (const p of this.pending.values()) this.transmit(p);
    } finally {
      this.connecting = false;
    }
  }

  private attach(ws: WebSocket): void {
    const epoch = ++this.epoch;
    this.ws = ws;
    ws.on('message', (data) => {
      const event = JSON.parse(String(data)) as { type: string; payload: Record<string, unknown> };
      if (event.type === 'new_message') {
        const chat = this.chatKeyOf(event.payload.chat as { type: string; id: string });
        const id = event.payload.id as number;
        const cursorKey = `${epoch}:${chat}`;
        const last = this.liveCursor.get(cursorKey) ?? 0;
        const clientId = event.payload.client_id as string | undefined;
        // A retried client_id is acknowledged again on the retrying socket, even when that socket is past
        // its id (the original ack went to a socket that has since dropped): the one event allowed to
        // carry an earlier id. Anything else out of order is a violation.
        const retryAck = !!clientId && (this.acked.has(clientId) || this.pending.has(clientId));
        if (id <= last && !retryAck)
          this.orderViolations.push(`${chat} socket ${epoch}: ${id} after ${last}`);
        if (id > last) this.liveCursor.set(cursorKey, id);
        this.record(chat, id);
        if (clientId && this.pending.has(clientId)) {
          this.pending.delete(clientId);
          this.acked.set(clientId, { chat, id });
          this.onAck(chat, Date.now());
        }
      } else if (event.type === 'message_status') {
        const chat = this.chatKeyOf(event.payload.chat as { type: string; id: string });
        const key = `${chat}:${String(event.payload.status)}`;
        const id = event.payload.id as number;
        const high = this.statusHigh.get(key) ?? 0;
        this.statusEvents++;
        if (id < high) this.markViolations.push(`${this.session.login} ${key}: ${id} after ${high}`);
        else this.statusHigh.set(key, id);
      } else if (event.type === 'error') {
        const clientId = event.payload.client_id as string | undefined;
        const p = clientId ? this.pending.get(clientId) : undefined;
        if (p) p.sentAt = 0; // resend on the next tick
      }
    });
    ws.on('close', () => {
      if (this.ws === ws) this.ws = null;
      if (!stopping) {
        this.reconnects++;
        void this.connect();
      }
    });
    ws.on('error', () => undefined);
  }

  /**
   * GET history ?after= the id this client had, for every chat, on any live gateway until one answers;
   * what it returns counts as received.
   */
  async catchUp(from: Map<string, number>): Promise<void> {
    for (const chat of this.chats) {
      let after = from.get(chat.key) ?? 0;
      for (let attempt = 0; attempt < 100;) {
        const urls = this.urls();
        const http = api(urls[attempt % urls.length]!.replace(/^ws/, 'http'));
        const path =
          chat.type === 'group'
            ? `/group/${this.peerOf(chat)}?after=${after}&limit=500`
            : `/dialog/${this.peerOf(chat)}?after=${after}&limit=500`;
        const res = await http
          .request<{ id: number }[]>('GET', path, { token: this.session.token })
          .catch(() => null);
        if (!res || res.status !== 200) {
          attempt++;
          await new Promise((r) => setTimeout(r, 200));
          continue;
        }
        for (const m of res.json!) this.record(chat.key, m.id);
        if (res.json!.length < 500) break;
        after = res.json![res.json!.length - 1]!.id;
      }
    }
  }

  private transmit(p: Pending): void {
    p.sentAt = Date.now();
    if (this.ws?.readyState !== WebSocket.OPEN) return;
    this.ws.send(
      JSON.stringify({
        type: 'send_message',
        payload: { text: p.clientId, client_id: p.clientId, chat: this.ref(p.chat) },
      }),
    );
  }

  tick(sendNew: boolean): void {
    const now = Date.now();
    for (const p of this.pending.values()) if (now - p.sentAt > RESEND_AFTER_MS) this.transmit(p);
    // Now and then, mark everything received as read, as a client showing the chat would.
    if (this.seq % 7 === 0 && this.ws?.readyState === WebSocket.OPEN) {
      for (const chat of this.chats) {
        const id = this.highest.get(chat.key);
        if (id) this.ws.send(JSON.stringify({ type: 'read', payload: { id, chat: this.ref(chat) } }));
      }
    }
    if (!sendNew) return;
    const chat = this.chats[this.seq % this.chats.length]!;
    const p: Pending = { clientId: `${this.session.login}-${++this.seq}`, chat, sentAt: 0 };
    this.pending.set(p.clientId, p);
    this.sent++;
    this.transmit(p);
  }
}

let stopping = false;

test(
  `chaos on ${STORE}: SIGKILL of ${ONLY.join(', ')} under load loses and duplicates nothing (${SECONDS} s)`,
  { timeout: (SECONDS + 240) * 1000 },
  async (t) => {
    const cluster: Cluster = await startCluster({ gateways: 2, shards: 3, t, env: { LEASE_TTL_MS: '3000' } });
    const http = api(cluster.gateways[0]!.url);
    const sessions: Session[] = [];
    for (let i = 0; i < CLIENTS; i++) sessions.push(await http.register(uniqueLogin(`ch${i}`)));
    const created = await http.request<{ id: string }>('POST', '/groups', {
      token: sessions[0]!.token,
      body: { name: 'chaos', members: sessions.slice(1).map((s) => s.login) },
    });
    assert.equal(created.status, 201, created.text);
    const groupId = created.json!.id;
    const group: Chat = { key: `g:${groupId}`, type: 'group' };
    /** chat key → times of its acknowledgements, for the unavailability per fault. */
    const ackTimes = new Map<string, number[]>();
    const liveUrls = () => cluster.gateways.filter((g) => g.running).map((g) => g.wsUrl);
    const clients = sessions.map((s, i) => {
      const peer = sessions[i ^ 1]!;
      const dialog: Chat = { key: dialogKey(s.login, peer.login), type: 'dialog' };
      return new ChaosClient(
        s,
        [dialog, group],
        () => (i % 2 === 0 ? liveUrls() : [...liveUrls()].reverse()),
        (chat) => (chat.type === 'group' ? groupId : peer.login),
        (chat, at) => {
          if (!ackTimes.has(chat)) ackTimes.set(chat, []);
          ackTimes.get(chat)!.push(at);
        },
      );
    });
    stopping = false;
    await Promise.all(clients.map((c) => c.connect()));
    let sending = true;
    const ticker = setInterval(() => {
      for (const c of clients) c.tick(sending);
    }, SEND_INTERVAL_MS);

    const faults: { name: string; proc?: ServiceProcess; redis?: boolean }[] = [
      { name: 'shard', proc: cluster.shards[0] },
      { name: 'gateway', proc: cluster.gateways[0] },
      { name: 'relay', proc: cluster.relay },
      { name: 'presence', proc: cluster.presence },
      { name: 'redis', redis: true },
    ].filter((f) => ONLY.includes(f.name));
    const slot = (SECONDS * 1000) / (faults.length + 1);
    const windows: { name: string; from: number; to: number }[] = [];
    try {
      await new Promise((r) => setTimeout(r, slot / 2));
      for (const fault of faults) {
        const from = Date.now();
        if (fault.redis) {
          await cluster.redis.kill();
          await new Promise((r) => setTimeout(r, 1000));
          await cluster.redis.restart();
        } else {
          await cluster.kill(fault.proc!, 'SIGKILL');
          await new Promise((r) => setTimeout(r, 1000));
          await cluster.restart(fault.proc!);
        }
        await new Promise((r) => setTimeout(r, Math.max(0, slot - (Date.now() - from))));
        windows.push({ name: fault.name, from, to: Date.now() });
      }
      await new Promise((r) => setTimeout(r, slot / 2));
      sending = false;
      // Drain: keep resending until every send is acknowledged.
      const deadline = Date.now() + 90_000;
      while (clients.some((c) => c.pending.size > 0) && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 250));
      }
    } finally {
      clearInterval(ticker);
      stopping = true;
    }
    for (const c of clients) c.ws?.close();
    const unacked = clients.reduce((n, c) => n + c.pending.size, 0);

    // Final catch-up, as a client does on reconnect, then the checker.
    for (const c of clients) await c.catchUp(new Map(c.highest));
    const histories = new Map<string, { id: number; text: string }[]>();
    for (const c of clients) {
      for (const chat of c.chats) {
        if (histories.has(chat.key)) continue;
        const path =
          chat.type === 'group'
            ? `/group/${groupId}?after=0&limit=500`
            : `/dialog/${chat.key.split(':').find((l) => l !== c.session.login && l !== 'd')}?after=0&limit=500`;
        const all: { id: number; text: string }[] = [];
        for (;;) {
          const after = all.length ? all[all.length - 1]!.id : 0;
          const res = await http.request<{ id: number; text: string }[]>(
            'GET',
            path.replace('after=0', `after=${after}`),
            {
              token: c.session.token,
            },
          );
          assert.equal(res.status, 200, res.text);
          all.push(...res.json!);
          if (res.json!.length < 500) break;
        }
        histories.set(chat.key, all);
      }
    }
    let acked = 0;
    let lost = 0;
    let duplicated = 0;
    let delivered = 0;
    const problems: string[] = [];
    for (const [chat, messages] of histories) {
      for (let i = 1; i < messages.length; i++) {
        if (messages[i]!.id <= messages[i - 1]!.id)
          problems.push(`${chat}: id ${messages[i]!.id} after ${messages[i - 1]!.id}`);
      }
      const byText = new Map<string, number>();
      for (const m of messages) byText.set(m.text, (byText.get(m.text) ?? 0) + 1);
      for (const [text, n] of byText)
        if (n > 1) {
          duplicated += n - 1;
          problems.push(`${chat}: ${text} stored ${n} times`);
        }
    }
    for (const c of clients) {
      for (const [clientId, ack] of c.acked) {
        acked++;
        const m = histories.get(ack.chat)!.find((h) => h.text === clientId);
        if (!m) {
          lost++;
          problems.push(`acked ${clientId} (${ack.chat} #${ack.id}) missing from history`);
        } else if (m.id !== ack.id) problems.push(`acked ${clientId} as #${ack.id} but stored as #${m.id}`);
      }
      for (const chat of c.chats) {
        const got = c.received.get(chat.key) ?? new Set();
        for (const m of histories.get(chat.key)!) {
          if (got.has(m.id)) delivered++;
          else problems.push(`${c.session.login} never received ${chat.key} #${m.id}`);
        }
      }
      problems.push(...c.orderViolations, ...c.markViolations);
      // Marks never went back and read implies delivered: along a sender's own messages, statuses never rise.
      const rank: Record<string, number> = { sent: 0, delivered: 1, read: 2 };
      for (const chat of c.chats) {
        const path =
          chat.type === 'group'
            ? `/group/${groupId}?limit=500`
            : `/dialog/${chat.key.split(':').find((l) => l !== c.session.login && l !== 'd')}?limit=500`;
        const res = await http.request<{ id: number; sender: string; status: string }[]>('GET', path, {
          token: c.session.token,
        });
        assert.equal(res.status, 200, res.text);
        const mine = res.json!.filter((m) => m.sender === c.session.login);
        for (let i = 1; i < mine.length; i++) {
          if (rank[mine[i]!.status]! > rank[mine[i - 1]!.status]!)
            problems.push(
              `${chat.key}: #${mine[i]!.id} ${mine[i]!.status} after #${mine[i - 1]!.id} ${mine[i - 1]!.status}`,
            );
        }
      }
    }
    const sent = clients.reduce((n, c) => n + c.sent, 0);
    const reconnects = clients.reduce((n, c) => n + c.reconnects, 0);
    const statusEvents = clients.reduce((n, c) => n + c.statusEvents, 0);
    // Per fault: the longest time any one chat went without an acknowledgement.
    const availability = windows.map((w) => {
      let longest = 0;
      for (const times of ackTimes.values()) {
        const inWindow = [w.from, ...times.filter((a) => a >= w.from && a <= w.to), w.to];
        for (let i = 1; i < inWindow.length; i++)
          longest = Math.max(longest, inWindow[i]! - inWindow[i - 1]!);
      }
      return `${w.name} ${(longest / 1000).toFixed(1)} s`;
    });
    const summary =
      `sent ${sent}, acked ${acked}, unacked ${unacked}, delivered ${delivered}, lost ${lost}, duplicated ${duplicated}, ` +
      `status events ${statusEvents}, reconnects ${reconnects}; longest unavailability: ${availability.join(', ')}`;
    t.diagnostic(summary);
    console.log(`chaos: ${summary}`);
    assert.deepEqual(problems.slice(0, 20), [], summary);
    assert.equal(unacked, 0, summary);
    assert.equal(lost, 0);
    assert.equal(duplicated, 0);
    assert.ok(acked > 0);
  },
);
