import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { AddressPool } from './addresses.js';
import { Timeline } from './timeline.js';

test('addresses stay inside 127.0.0.0/8, avoid 127.0.0.1 and never repeat', () => {
  const seen = new Set<string>();
  for (let n = 0; n < 70_000; n++) {
    const a = AddressPool.nth(n);
    const parts = a.split('.').map(Number);
    assert.equal(parts[0], 127);
    assert.ok(parts[1]! >= 10 && parts[3]! >= 1 && parts[3]! <= 254, a);
    assert.ok(!seen.has(a), `${a} repeated`);
    seen.add(a);
  }
});

test('a pool changes address every perAddress sockets, blocks are disjoint', () => {
  const p = new AddressPool(3);
  assert.equal(p.addressFor(0), '127.10.0.1');
  assert.equal(p.addressFor(2), '127.10.0.1');
  assert.equal(p.addressFor(3), '127.10.0.2');
  assert.equal(p.addressesFor(7), 3);
  const q = new AddressPool(3, 1);
  assert.notEqual(q.addressFor(0), p.addressFor(0));
});

test('a socket bound to a pool address reaches a server on 127.0.0.1 from that address', async () => {
  const addr = new AddressPool(1, 7).addressFor(5);
  const server = net.createServer();
  const seen = new Promise<string | undefined>((resolve) =>
    server.once('connection', (c) => {
      resolve(c.remoteAddress);
      c.destroy();
    }),
  );
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  const client = net.connect({ host: '127.0.0.1', port, localAddress: addr });
  client.on('error', () => {});
  assert.equal(await seen, addr);
  client.destroy();
  await new Promise((r) => server.close(r));
});

test('timeline counts events per slot from its start', () => {
  const t = new Timeline(1000, 500);
  t.add(999);
  t.add(1000);
  t.add(1499, 2);
  t.add(2600);
  assert.deepEqual(t.counts(), [3, 0, 0, 1]);
  assert.deepEqual(t.rates(), [6, 0, 0, 2]);
  assert.deepEqual(Timeline.sumCounts([[1, 2], [3], []]), [4, 2]);
});
