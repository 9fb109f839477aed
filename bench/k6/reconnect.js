// Reconnect storm with k6: VUS clients (each a dialog socket of one of USERS
// users with one of WRITERS writers; VUS <= USERS × WRITERS) connect, all
// drop at DROP_AT seconds, the writers (VUs 1..WRITERS of the `writers`
// scenario) put one message into every client's dialog while they are away,
// and at STORM_AT seconds every client reconnects at once and catches up with
// GET /dialog/{writer}?after=0. catchup_ms is the time from STORM_AT until the
// client holds its missed message.
//
//   k6 run -e BASE_URL=http://127.0.0.1:8080,http://127.0.0.1:8081 -e VUS=2000 bench/k6/reconnect.js
import http from 'k6/http';
import ws from 'k6/ws';
import exec from 'k6/execution';
import { check, sleep } from 'k6';
import { Counter, Trend } from 'k6/metrics';
import { auth, clientId, envNumber, httpBase, registerUsers, runPrefix, sendEvent, wsBase } from './lib.js';

const VUS = envNumber('VUS', 2000);
const WRITERS = envNumber('WRITERS', 10);
const USERS = Math.ceil(VUS / WRITERS);
const DROP_AT = envNumber('DROP_AT', 15); // seconds after the test starts
const GAP = envNumber('GAP', 10); // seconds the clients stay away
const STORM_AT = DROP_AT + GAP;

const catchup = new Trend('catchup_ms', true);
const missed = new Counter('missed_messages');
const failures = new Counter('failed_clients');

export const options = {
  setupTimeout: '600s',
  scenarios: {
    clients: {
      executor: 'per-vu-iterations',
      exec: 'client',
      vus: VUS,
      iterations: 1,
      maxDuration: `${STORM_AT + 120}s`,
    },
    writers: {
      executor: 'per-vu-iterations',
      exec: 'writer',
      vus: WRITERS,
      iterations: 1,
      maxDuration: `${STORM_AT + 120}s`,
    },
  },
  thresholds: {
    catchup_ms: ['p(99)<10000'],
    missed_messages: ['count==0'],
    failed_clients: ['count==0'],
    checks: ['rate>0.99'],
  },
};

export function setup() {
  const all = registerUsers(USERS + WRITERS, runPrefix(), 8);
  return { users: all.slice(0, USERS), writers: all.slice(USERS), t0: Date.now() };
}

function until(t0, seconds) {
  const wait = t0 + seconds * 1000 - Date.now();
  if (wait > 0) sleep(wait / 1000);
}

function clientOf(data, k) {
  return { user: data.users[k % USERS], writer: data.writers[Math.floor(k / USERS) % WRITERS] };
}

export function client(data) {
  const k = exec.scenario.iterationInTest; // 0 .. VUS-1, one iteration per VU
  const { user, writer } = clientOf(data, k);
  const url = `${wsBase(k)}/dialog/${writer.login}/ws?token=${encodeURIComponent(user.token)}`;
  // Connected until the drop.
  const first = ws.connect(url, {}, function (socket) {
    socket.setTimeout(
      function () {
        socket.close();
      },
      Math.max(1, data.t0 + DROP_AT * 1000 - Date.now()),
    );
  });
  check(first, { 'connected before the drop (101)': (r) => r && r.status === 101 });
  until(data.t0, STORM_AT);
  // The storm: reconnect, then fetch what was missed.
  const again = ws.connect(url, {}, function (socket) {
    socket.on('open', function () {
      const res = http.get(
        `${httpBase(k)}/dialog/${writer.login}?after=0`,
        auth(user.token, 'GET /dialog/{login}?after='),
      );
      const ok = res.status === 200 && res.json().some((m) => m.sender === writer.login);
      if (ok) catchup.add(Date.now() - (data.t0 + STORM_AT * 1000));
      else missed.add(1);
      socket.close();
    });
  });
  if (!check(again, { 'reconnected in the storm (101)': (r) => r && r.status === 101 })) failures.add(1);
}

export function writer(data) {
  const w = exec.scenario.iterationInTest; // 0 .. WRITERS-1
  const me = data.writers[w];
  until(data.t0, DROP_AT + 2);
  const mine = [];
  for (let k = 0; k < VUS; k++)
    if (clientOf(data, k).writer.login === me.login) mine.push(clientOf(data, k).user.login);
  let acked = 0;
  ws.connect(`${wsBase(0)}/chats/ws?token=${encodeURIComponent(me.token)}`, {}, function (socket) {
    socket.on('open', function () {
      mine.forEach(function (login, i) {
        socket.send(sendEvent(`missed ${login}`, clientId(w + 1, i), { type: 'dialog', id: login }));
      });
      socket.setTimeout(
        function () {
          socket.close();
        },
        Math.max(1000, data.t0 + STORM_AT * 1000 - Date.now() - 500),
      );
    });
    socket.on('message', function (raw) {
      const ev = JSON.parse(raw);
      if (ev.type === 'new_message' && ev.payload.client_id && ++acked === mine.length) socket.close();
    });
  });
  check(acked, { 'writer: every missed message acknowledged': (n) => n === mine.length });
}
