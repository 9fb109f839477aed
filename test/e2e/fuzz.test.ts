/**
 * Property-based fuzzing (fast-check, fixed seed, bounded runs) of every REST
 * route and of WebSocket events against one real cluster. Whatever arrives,
 * the gateway answers every request within a deadline with a non-5xx status,
 * keeps every process running and ready, and stores nothing for an invalid
 * request: the chat list, histories and members are the same before and
 * after, apart from what an accepted (2xx) request or a valid send explains.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import fc from 'fast-check';
import { param, query, rawBody, ROUTES, sendText, wsFrame } from './fuzz-inputs.js';
import {
  api,
  connectWs,
  startCluster,
  uniqueLogin,
  type Api,
  type Cluster,
  type Session,
  type WsClient,
} from '../harness/index.js';

const SEED = 20261124;
const REST_RUNS = Number(process.env.FUZZ_REST_RUNS ?? 600);
const WS_RUNS = Number(process.env.FUZZ_WS_RUNS ?? 500);
/** Every request must be answered within this time, even on a loaded machine. */
const ANSWER_MS = 15_000;
const LOGIN_RE = /^[a-z0-9_.-]{3,32}$/;

let cluster: Cluster;
let http: Api;
let alice: Session;
let bob: Session;
let groupId: string;
let failed = false;

interface Snapshot {
  chats: string;
  dialog: string;
  group: string;
  members: string;
  bobDialog: string;
}

/** What invalid input must not change: the chat list's entries and last ids, histories and members. */
async function snapshot(): Promise<Snapshot> {
  const get = async (path: string, s: Session, pick?: (body: unknown) => unknown) => {
    const res = await http.request('GET', path, { token: s.token });
    assert.equal(res.status, 200, `${path}: ${res.text.slice(0, 200)}`);
    return JSON.stringify(pick ? pick(res.json) : res.json);
  };
  const historyIds = (body: unknown) =>
    (body as { id: number; sender: string; text: string }[]).map((m) => [m.id, m.sender, m.text]);
  return {
    chats: await get('/chats?limit=1000', alice, (body) =>
      (body as { type: string; id: string; last_message_id: number | null }[])
        .map((c) => `${c.type}:${c.id}:${c.last_message_id}`)
        .sort(),
    ),
    dialog: await get(`/dialog/${bob.login}?limit=500`, alice, historyIds),
    group: await get(`/group/${groupId}?limit=500`, alice, historyIds),
    members: await get(`/group/${groupId}/members`, alice, (body) =>
      (body as { login: string; role: string }[]).map((m) => `${m.login}:${m.role}`).sort(),
    ),
    bobDialog: await get(`/dialog/${alice.login}?limit=500`, bob, historyIds),
  };
}

before(
  async () => {
    cluster = await startCluster({ gateways: 1, shards: 1, relay: false });
    http = api(cluster.gateways[0]!.url);
    alice = await http.register(uniqueLogin('fza'));
    bob = await http.register(uniqueLogin('fzb'));
    const created = await http.request<{ id: string }>('POST', '/groups', {
      token: alice.token,
      body: { name: 'fuzz', members: [bob.login] },
    });
    assert.equal(created.status, 201, created.text);
    groupId = created.json!.id;
    const ws = await connectWs(`${cluster.gateways[0]!.wsUrl}/chats/ws`, { token: alice.token });
    for (const chat of [
      { type: 'dialog', id: bob.login },
      { type: 'group', id: groupId },
    ]) {
      ws.send({ type: 'send_message', payload: { text: 'seed', client_id: `seed-${chat.type}`, chat } });
      await ws.next((e) => e.type === 'new_message' && e.payload.client_id === `seed-${chat.type}`, 15_000);
    }
    await ws.close();
  },
  { timeout: 120_000 },
);

after(async () => {
  if (!cluster) return;
  if (failed) cluster.printLogs(60);
  await cluster.stop();
});

type Auth = 'alice' | 'bob' | 'none' | 'garbage';

