/**
 * Helpers shared by the realtime end-to-end suites (test/e2e/realtime-*.test.ts):
 * naming chats as the WebSocket API does, matching events, and reading a
 * chat's whole history over HTTP.
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after, afterEach, before } from 'node:test';
import { testFailed, type TestLike } from '../harness/cleanup.js';
import {
  api,
  connectWs,
  startCluster,
  uniqueLogin,
  type Api,
  type ChatRef,
  type Cluster,
  type Session,
  type StartClusterOptions,
  type WsClient,
  type WsEvent,
  type WsOptions,
} from '../harness/index.js';

export const dialog = (login: string): ChatRef => ({ type: 'dialog', id: login });
export const group = (id: string): ChatRef => ({ type: 'group', id });

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** A predicate over events (usable with next()/take() and with Array.filter). */
export type Matcher = (event: WsEvent) => boolean;

export function sameChat(a: ChatRef | undefined, b: ChatRef): boolean {
  return a?.type === b.type && a.id === b.id;
}

/** new_message events of `chat`, optionally only the one with `text`. */
export function messageIn(chat: ChatRef, text?: string): Matcher {
  return (e) =>
    e.type === 'new_message' &&
    sameChat(e.payload.chat, chat) &&
    (text === undefined || e.payload.text === text);
}

/** The acknowledgement of a send: the new_message carrying its client_id. */
export function ackOf(clientId: string): Matcher {
  return (e) => e.type === 'new_message' && e.payload.client_id === clientId;
}

/**
 * message_status events of `chat` with `status`, optionally only those covering message `atLeast`
 * (a status event says every message up to its id reached that status).
 */
export function statusIn(chat: ChatRef, status: string, atLeast?: number): Matcher {
  return (e) =>
    e.type === 'message_status' &&
    sameChat(e.payload.chat, chat) &&
    e.payload.status === status &&
    (atLeast === undefined || (e.payload.id as number) >= atLeast);
}

/** error events, optionally only those with `code`. */
export function errorEvent(code?: string): Matcher {
  return (e) => e.type === 'error' && (code === undefined || e.payload.code === code);
}

/** Every new_message of `chat` the socket has received so far, in arrival order. */
export function messagesOf(ws: WsClient, chat: ChatRef): WsEvent[] {
  return ws.events.filter((e) => e.type === 'new_message' && sameChat(e.payload.chat, chat));
}

/** Waits until `condition` holds (or resolves true), checking every 20 ms; fails with `what` after `timeoutMs`. */
export async function waitFor(
  condition: () => boolean | Promise<boolean>,
  timeoutMs: number,
  what: () => string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) assert.fail(`timed out after ${timeoutMs} ms waiting for ${what()}`);
    await sleep(20);
  }
}

export function newClientId(): string {
  return crypto.randomUUID();
}

export interface SendOptions {
  /** Omitted on per-chat endpoints when not given. */
  chat?: ChatRef;
  clientId?: string;
  /** The event type; the original API spells it "send message". @default 'send_message' */
  type?: string;
}

/** Sends a message event (no waiting). */
export function sendText(ws: WsClient, text: string, options: SendOptions = {}): void {
  const payload: Record<string, unknown> = { text };
  if (options.chat) payload.chat = options.chat;
  if (options.clientId) payload.client_id = options.clientId;
  ws.send({ type: options.type ?? 'send_message', payload });
}

/** Sends a message with a fresh client_id and resolves its acknowledgement. */
export async function sendAndAck(
  ws: WsClient,
  text: string,
  options: Omit<SendOptions, 'clientId'> = {},
  timeoutMs = 15_000,
): Promise<WsEvent> {
  const clientId = newClientId();
  sendText(ws, text, { ...options, clientId });
  const ack = await ws.next(ackOf(clientId), timeoutMs);
  assert.equal(ack.payload.text, text);
  assert.ok(Number.isInteger(ack.payload.id) && (ack.payload.id as number) > 0, 'the ack carries the id');
  return ack;
}

/** One message of GET /dialog/{login} or GET /group/{id}. */
export interface HistoryMessage {
  id: number;
  sender: string;
  receiver?: string;
  text: string;
  status: string;
  time: string;
}

/** A chat's history after `after` (every page), oldest first, as `session` sees it. */
export async function historyAfter(
  client: Api,
  session: Session,
  path: string,
  after = 0,
): Promise<HistoryMessage[]> {
  const out: HistoryMessage[] = [];
  let from = after;
  for (;;) {
    const res = await client.request<HistoryMessage[]>('GET', `${path}?after=${from}&limit=500`, {
      token: session.token,
    });
    assert.equal(res.status, 200, `GET ${path}?after=${from}: ${res.text}`);
    const page = res.json!;
    out.push(...page);
    if (page.length < 500) return out;
    from = page[page.length - 1]!.id;
  }
}

/** Asserts ids are strictly increasing (unique and ordered). */
export function assertIncreasing(ids: readonly number[], what: string): void {
  for (let i = 1; i < ids.length; i++) {
    assert.ok(ids[i]! > ids[i - 1]!, `${what}: id ${ids[i]} follows ${ids[i - 1]} (position ${i})`);
  }
}

/**
 * One cluster shared by every test of a file: started before the first test,
 * stopped after the last; a failing test prints the tail of every log.
 */
export function sharedCluster(
  options: Omit<StartClusterOptions, 't'>,
  /** Runs once the cluster is up, before the first test (root-level hooks may not be ordered). */
  setup?: (cluster: Cluster) => Promise<void>,
): () => Cluster {
  let cluster: Cluster | undefined;
  before(async () => {
    cluster = await startCluster(options);
    await setup?.(cluster);
  });
  afterEach((t) => {
    if (cluster && testFailed(t as TestLike)) cluster.printLogs(60);
  });
  after(async () => {
    await cluster?.stop();
  });
  return () => {
    if (!cluster) throw new Error('the cluster did not start');
    return cluster;
  };
}

/** How long a test waits to be sure that something does *not* arrive. */
export const QUIET_MS = 700;
/** Waits for events that must arrive; generous for a loaded 2-core machine. */
export const EVENT_MS = 15_000;

/**
 * A shared cluster of (at least) two gateways for the live suites, with their common steps: registering
 * users, opening sockets that close when the test ends, creating a group.
 */
export function liveCluster(options: Omit<StartClusterOptions, 't'>) {
  const cluster = sharedCluster(options);
  const gateways = () => {
    const [gw1, gw2] = cluster().gateways;
    return { gw1: gw1!, gw2: gw2! };
  };
  return {
    cluster,
    gateways,
    async users(n: number, prefix: string): Promise<Session[]> {
      const client = api(gateways().gw1.url);
      return Promise.all(Array.from({ length: n }, () => client.register(uniqueLogin(prefix))));
    },
    async open(
      t: { after(fn: () => unknown): void },
      url: string,
      session: Session | null,
      wsOptions: WsOptions = {},
    ): Promise<WsClient> {
      const ws = await connectWs(url, { token: session?.token, timeoutMs: EVENT_MS, ...wsOptions });
      t.after(() => ws.close());
      return ws;
    },
    async createGroup(owner: Session, name: string, isPublic: boolean, members: string[]) {
      const res = await api(gateways().gw1.url).request<{ id: string; members: string[] }>(
        'POST',
        '/groups',
        {
          token: owner.token,
          body: { name, public: isPublic, members },
        },
      );
      assert.equal(res.status, 201, res.text);
      return res.json!;
    },
  };
}
