// Group fan-out with k6: one private group of VUS members, all online over
// the gateways of BASE_URL (members alternate), VU 1 sends RATE messages per
// second for DURATION; every other VU records message_delay_ms for each
// message it receives (time from the sender's stamp to this member).
//
//   k6 run -e BASE_URL=http://127.0.0.1:8080,http://127.0.0.1:8081 -e VUS=1000 -e DURATION=20s -e RATE=20 bench/k6/fanout.js
import http from 'k6/http';
import ws from 'k6/ws';
import exec from 'k6/execution';
import { check } from 'k6';
import { Counter, Trend } from 'k6/metrics';
import {
  auth,
  clientId,
  delayOf,
  envNumber,
  envSeconds,
  httpBase,
  registerUsers,
  runPrefix,
  sendEvent,
  stampedText,
  wsBase,
} from './lib.js';

const VUS = Math.max(2, Math.min(1001, envNumber('VUS', 1000)));
const DURATION_S = envSeconds('DURATION', 20);
const RATE = envNumber('RATE', 20);
const SIZE = envNumber('SIZE', 64);

const messageDelay = new Trend('message_delay_ms', true);
const ackDelay = new Trend('ack_delay_ms', true);
const deliveries = new Counter('deliveries');
const sent = new Counter('messages_sent');
const wsErrors = new Counter('ws_error_events');

export const options = {
  setupTimeout: '600s',
  scenarios: {
    fanout: {
      executor: 'per-vu-iterations',
      vus: VUS,
      iterations: 1,
      maxDuration: `${Math.ceil(DURATION_S + 120)}s`,
    },
  },
  thresholds: {
    message_delay_ms: ['p(99)<50'],
    ws_error_events: ['count==0'],
    checks: ['rate>0.99'],
  },
};

export function setup() {
  const users = registerUsers(VUS, runPrefix(), 8);
  const res = http.post(
    `${httpBase(0)}/groups`,
    JSON.stringify({ name: 'k6 fan-out', public: false, members: users.slice(1).map((u) => u.login) }),
    auth(users[0].token, 'POST /groups'),
  );
  check(res, { 'group created (201)': (r) => r.status === 201 });
  return { users, group: res.json('id') };
}

export default function (data) {
  const n = exec.scenario.iterationInTest; // 0 .. VUS-1, one iteration per VU
  const isSender = n === 0;
  const me = data.users[n];
  const url = `${wsBase(n)}/group/${encodeURIComponent(data.group)}/ws?token=${encodeURIComponent(me.token)}`;
  let seq = 0;
  const res = ws.connect(url, {}, function (socket) {
    socket.on('open', function () {
      if (isSender) {
        // Members connect while the sender waits (VUs start together, connecting takes a moment).
        socket.setTimeout(function () {
          socket.setInterval(function () {
            socket.send(sendEvent(stampedText(SIZE), clientId(n + 1, ++seq)));
            sent.add(1);
          }, 1000 / RATE);
        }, 5000);
      }
      socket.setTimeout(
        function () {
          socket.close();
        },
        (DURATION_S + (isSender ? 5 : 10)) * 1000,
      );
    });
    socket.on('message', function (raw) {
      const ev = JSON.parse(raw);
      if (ev.type === 'error') {
        wsErrors.add(1);
        return;
      }
      if (ev.type !== 'new_message') return;
      const delay = delayOf(ev.payload.text || '');
      if (delay < 0) return;
      if (isSender) {
        if (ev.payload.client_id) ackDelay.add(delay);
      } else {
        deliveries.add(1);
        messageDelay.add(delay);
      }
    });
  });
  check(res, { 'websocket upgraded (101)': (r) => r && r.status === 101 });
}
