/**
 * The relay end to end: a cluster of real processes (gateway, shard, relay,
 * presence), WebSocket clients, and a real local HTTP server receiving the
 * webhook. Messages to users without a socket are notified once per window;
 * a user who comes back in time is not; Unsent over gRPC equals catch-up.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, describe, test } from 'node:test';
import { uniqueLogin, type Session } from '../test/harness/index.js';
import {
  chatsSocket,
  dialog,
  eventually,
  ok,
  registerAll,
  sendMessages,
  sleep,
  TEST_TIMEOUT_MS,
  useCluster,
} from '../test/e2e/helpers.js';
import { createRelayClient, verifyWebhook, type NotificationBody } from './index.js';

const SECRET = 'e2e-secret';
const DELAY_MS = 1500;

interface Received {
  body: string;
  json: NotificationBody;
  timestamp: string;
  signature: string;
}

const received: Received[] = [];
const receiver = http.createServer((req, res) => {
  let body = '';
  req.setEncoding('utf8');
  req.on('data', (chunk: string) => (body += chunk));
  req.on('end', () => {
    received.push({
      body,
      json: JSON.parse(body) as NotificationBody,
      timestamp: String(req.headers['x-gmessenger-timestamp']),
      signature: String(req.headers['x-gmessenger-signature']),
    });
    res.writeHead(204).end();
  });
});
await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
after(
  () =>
    new Promise<void>((resolve) => {
      receiver.close(() => resolve());
      receiver.closeAllConnections();
    }),
);

const suite = useCluster({
  relay: true,
  env: {
    NOTIFY_WEBHOOK_URL: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/notify`,
    NOTIFY_WEBHOOK_SECRET: SECRET,
    NOTIFY_DELAY_MS: String(DELAY_MS),
    NOTIFY_COALESCE_MS: '60000',
    PRESENCE_DEBOUNCE_MS: '500',
  },
});
const opts = { timeout: TEST_TIMEOUT_MS };

const to = (login: string) => received.filter((r) => r.json.recipient === login);

async function pair(): Promise<[Session, Session]> {
  const [a, b] = await registerAll(suite.http, [uniqueLogin('ra'), uniqueLogin('rb')]);
  return [a!, b!];
}

describe('offline notifications', () => {
  test('a recipient without a socket gets one signed webhook for a burst', opts, async () => {
    const [alice, bob] = await pair();
    const ws = await chatsSocket(suite.gateway, alice);
    try {
      const acks = await sendMessages(ws, dialog(bob.login), ['first', 'second', 'third']);
      const [hook] = await eventually('webhook for bob', async () =>
        to(bob.login).length ? to(bob.login) : undefined,
      );
      assert.deepEqual(hook!.json, {
        recipient: bob.login,
        chat: { type: 'dialog', id: alice.login },
        sender: alice.login,
        message_id: acks[0]!.payload.id,
        preview: 'first',
      });
      assert.ok(verifyWebhook(SECRET, hook!, hook!.body), 'signature verifies with the shared secret');
      await sleep(DELAY_MS + 1000);
      assert.equal(to(bob.login).length, 1, 'the burst is coalesced');
      assert.equal(to(alice.login).length, 0, 'the sender is online');
    } finally {
      await ws.close();
    }
  });

  test('a recipient who comes back and catches up before it is due is not notified', opts, async () => {
    const [alice, carol] = await pair();
    const ws = await chatsSocket(suite.gateway, alice);
    try {
      await sendMessages(ws, dialog(carol.login), ['are you there?']);
      const carolWs = await chatsSocket(suite.gateway, carol);
      const history = ok(
        await suite.http.request<{ id: number }[]>('GET', `/dialog/${alice.login}?after=0`, {
          token: carol.token,
        }),
      );
      assert.equal(history.length, 1);
      await sleep(DELAY_MS + 1500);
      assert.equal(to(carol.login).length, 0);
      await carolWs.close();
    } finally {
      await ws.close();
    }
  });
});

describe('RelayService.Unsent', () => {
  test('equals what catch-up returns after the delivered mark', opts, async () => {
    const [alice, dave] = await pair();
    const relay = createRelayClient(suite.cluster.relay!.grpcAddr);
    const aliceWs = await chatsSocket(suite.gateway, alice);
    try {
      // dave receives the first two live: his delivered mark reaches them.
      const daveWs = await chatsSocket(suite.gateway, dave);
      const live = await sendMessages(aliceWs, dialog(dave.login), ['one', 'two']);
      await daveWs.take('new_message', 2, 10_000);
      await eventually('delivered mark recorded', async () =>
        (await relay.unsent({ receiver: dave.login })).messages.length === 0 ? true : undefined,
      );
      await daveWs.close();
      await eventually('dave offline', async () => {
        const res = await suite.http.request<{ is_online: boolean }>('GET', `/user/active/${dave.login}`, {
          token: alice.token,
        });
        return res.json?.is_online === false ? true : undefined;
      });
      await sendMessages(aliceWs, dialog(dave.login), ['three', 'four', 'five']);

      // Unsent first: fetching history counts as delivery and advances the mark.
      const unsent = (await relay.unsent({ receiver: dave.login })).messages;
      const lastLive = live[1]!.payload.id!;
      const catchUp = ok(
        await suite.http.request<{ id: number; sender: string; text: string; time: string }[]>(
          'GET',
          `/dialog/${alice.login}?after=${lastLive}`,
          { token: dave.token },
        ),
      );
      assert.deepEqual(
        unsent.map((m) => ({
          id: m.id,
          sender: m.sender,
          text: m.text,
          time: new Date(m.timeMs).toISOString(),
        })),
        catchUp.map((m) => ({ id: m.id, sender: m.sender, text: m.text, time: m.time })),
      );
      assert.deepEqual(
        unsent.map((m) => m.text),
        ['three', 'four', 'five'],
      );
      await eventually('the catch-up advanced the delivered mark', async () =>
        (await relay.unsent({ receiver: dave.login })).messages.length === 0 ? true : undefined,
      );
    } finally {
      relay.close();
      await aliceWs.close();
    }
  });
});
