// Connection capacity with k6: VUS idle /chats/ws sockets on one gateway
// (GATEWAY, 1-based index into BASE_URL), each sending a user_activity
// heartbeat every HEARTBEAT seconds and held for DURATION. Sockets cycle over
// USERS registered users. k6 spends megabytes per VU, so one k6 process holds
// thousands of sockets, not 100,000: `npm run bench:ws -- connections` is the
// tool for capacity; this script checks the same behaviour from k6.
// Past ~28k sockets per source address, give k6 more addresses on the
// loopback network, e.g. --local-ips=127.10.0.1-127.10.0.20, and raise
// `ulimit -n` for k6.
//
//   k6 run -e BASE_URL=http://127.0.0.1:8080 -e VUS=5000 -e DURATION=60s bench/k6/connections.js
import ws from 'k6/ws';
import exec from 'k6/execution';
import { check } from 'k6';
import { Counter } from 'k6/metrics';
import { envNumber, envSeconds, registerUsers, runPrefix, wsBase } from './lib.js';

const VUS = envNumber('VUS', 1000);
const DURATION_S = envSeconds('DURATION', 60);
const HEARTBEAT_S = envNumber('HEARTBEAT', 30);
const USERS = Math.min(VUS, envNumber('USERS', 100));
const GATEWAY = envNumber('GATEWAY', 1) - 1;

const heartbeats = new Counter('heartbeats_sent');
const serverCloses = new Counter('closed_by_server');
const wsErrors = new Counter('ws_error_events');

export const options = {
  setupTimeout: '300s',
  scenarios: {
    idle: {
      executor: 'per-vu-iterations',
      vus: VUS,
      iterations: 1,
      maxDuration: `${Math.ceil(DURATION_S + 120)}s`,
    },
  },
  thresholds: {
    checks: ['rate>0.999'],
    closed_by_server: ['count==0'],
    ws_connecting: ['p(99)<1000'],
  },
};

export function setup() {
  return { users: registerUsers(USERS, runPrefix(), 8) };
}

export default function (data) {
  const n = exec.scenario.iterationInTest; // 0 .. VUS-1, one iteration per VU
  const me = data.users[n % data.users.length];
  let closing = false;
  const res = ws.connect(
    `${wsBase(GATEWAY)}/chats/ws?token=${encodeURIComponent(me.token)}`,
    {},
    function (socket) {
      socket.on('open', function () {
        // Spread the heartbeats: each socket starts at its own offset within the period.
        socket.setTimeout(
          function () {
            socket.send(JSON.stringify({ type: 'user_activity', payload: {} }));
            heartbeats.add(1);
            socket.setInterval(function () {
              socket.send(JSON.stringify({ type: 'user_activity', payload: {} }));
              heartbeats.add(1);
            }, HEARTBEAT_S * 1000);
          },
          ((n * 7919) % (HEARTBEAT_S * 1000)) + 1,
        );
        socket.setTimeout(function () {
          closing = true;
          socket.close();
        }, DURATION_S * 1000);
      });
      socket.on('message', function (raw) {
        if (JSON.parse(raw).type === 'error') wsErrors.add(1);
      });
      socket.on('close', function () {
        if (!closing) serverCloses.add(1);
      });
    },
  );
  check(res, { 'websocket upgraded (101)': (r) => r && r.status === 101 });
}
