/**
 * `npm start -- --store cassandra` end to end: the launcher starts a local
 * Cassandra node of its own (no CASSANDRA_CONTACT_POINTS), the services
 * migrate the keyspace and serve the web client, a message sent over a
 * WebSocket is read back through the API and straight from Cassandra's
 * `messages` table, and SIGTERM stops every process with the node last.
 * Runs where the test run can start Cassandra (the runner names it in
 * TEST_CASSANDRA_CONTACT_POINTS); the launcher's node is a second one.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import cassandra from 'cassandra-driver';
import { api, cleanEnv, connectWs, TEST_ENV, uniqueLogin } from '../test/harness/index.js';
import { cassandraMissing, testCassandra } from '../test/harness/cassandra.js';
import { removeDir, trackDir, trackPid } from '../test/harness/cleanup.js';
import { alive, launch } from '../test/harness/launched.js';
import { releasePorts, reservePort } from './ports.js';

const node = testCassandra();
if ('unavailable' in node) {
  cassandraMissing('npm start -- --store cassandra', node.unavailable);
} else {
  test(
    'npm start -- --store cassandra: a local node of its own, history kept in Cassandra, stopped last',
    { timeout: 300_000 },
    async (t) => {
      const data = fs.mkdtempSync(path.join(os.tmpdir(), 'gm-launcher-cass-'));
      trackDir(data);
      const port = await reservePort();
      t.after(() => {
        releasePorts([port]);
        removeDir(data);
      });
      const run = launch(['--store', 'cassandra', '--port', String(port), '--data', data], {
        ...cleanEnv(),
        ...TEST_ENV,
      });
      t.after(() => run.child.kill('SIGKILL'));
      const ready = await run.waitFor(/^Cassandra 5\.0\.\d+ ready on 127\.0\.0\.1:\d+/, 240_000);
      const contactPoint = /127\.0\.0\.1:\d+/.exec(ready.msg!)![0];
      const pidLine = fs.readFileSync(path.join(data, 'cassandra', 'cassandra.pid'), 'utf8');
      const cassandraPid = Number(pidLine.trim());
      trackPid(cassandraPid);
      await run.waitFor(/^gmessenger is up/, 120_000);

      const base = `http://127.0.0.1:${port}`;
      const page = await fetch(`${base}/`);
      assert.equal(page.status, 200);
      assert.match(await page.text(), /<!doctype html>/i);
      const client = api(base);
      const [a, b] = [await client.register(uniqueLogin('ca')), await client.register(uniqueLogin('cb'))];
      const ws = await connectWs(`ws://127.0.0.1:${port}/dialog/${b.login}/ws`, { token: a.token });
      ws.send({ type: 'send_message', payload: { text: 'kept in cassandra', client_id: 'k1' } });
      const ack = await ws.next((e) => e.type === 'new_message' && e.payload.client_id === 'k1', 20_000);
      assert.equal(ack.payload.id, 1);
      await ws.close();
      const history = await client.request<{ text: string }[]>('GET', `/dialog/${a.login}`, {
        token: b.token,
      });
      assert.deepEqual(
        history.json?.map((m) => m.text),
        ['kept in cassandra'],
      );

      const direct = new cassandra.Client({ contactPoints: [contactPoint], localDataCenter: 'datacenter1' });
      try {
        const rows = await direct.execute(
          'SELECT id, body FROM gmessenger.messages WHERE chat_id = ? AND bucket = 0',
          [[a.login, b.login].sort().join(':').replace(/^/, 'd:')],
          { prepare: true },
        );
        assert.deepEqual(
          rows.rows.map((r) => [Number(r.get('id')), r.get('body')]),
          [[1, 'kept in cassandra']],
        );
      } finally {
        await direct.shutdown();
      }

      run.child.kill('SIGTERM');
      assert.equal(await run.exit, 0);
      const stopped = run.lines.filter((l) => / stopped$/.test(l.msg ?? '')).map((l) => l.msg);
      assert.equal(stopped.at(-1), 'cassandra stopped', `the node stops last: ${stopped.join(', ')}`);
      assert.equal(alive(cassandraPid), false, 'the Cassandra JVM is gone');
    },
  );
}
