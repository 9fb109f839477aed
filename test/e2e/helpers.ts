/**
 * Shared pieces of the REST end-to-end suites: one cluster per test file
 * (started in `before`, stopped in `after`, logs printed when a test failed),
 * error-body assertions, Link-header paging, and sending messages over a
 * WebSocket to create history.
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after, afterEach, before } from 'node:test';
import {
  api,
  connectWs,
  startCluster,
  type Api,
  type ApiResponse,
  type ChatRef,
  type Cluster,
  type GatewayProcess,
  type Session,
  type StartClusterOptions,
  type WsClient,
  type WsEvent,
} from '../harness/index.js';

/** RFC 3339 UTC with milliseconds, as API.md writes every time. */
export const TIME_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

/** Generous per-test timeout: the machine is small and shared. */
export const TEST_TIMEOUT_MS = 90_000;

export interface Suite {
  readonly cluster: Cluster;
  /** The first gateway. */
  readonly gateway: GatewayProcess;
  /** HTTP client of the first gateway. */
  readonly http: Api;
}

/**
 * Starts one cluster for the whole test file and stops it after the last
 * test; prints every process's log tail when any test of the file failed.
 */
export function useCluster(options: Omit<StartClusterOptions, 't'> = {}): Suite {
  // The REST routes never reach the relay; without it the cluster starts faster.
  options = { relay: false, ...options };
  let cluster: Cluster | undefined;
  let http: Api | undefined;
  let failed = false;
  before(
    async () => {
      cluster = await startCluster(options);
      http = api(cluster.gateways[0]!.url);
    },
    { timeout: 120_000 },
  );
  afterEach((t) => {
    if ((t as { passed?: boolean }).passed === false) failed = true;
  });
  after(async () => {
    if (!cluster) return;
    if (failed) cluster.printLogs(60);
    await cluster.stop();
  });
  return {
    get cluster() {
      assert.ok(cluster, 'cluster not started');
      return cluster;
    },
    get gateway() {
      assert.ok(cluster, 'cluster not started');
      return cluster.gateways[0]!;
    },
    get http() {
      assert.ok(http, 'cluster not started');
      return http;
    },
  };
}

interface ErrorBody {
  error?: { code?: unknown; message?: unknown; field?: unknown };
}

/**
 * Asserts an API.md error response: the status, a JSON content type and the
 * body `{"error": {"code", "message", "field"?}}` with this code (and field,
 * when given; `null` asserts there is none).
 */
export function assertError(
  res: ApiResponse,
  status: number,
  code: string,
  field?: string | null,
  context = '',
): void {
  const where = `${context ? `${context}: ` : ''}${res.status} ${res.text.slice(0, 300)}`;
  assert.equal(res.status, status, where);
  assert.match(res.headers.get('content-type') ?? '', /^application\/json/, where);
  const body = res.json as ErrorBody | undefined;
  assert.ok(body && typeof body.error === 'object' && body.error !== null, where);
  assert.equal(body.error.code, code, where);
  assert.equal(typeof body.error.message, 'string', where);
  assert.ok((body.error.message as string).length > 0, where);
  if (field === null) assert.equal(body.error.field, undefined, where);
  else if (field !== undefined) assert.equal(body.error.field, field, where);
  for (const key of Object.keys(body)) assert.equal(key, 'error', `only "error" at the top level; ${where}`);
}

/** Asserts a 2xx JSON response and returns its parsed body. */
export function ok<T>(res: ApiResponse<T>, status = 200, context = ''): T {
  assert.equal(res.status, status, `${context ? `${context}: ` : ''}${res.status} ${res.text.slice(0, 300)}`);
  assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
  assert.notEqual(res.json, undefined);
  return res.json as T;
}

/** The target of `Link: <...>; rel="next"`, or null when the header is absent. */
export function nextLink(res: ApiResponse): string | null {
  const header = res.headers.get('link');
  if (!header) return null;
  const match = /^<([^>]+)>;\s*rel="next"$/.exec(header.trim());
  assert.ok(match, `Link header is not <...>; rel="next": ${header}`);
  return match[1]!;
}

/**
 * GETs `path`, then follows `rel="next"` links until there are none; returns
 * every page. Fails past `maxPages` (a cursor that never ends).
 */
export async function walkPages<T>(
  http: Api,
  path: string,
  session: Session,
  maxPages = 200,
): Promise<{ pages: T[][]; links: string[] }> {
  const pages: T[][] = [];
  const links: string[] = [];
  let next: string | null = path;
  while (next) {
    assert.ok(pages.length < maxPages, `more than ${maxPages} pages from ${path}`);
    const res = await http.request<T[]>('GET', next, { token: session.token });
    const page = ok(res, 200, `GET ${next}`);
    assert.ok(Array.isArray(page));
    pages.push(page);
    next = nextLink(res);
    if (next) links.push(next);
  }
  return { pages, links };
}

export async function registerAll(http: Api, logins: string[], usernames?: string[]): Promise<Session[]> {
  return Promise.all(logins.map((login, i) => http.register(login, undefined, usernames?.[i] ?? login)));
}

/** A multiplexed `/chats/ws` socket of `session` on `gateway`. */
export function chatsSocket(gateway: GatewayProcess, session: Session): Promise<WsClient> {
  return connectWs(`${gateway.wsUrl}/chats/ws`, { token: session.token });
}

export const dialog = (login: string): ChatRef => ({ type: 'dialog', id: login });
export const group = (id: string): ChatRef => ({ type: 'group', id });

/**
 * Sends every text in order on a `/chats/ws` socket, each with its own
 * client_id, and waits for every acknowledgement (the sender's own
 * `new_message` carrying that client_id). Returns the acks in send order;
 * a rejected send fails with the server's error event.
 */
export async function sendMessages(ws: WsClient, chat: ChatRef, texts: string[]): Promise<WsEvent[]> {
  const ids: string[] = texts.map(() => crypto.randomUUID());
  texts.forEach((text, i) => ws.send({ type: 'send_message', payload: { text, client_id: ids[i], chat } }));
  const wanted = new Set(ids);
  const events = await ws.take(
    (e) =>
      (e.type === 'new_message' || e.type === 'error') &&
      typeof e.payload.client_id === 'string' &&
      wanted.has(e.payload.client_id),
    ids.length,
    30_000,
  );
  for (const e of events) assert.equal(e.type, 'new_message', `send rejected: ${e.raw}`);
  const byClientId = new Map(events.map((e) => [e.payload.client_id, e]));
  return ids.map((id) => byClientId.get(id)!);
}

/** Sends one message and returns its acknowledgement. */
export async function sendMessage(ws: WsClient, chat: ChatRef, text: string): Promise<WsEvent> {
  const [ack] = await sendMessages(ws, chat, [text]);
  return ack!;
}

/** Resolves after `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Polls `probe` until it returns a value other than undefined, or fails after
 * `timeoutMs` with `what` (waiting for a condition with a deadline, for
 * state that settles asynchronously, e.g. presence).
 */
export async function eventually<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  timeoutMs = 15_000,
  intervalMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) assert.fail(`${what}: not true within ${timeoutMs} ms`);
    await sleep(intervalMs);
  }
}
