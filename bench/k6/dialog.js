// Dialog throughput and latency with k6: VUS/2 pairs; in each pair the sender
// (odd VU) is on the first gateway of BASE_URL and the receiver (even VU) on
// the second, so every message crosses gateways. Each sender sends RATE
// messages per second for DURATION; message_delay_ms is measured by the
// receiver from the send time the sender stamps in the text.
//
//   k6 run -e BASE_URL=http://127.0.0.1:8080,http://127.0.0.1:8081 -e VUS=100 -e DURATION=30s -e RATE=20 bench/k6/dialog.js
import ws from 'k6/ws';
import exec from 'k6/execution';
import { check } from 'k6';
import { Counter, Trend } from 'k6/metrics';
import {
  clientId,
  delayOf,
  envNumber,
  envSeconds,
  registerUsers,
  runPrefix,
  sendEvent,
  stampedText,
  wsBase,
} from './lib.js';

const VUS = Math.max(2, Math.floor(envNumber('VUS', 100) / 2) * 2);
const DURATION_S = envSeconds('DURATION', 30);
const RATE = envNumber('RATE', 20); // messages per second per sender
const SIZE = envNumber('SIZE', 64);

const messageDelay = new Trend('message_delay_ms', true);
const ackDelay = new Trend('ack_delay_ms', true);
const sent = new Counter('messages_sent');
const acked = new Counter('messages_acked');
const delivered = new Counter('messages_delivered');
const wsErrors = new Counter('ws_error_events');

export const options = {
  setupTimeout: '300s',
  scenarios: {
    dialogs: {
      executor: 'per-vu-iterations',
      vus: VUS,
      iterations: 1,
      maxDuration: `${Math.ceil(DURATION_S + 60)}s`,
    },
  },
  thresholds: {
    message_delay_ms: ['p(99)<25', 'p(50)<10'],
    ack_delay_ms: ['p(99)<25'],
    ws_error_events: ['count==0'],
    checks: ['rate>0.99'],
  },
};

export function setup() {
  return { users: registerUsers(VUS, runPrefix(), 8) };
}

export default function (data) {
  const n = exec.scenario.iterationInTest; // 0 .. VUS-1, one iteration per VU
  const pair = Math.floor(n / 2);
  const isSender = n % 2 === 0;
  const me = data.users[2 * pair + (isSender ? 0 : 1)];
  const peer = data.users[2 * pair + (isSender ? 1 : 0)];
  const url = `${wsBase(isSender ? 0 : 1)}/dialog/${peer.login}/ws?token=${encodeURIComponent(me.token)}`;
  let seq = 0;
  let lastId = 0;
  let outOfOrder = 0;
  const res = ws.connect(url, {}, function (socket) {
    socket.on('open', function () {
      if (isSender) {
        // Give the receiver a second to connect, then send at RATE per second.
        socket.setTimeout(function () {
          socket.setInterval(function () {
            socket.send(sendEvent(stampedText(SIZE), clientId(n + 1, ++seq)));
            sent.add(1);
          }, 1000 / RATE);
        }, 1000);
      }
      socket.setTimeout(
        function () {
          socket.close();
        },
        (DURATION_S + (isSender ? 1 : 4)) * 1000,
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
      if (isSender && ev.payload.client_id) {
        acked.add(1);
        ackDelay.add(delay);
      } else if (!isSender) {
        delivered.add(1);
        messageDelay.add(delay);
        if (ev.payload.id <= lastId) outOfOrder++;
        lastId = ev.payload.id;
      }
    });
  });
  check(res, { 'websocket upgraded (101)': (r) => r && r.status === 101 });
  if (!isSender) check(outOfOrder, { 'messages arrived in id order': (n) => n === 0 });
}