test(
  'REST: random bodies, params and queries never get a 5xx, a hang, or change stored state',
  { timeout: 600_000 },
  async (t) => {
    t.after(() => {
      if ((t as { passed?: boolean }).passed === false) failed = true;
    });
    const before = await snapshot();
    let groupsCreated = 0;
    let membersChanged = 0;
    const rejectedLogins = new Set<string>();
    let registered = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.nat(ROUTES.length - 1),
        param,
        query,
        rawBody,
        fc.constantFrom<Auth>('alice', 'alice', 'bob', 'none', 'garbage'),
        async (routeIndex, rawParam, q, body, auth) => {
          const route = ROUTES[routeIndex]!;
          const p = rawParam === 'GROUP' ? groupId : rawParam === 'BOB' ? bob.login : rawParam;
          const path = route.path(p, q);
          const headers: Record<string, string> = {};
          if (auth === 'alice') headers.authorization = `Bearer ${alice.token}`;
          else if (auth === 'bob') headers.authorization = `Bearer ${bob.token}`;
          else if (auth === 'garbage') headers.authorization = `Bearer ${'x'.repeat(300)}`;
          // Logging out the fuzzing users would end the run's sessions; /logout gets anonymous or garbage.
          if (route.path('', '') === '/logout' && (auth === 'alice' || auth === 'bob'))
            delete headers.authorization;
          if (body !== undefined) headers['content-type'] = 'application/json; charset=utf-8';
          const res = await fetch(cluster.gateways[0]!.url + path, {
            method: route.method,
            headers,
            body: route.method === 'GET' ? undefined : body,
            signal: AbortSignal.timeout(ANSWER_MS),
          });
          const text = await res.text();
          assert.ok(
            res.status < 500,
            `${route.method} ${path.slice(0, 200)} → ${res.status} ${text.slice(0, 300)}`,
          );
          if (res.status >= 400) {
            const parsed = JSON.parse(text) as { error?: { code?: unknown } };
            assert.equal(
              typeof parsed.error?.code,
              'string',
              `error body of ${route.method} ${path.slice(0, 100)}`,
            );
          }
          if (route.method === 'POST' && path === '/groups' && res.status === 201) groupsCreated++;
          if (route.method === 'POST' && path === '/register') {
            let login: unknown;
            try {
              login = (JSON.parse(typeof body === 'string' ? body : '') as { login?: unknown }).login;
            } catch {
              login = undefined;
            }
            if (res.status === 200) registered++;
            else if (typeof login === 'string' && LOGIN_RE.test(login.toLowerCase()))
              rejectedLogins.add(login.toLowerCase());
          }
          if (path.startsWith(`/group/${groupId}/members`) && res.status < 300 && route.method !== 'GET')
            membersChanged++;
        },
      ),
      { seed: SEED, numRuns: REST_RUNS, endOnFailure: true },
    );
    const afterState = await snapshot();
    assert.equal(afterState.dialog, before.dialog, 'dialog history unchanged');
    assert.equal(afterState.bobDialog, before.bobDialog, "bob's view of the dialog unchanged");
    assert.equal(afterState.group, before.group, 'group history unchanged');
    if (membersChanged === 0) assert.equal(afterState.members, before.members, 'group members unchanged');
    if (groupsCreated === 0 && registered === 0)
      assert.equal(afterState.chats, before.chats, 'chat list unchanged');
    for (const login of rejectedLogins) {
      const res = await http.request('GET', `/user/active/${login}`, { token: alice.token });
      // A login that was taken before the fuzzed request (e.g. alice's own) is not a new registration.
      if (login !== alice.login && login !== bob.login) {
        assert.equal(res.status, 404, `rejected registration of ${login} left a user behind`);
      }
    }
    t.diagnostic(`rest runs ${REST_RUNS}, groups created ${groupsCreated}, registered ${registered}`);
  },
);

