/**
 * What the chat fence costs on Cassandra: one local Cassandra 5.0 node
 * (commit log synced per write, as the tests and `npm start -- --store
 * cassandra` run it), `--chats` chats, and rounds of one single-message append
 * per chat, all chats of a round in parallel (a group commit at saturation
 * holds about one message per chat). Two ways to append, alternated:
 *
 * - `read-then-write`, the adapter's append before the fence: read
 *   chat_state.last_id, write the message row, write chat_state;
 * - `fenced`, the adapter's append now (store/message-store.cassandra.ts):
 *   write the message row at the claim's timestamp, then commit chat_state
 *   with one lightweight transaction `IF fence = ? AND last_id = ?`.
 *
 * Prints appends per second and the node's CPU per append (from
 * /proc/<pid>/stat) for each run; the first pair is a warm-up.
 *
 *   npm run bench:fence -- [--chats 100] [--rounds 30] [--pairs 3]
 */
import fs from 'node:fs';
import cassandra from 'cassandra-driver';
import { startCassandraNode } from '../launcher/cassandra-node.js';

function flag(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const value = i >= 0 ? Number(process.argv[i + 1]) : fallback;
  if (!Number.isInteger(value) || value < 1) throw new Error(`--${name} must be a positive integer`);
  return value;
}

const CHATS = flag('chats', 100);
const ROUNDS = flag('rounds', 30);
const PAIRS = flag('pairs', 3);
const { consistencies } = cassandra.types;
const options = {
  prepare: true,
  consistency: consistencies.localQuorum,
  serialConsistency: consistencies.localSerial,
};

/** utime + stime of a process in clock ticks (100 per second on Linux). */
function cpuTicks(pid: number): number {
  const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return Number(fields[11]) + Number(fields[12]);
}

const node = await startCassandraNode({ log: (line) => console.log(line) });
const client = new cassandra.Client({ contactPoints: [node.contactPoint], localDataCenter: 'datacenter1' });
try {
  await client.connect();
  await client.execute(
    "CREATE KEYSPACE fence_bench WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}",
  );
  await client.execute(
    'CREATE TABLE fence_bench.chat_state (chat_id text PRIMARY KEY, fence bigint, last_id bigint, last_body text)',
  );
  await client.execute(
    'CREATE TABLE fence_bench.messages (chat_id text, bucket int, id bigint, body text, PRIMARY KEY ((chat_id, bucket), id))',
  );
  const chats = Array.from({ length: CHATS }, (_, i) => `d:bench:${i}`);
  for (const chat of chats) {
    await client.execute(
      'INSERT INTO fence_bench.chat_state (chat_id, fence, last_id) VALUES (?, 1, 0) IF NOT EXISTS',
      [chat],
      options,
    );
  }
  const timestamp = cassandra.types.Long.ONE.shiftLeft(61).add(cassandra.types.Long.ONE.shiftLeft(32));
  let lastId = 0;

  const appendReadThenWrite = async (chat: string, id: number) => {
    await client.execute('SELECT last_id FROM fence_bench.chat_state WHERE chat_id = ?', [chat], options);
    await client.execute(
      "INSERT INTO fence_bench.messages (chat_id, bucket, id, body) VALUES (?, 0, ?, 'x')",
      [chat, id],
      options,
    );
    await client.execute(
      "UPDATE fence_bench.chat_state SET last_id = ?, last_body = 'x' WHERE chat_id = ?",
      [id, chat],
      options,
    );
  };
  const appendFenced = async (chat: string, id: number) => {
    await client.execute(
      "INSERT INTO fence_bench.messages (chat_id, bucket, id, body) VALUES (?, 0, ?, 'x')",
      [chat, id],
      { ...options, timestamp: timestamp.add(id) },
    );
    const result = await client.execute(
      "UPDATE fence_bench.chat_state SET last_id = ?, last_body = 'x' WHERE chat_id = ? IF fence = 1 AND last_id = ?",
      [id, chat, id - 1],
      options,
    );
    if (!result.wasApplied()) throw new Error(`commit of ${chat} ${id} not applied`);
  };

  const run = async (name: string, append: (chat: string, id: number) => Promise<void>) => {
    const ticks = cpuTicks(node.pid!);
    const started = performance.now();
    for (let round = 0; round < ROUNDS; round++) {
      const id = ++lastId;
      await Promise.all(chats.map((chat) => append(chat, id)));
    }
    const seconds = (performance.now() - started) / 1000;
    const appends = CHATS * ROUNDS;
    const cpuUs = ((cpuTicks(node.pid!) - ticks) * 10_000) / appends;
    console.log(
      `${name.padEnd(16)} ${Math.round(appends / seconds)
        .toString()
        .padStart(6)} appends/s, node CPU ${Math.round(cpuUs)} µs per append`,
    );
    return { rate: appends / seconds, cpuUs };
  };

  await run('read-then-write', appendReadThenWrite);
  await run('fenced', appendFenced);
  console.log('(warm-up above)');
  const ratios: string[] = [];
  for (let pair = 0; pair < PAIRS; pair++) {
    const plain = await run('read-then-write', appendReadThenWrite);
    const fenced = await run('fenced', appendFenced);
    ratios.push(
      `${(fenced.rate / plain.rate).toFixed(2)}× the rate, ${(fenced.cpuUs / plain.cpuUs).toFixed(2)}× the CPU`,
    );
  }
  console.log(`fenced / read-then-write: ${ratios.join('; ')}`);
} finally {
  await client.shutdown();
  await node.stop();
}
