import { test } from 'node:test';
import assert from 'node:assert/strict';
import { io as ioClient } from 'socket.io-client';
import { Histogram } from '../lib/histogram.js';
import { peerUsers } from '../lib/users.js';
import { runDialog } from '../scenarios/dialog.js';
import { runFanout } from '../scenarios/fanout.js';
import { startPeerCluster } from './cluster.js';
import { connectSio, decodePacket, encodeEvent } from './sio-client.js';
import { SioTransport } from './transport.js';

test('Socket.IO packets encode and decode', () => {
  assert.equal(encodeEvent('send_message', { text: 'hi' }, 7), '427["send_message",{"text":"hi"}]');
  assert.deepEqual(decodePacket('42["new_message",{"id":1}]'), {
    kind: 'event',
    ackId: -1,
    args: ['new_message', { id: 1 }],
  });
  assert.deepEqual(decodePacket('4312[{"id":3}]'), { kind: 'ack', ackId: 12, args: [{ id: 3 }] });
  assert.equal(decodePacket('2'), null);
  assert.equal(decodePacket('40{"sid":"x"}'), null);
});

test('the peer baseline carries dialogs and groups across its two nodes', { timeout: 120_000 }, async (t) => {
  const peer = await startPeerCluster(2);
  t.after(() => peer.stop());
  const transport = new SioTransport(peer.urls);

  await t.test('the minimal client interoperates with the official socket.io-client', async () => {
    const official = ioClient(peer.urls[1]!, {
      transports: ['websocket'],
      query: { user: 'bob', kind: 'dialog', chat: 'alice' },
    });
    t.after(() => official.close());
    await new Promise<void>((resolve, reject) => {
      official.once('connect', resolve);
      official.once('connect_error', reject);
    });
    let arrived = false;
    const got = new Promise<{ text: string; id: number }>((resolve) =>
      official.once('new_message', (m: { text: string; id: number }) => {
        arrived = true;
        resolve(m);
      }),
    );
    let ack: { clientId: string | undefined; id: number } | undefined;
    const mine = await connectSio(
      peer.urls[0]!,
      { user: 'alice', kind: 'dialog', chat: 'bob' },
      { onMessage: (ev) => (ack = { clientId: ev.clientId, id: ev.id }) },
    );
    // The adapter learns of the other node's room members asynchronously; send until one arrives.
    const received = await Promise.race([
      got,
      (async () => {
        for (let i = 0; i < 50 && !arrived; i++) {
          mine.send('hello from the raw client', `c-${i}`);
          await new Promise((r) => setTimeout(r, 100));
        }
        return undefined;
      })(),
    ]);
    assert.ok(received, 'the official client received nothing');
    assert.equal(received.text, 'hello from the raw client');
    // The ack travels back on the sender's own socket and may land after the other node's delivery.
    for (const deadline = Date.now() + 5000; !ack && Date.now() < deadline;) {
      await new Promise((r) => setTimeout(r, 20));
    }
    const acked = ack as { clientId: string | undefined; id: number } | undefined;
    assert.ok(acked && acked.clientId?.startsWith('c-'), 'acknowledged with the client id');
    mine.close();
  });

  await t.test('dialog scenario: everything sent is acknowledged and delivered once', async () => {
    const u = peerUsers(6, 'd');
    const r = await runDialog(transport, u.slice(0, 3), u.slice(3), {
      mode: 'saturate',
      window: 2,
      durationMs: 800,
      graceMs: 3000,
    });
    assert.ok(r.sent > 0);
    assert.equal(r.acked, r.sent);
    assert.equal(r.delivered, r.sent);
    assert.deepEqual([r.lost, r.unacked, r.duplicates, r.outOfOrder], [0, 0, 0, 0]);
    assert.equal(Histogram.fromJSON(r.e2e).count, r.delivered);
  });

  await t.test('fan-out scenario: every member gets every message', async () => {
    const r = await runFanout(transport, peerUsers(5, 'f'), {
      mode: 'rate',
      rate: 20,
      durationMs: 500,
      graceMs: 3000,
    });
    assert.equal(r.sent, 10);
    assert.equal(r.complete, r.sent);
    assert.equal(r.deliveries, r.sent * 4);
    assert.deepEqual([r.incomplete, r.duplicates, r.outOfOrder], [0, 0, 0]);
    assert.equal(Histogram.fromJSON(r.lastMember).count, r.sent);
  });
});