test(
  'WebSocket: random events, binary and huge frames never crash, hang, or store an invalid send',
  { timeout: 600_000 },
  async (t) => {
    t.after(() => {
      if ((t as { passed?: boolean }).passed === false) failed = true;
    });
    const gateway = cluster.gateways[0]!;
    const before = await snapshot();
    const endpoints = [`/chats/ws`, `/dialog/${bob.login}/ws`, `/group/${groupId}/ws`];
    const sockets = new Map<string, WsClient>();
    const socket = async (endpoint: string): Promise<WsClient> => {
      const open = sockets.get(endpoint);
      if (open && open.socket.readyState === open.socket.OPEN) return open;
      const ws = await connectWs(gateway.wsUrl + endpoint, { token: alice.token, timeoutMs: ANSWER_MS });
      sockets.set(endpoint, ws);
      return ws;
    };
    const possiblyStored = new Set<string>();
    let closes = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.nat(endpoints.length - 1),
        fc.array(wsFrame, { minLength: 1, maxLength: 4 }),
        async (ei, frames) => {
          const ws = await socket(endpoints[ei]!);
          for (const f of frames) {
            let data = f.data;
            if (typeof data === 'string')
              data = data
                .replaceAll('"BOB"', JSON.stringify(bob.login))
                .replaceAll('"GROUP"', JSON.stringify(groupId));
            if (typeof data === 'string') {
              try {
                const text = sendText(JSON.parse(data));
                if (text !== null) possiblyStored.add(text);
              } catch {
                // not JSON: cannot be a send
              }
            }
            if (ws.socket.readyState !== ws.socket.OPEN) break;
            ws.socket.send(data, { binary: f.binary });
          }
          // The gateway still answers; a socket it closed was closed with a policy or size code.
          const me = await http.request('GET', '/me', { token: alice.token });
          assert.equal(me.status, 200);
          if (ws.socket.readyState !== ws.socket.OPEN) {
            const info = await ws.closed;
            closes++;
            assert.ok([1008, 1009].includes(info.code), `socket closed with ${info.code} ${info.reason}`);
          }
        },
      ),
      { seed: SEED, numRuns: WS_RUNS, endOnFailure: true },
    );
    for (const ws of sockets.values()) if (ws.socket.readyState === ws.socket.OPEN) await ws.close();
    // Let in-flight sends settle before reading history.
    await new Promise((r) => setTimeout(r, 1000));
    const afterState = await snapshot();
    for (const key of ['dialog', 'group'] as const) {
      const beforeIds = new Set((JSON.parse(before[key]) as [number][]).map((m) => m[0]));
      for (const [id, sender, text] of JSON.parse(afterState[key]) as [number, string, string][]) {
        if (beforeIds.has(id)) continue;
        assert.equal(sender, alice.login);
        assert.ok(
          possiblyStored.has(text),
          `${key} message ${id} was stored from a frame that was not a valid send`,
        );
      }
    }
    assert.equal(afterState.members, before.members, 'group members unchanged');
    // The WebSocket path still works end to end: a valid send on a fresh socket is acknowledged.
    const fresh = await connectWs(`${gateway.wsUrl}/chats/ws`, { token: alice.token, timeoutMs: ANSWER_MS });
    fresh.send({
      type: 'send_message',
      payload: { text: 'after fuzz', client_id: 'after-fuzz', chat: { type: 'dialog', id: bob.login } },
    });
    await fresh.next((e) => e.type === 'new_message' && e.payload.client_id === 'after-fuzz', ANSWER_MS);
    await fresh.close();
    t.diagnostic(`ws runs ${WS_RUNS}, sockets closed by the server ${closes}`);
  },
);

test(
  'a request head over the header limit is refused without harming the gateway',
  { timeout: 60_000 },
  async () => {
    const url = `${cluster.gateways[0]!.url}/users?query=${'a'.repeat(20_000)}`;
    const status = await fetch(url, {
      headers: { authorization: `Bearer ${alice.token}` },
      signal: AbortSignal.timeout(ANSWER_MS),
    }).then(
      (res) => res.status,
      (err: Error) => (err.name === 'TimeoutError' ? -1 : 0),
    );
    assert.notEqual(status, -1, 'the gateway answered or closed the connection in time');
    assert.ok(status < 500, `status ${status}`);
    const me = await http.request('GET', '/me', { token: alice.token });
    assert.equal(me.status, 200);
  },
);

test('after fuzzing every process is still running and ready', { timeout: 60_000 }, async () => {
  assert.deepEqual(cluster.unexpectedExits, []);
  for (const proc of cluster.processes) {
    assert.ok(proc.running, `${proc.name} is running`);
    const res = await fetch(`${proc.metricsUrl}/readyz`, { signal: AbortSignal.timeout(ANSWER_MS) });
    assert.equal(res.status, 200, `${proc.name} /readyz`);
  }
});
