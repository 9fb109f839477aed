// REST with k6: POST /login, GET /chats and GET /dialog/{login} (a history of
// HISTORY messages written in setup over a WebSocket), with per-route
// thresholds (the targets of the foundation issue: reads ≥ 10,000 req/s with
// p99 < 20 ms, login ≥ 40/s with p99 < 200 ms on the reference 2-core machine).
//
//   k6 run -e BASE_URL=http://127.0.0.1:8080 -e VUS=32 -e DURATION=20s -e SCENARIO=chats bench/k6/rest.js
import http from 'k6/http';
import ws from 'k6/ws';
import { check } from 'k6';
import {
  auth,
  clientId,
  envNumber,
  envSeconds,
  httpBase,
  PASSWORD,
  registerUsers,
  runPrefix,
  sendEvent,
  wsBase,
} from './lib.js';

const VUS = envNumber('VUS', 32);
const LOGIN_VUS = envNumber('LOGIN_VUS', 4);
const DURATION_S = envSeconds('DURATION', 20);
const USERS = envNumber('USERS', 200);
const HISTORY = envNumber('HISTORY', 150);

// SCENARIO picks routes: login, chats, history (comma-separated; default all,
// run one after the other). k6 computes a counter's rate over the whole run,
// so the requests/s thresholds are only set when a single route runs.
const SCENARIOS = (__ENV.SCENARIO || 'login,chats,history').split(',').map((s) => s.trim());
const TARGETS = {
  login: { vus: LOGIN_VUS, p99: 200, rate: 40 },
  chats: { vus: VUS, p99: 20, rate: 10000 },
  history: { vus: VUS, p99: 20, rate: 10000 },
};

function buildOptions() {
  const scenarios = {};
  const thresholds = { checks: ['rate>0.999'] };
  SCENARIOS.forEach((name, i) => {
    const t = TARGETS[name];
    if (!t) throw new Error(`unknown SCENARIO "${name}" (login, chats, history)`);
    scenarios[name] = {
      executor: 'constant-vus',
      exec: name,
      vus: t.vus,
      duration: `${DURATION_S}s`,
      startTime: `${i * (DURATION_S + 2)}s`,
    };
    thresholds[`http_req_duration{scenario:${name}}`] = [`p(99)<${t.p99}`];
    thresholds[`http_req_failed{scenario:${name}}`] = ['rate<0.001'];
    if (SCENARIOS.length === 1) thresholds[`http_reqs{scenario:${name}}`] = [`rate>=${t.rate}`];
  });
  return { setupTimeout: '600s', scenarios, thresholds };
}

export const options = buildOptions();

export function setup() {
  const users = registerUsers(USERS, runPrefix(), 8);
  const a = users[0];
  const b = users[1];
  let acked = 0;
  ws.connect(`${wsBase(0)}/chats/ws?token=${encodeURIComponent(a.token)}`, {}, function (socket) {
    socket.on('open', function () {
      for (let i = 0; i < HISTORY; i++) {
        socket.send(sendEvent(`history message ${i}`, clientId(0, i), { type: 'dialog', id: b.login }));
      }
      socket.setTimeout(function () {
        socket.close();
      }, 60000);
    });
    socket.on('message', function (raw) {
      const ev = JSON.parse(raw);
      if (ev.type === 'new_message' && ev.payload.client_id && ++acked === HISTORY) socket.close();
    });
  });
  check(acked, { 'history written': (n) => n === HISTORY });
  return { users, a, b };
}

export function login(data) {
  const u = data.users[(__ITER * 7 + __VU) % data.users.length];
  const res = http.post(`${httpBase(0)}/login`, JSON.stringify({ login: u.login, password: PASSWORD }), {
    headers: { 'Content-Type': 'application/json' },
    tags: { name: 'POST /login' },
  });
  check(res, {
    'login: 200 with a session cookie': (r) => r.status === 200 && r.cookies.sessionToken !== undefined,
  });
}

export function chats(data) {
  const u = data.users[(__ITER + __VU) % data.users.length];
  const res = http.get(`${httpBase(0)}/chats`, auth(u.token, 'GET /chats'));
  check(res, { 'chats: 200 with an array': (r) => r.status === 200 && Array.isArray(r.json()) });
}

export function history(data) {
  const even = (__ITER + __VU) % 2 === 0;
  const me = even ? data.a : data.b;
  const peer = even ? data.b : data.a;
  const res = http.get(`${httpBase(0)}/dialog/${peer.login}`, auth(me.token, 'GET /dialog/{login}'));
  check(res, { 'history: 200 with 100 messages': (r) => r.status === 200 && r.json().length === 100 });
}
