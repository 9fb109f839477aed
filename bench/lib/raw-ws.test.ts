import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import { RawWebSocket } from './raw-ws.js';

async function server(t: { after(fn: () => Promise<void> | void): void }) {
  const httpServer = http.createServer((_req, res) => res.writeHead(404).end());
  const wss = new WebSocketServer({ noServer: true });
  let next: ((ws: WebSocket) => void) | null = null;
  httpServer.on('upgrade', (req, socket, head) => {
    if (req.url?.startsWith('/refuse')) {
      socket.end('HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => next?.(ws));
  });
  await new Promise<void>((r) => httpServer.listen(0, '127.0.0.1', r));
  t.after(async () => {
    for (const c of wss.clients) c.terminate();
    await new Promise((r) => httpServer.close(r));
  });
  const { port } = httpServer.address() as AddressInfo;
  return {
    url: `ws://127.0.0.1:${port}`,
    accepted: () => new Promise<WebSocket>((r) => (next = r)),
  };
}

test('frames of every length class arrive whole and in order; sends arrive masked correctly', async (t) => {
  const s = await server(t);
  const got: string[] = [];
  const accepted = s.accepted();
  let closedWith = 0;
  const closed = new Promise<void>((resolve) => {
    void RawWebSocket.connect(`${s.url}/x?token=a`, {
      onMessage: (p) => got.push(p.toString()),
      onClose: (code) => {
        closedWith = code;
        resolve();
      },
    }).then((ws) => ws.send('héllo "client"'));
  });
  const peer = await accepted;
  const fromClient = await new Promise<string>((r) => peer.once('message', (d: Buffer) => r(d.toString())));
  assert.equal(fromClient, 'héllo "client"');
  const sizes = [0, 1, 125, 126, 127, 65535, 65536, 200_000];
  for (let round = 0; round < 50; round++) for (const n of sizes) peer.send(`${round}:${'é'.repeat(n >> 1)}`);
  peer.ping();
  peer.close(4001, 'bye');
  await closed;
  assert.equal(got.length, 50 * sizes.length);
  let k = 0;
  for (let round = 0; round < 50; round++)
    for (const n of sizes) assert.equal(got[k++], `${round}:${'é'.repeat(n >> 1)}`);
  assert.equal(closedWith, 4001);
});

test('pings are answered and a refused upgrade rejects with its status', async (t) => {
  const s = await server(t);
  await assert.rejects(
    RawWebSocket.connect(`${s.url}/refuse`, { onMessage: () => {}, onClose: () => {} }),
    /upgrade refused: 403/,
  );
  const accepted = s.accepted();
  const ws = await RawWebSocket.connect(s.url, { onMessage: () => {}, onClose: () => {} });
  const peer = await accepted;
  const pong = new Promise<string>((r) => peer.once('pong', (d: Buffer) => r(d.toString())));
  peer.ping('p1');
  assert.equal(await pong, 'p1');
  const closed = new Promise<number>((r) => peer.once('close', (code: number) => r(code)));
  ws.close();
  assert.equal(await closed, 1000);
});
