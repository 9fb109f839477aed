/**
 * Upgrades authorised asynchronously must never be shut down right after the
 * 101. uWS v20.30's `res.cork(() => res.upgrade(...))` could do that when the
 * upgrade reallocated the socket in place (gateway/ws.ts `accept`). Heap layout
 * decides when it happens; with the V8 profiler running inside the gateway it
 * happened to the first sockets of every run, so this test runs the gateway
 * under the profiler the benchmark suite uses (`--cpu-prof`), opens a burst of
 * sockets from the first one on, and requires every one of them to stay open
 * and to carry a message.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { api, connectWs, uniqueLogin, type Session, type WsClient } from '../harness/index.js';
import { ackOf, dialog, newClientId, sendText, sharedCluster, sleep } from './realtime.js';

const PAIRS = 60;
const EVENT_MS = 15_000;

// The repository root, from the source file or its compiled copy under dist/.
const root = fileURLToPath(import.meta.url).replace(/(dist\/)?test\/e2e\/ws-upgrade\.test\.(ts|js)$/, '');
const preload = path.join(root, 'bench/lib/cpu-prof-preload.mjs');
const profDir = fs.mkdtempSync(path.join(os.tmpdir(), 'gm-upgrade-prof-'));

const cluster = sharedCluster({
  gateways: 2,
  shards: 1,
  relay: false,
  envFor: (kind) =>
    kind === 'gateway' ? { NODE_OPTIONS: `--import ${preload}`, BENCH_CPU_PROF_DIR: profDir } : undefined,
});
// After the cluster's own `after` (registered first): the gateways write their profiles when they exit.
after(() => fs.rmSync(profDir, { recursive: true, force: true }));

test('a burst of upgrades on fresh gateways under the profiler: every socket stays open and works', async (t) => {
  const [gw1, gw2] = cluster().gateways;
  const client = api(gw1!.url);
  const users: Session[] = await Promise.all(
    Array.from({ length: 2 * PAIRS }, () => client.register(uniqueLogin('up'))),
  );
  const senders = users.slice(0, PAIRS);
  const receivers = users.slice(PAIRS);
  const sockets: WsClient[] = [];
  t.after(() => Promise.all(sockets.map((ws) => ws.close())));
  const open = async (url: string, session: Session) => {
    const ws = await connectWs(url, { token: session.token, timeoutMs: EVENT_MS });
    sockets.push(ws);
    return ws;
  };
  // Every upgrade of the burst is in flight at once, from each gateway's first socket on.
  const pairs = await Promise.all(
    senders.map(async (sender, i) => {
      const receiver = receivers[i]!;
      const [out, inn] = await Promise.all([
        open(`${gw1!.wsUrl}/dialog/${receiver.login}/ws`, sender),
        open(`${gw2!.wsUrl}/dialog/${sender.login}/ws`, receiver),
      ]);
      return { sender, receiver, out, inn };
    }),
  );

  await sleep(500);
  const closedEarly: string[] = [];
  await Promise.all(
    sockets.map(async (ws, i) => {
      const gone = await Promise.race([ws.closed.then((c) => c.code), sleep(0).then(() => null)]);
      if (gone !== null) closedEarly.push(`socket ${i}: ${gone}`);
    }),
  );
  assert.deepEqual(closedEarly, [], 'no socket was closed by the server after its upgrade');

  await Promise.all(
    pairs.map(async ({ sender, receiver, out, inn }) => {
      const clientId = newClientId();
      sendText(out, `hello ${receiver.login}`, { clientId });
      await out.next(ackOf(clientId), EVENT_MS);
      const got = await inn.next(
        (e) => e.type === 'new_message' && e.payload.sender === sender.login,
        EVENT_MS,
      );
      assert.equal(got.payload.text, `hello ${receiver.login}`);
      assert.deepEqual(got.payload.chat, dialog(sender.login));
    }),
  );
});
