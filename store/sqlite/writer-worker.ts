/**
 * Body of the SQLite writer thread (see writer-thread.ts): commits every write
 * received since the previous commit in one transaction and reports each
 * write's outcome.
 */
import { parentPort, receiveMessageOnPort, workerData } from 'node:worker_threads';
import { SqliteMessageStore } from '../message-store.sqlite.js';
import { openSqliteDatabase } from './database.js';
import type { SqliteWrite, WriterReply, WriterRequest } from './writer-thread.js';

const port = parentPort!;
const db = openSqliteDatabase((workerData as { path: string }).path);
const messages = new SqliteMessageStore(db, false);

let queue: { id: number; write: SqliteWrite }[] = [];
let closing = false;
let scheduled = false;

function take(request: WriterRequest): void {
  if (request.kind === 'close') closing = true;
  else for (const w of request.writes) queue.push(w);
}

function commit(): void {
  scheduled = false;
  // Everything that arrived while the previous commit waited for its fsync joins this one.
  for (let m = receiveMessageOnPort(port); m; m = receiveMessageOnPort(port))
    take(m.message as WriterRequest);
  const batch = queue;
  queue = [];
  if (batch.length > 0) {
    const started = performance.now();
    const outcomes = messages.commitWrites(batch.map((w) => w.write));
    const reply: WriterReply = {
      ms: performance.now() - started,
      results: batch.map((w, i) => {
        const outcome = outcomes[i];
        if (Array.isArray(outcome)) return outcome.length > 0 ? { id: w.id, refused: outcome } : { id: w.id };
        const err = outcome instanceof Error ? outcome : new Error('store writer: no outcome');
        const code = (err as { code?: unknown }).code;
        return {
          id: w.id,
          error: { name: err.name, message: err.message, ...(typeof code === 'string' ? { code } : {}) },
        };
      }),
    };
    port.postMessage(reply);
  }
  if (closing) {
    db.close();
    port.close();
  }
}

port.on('message', (request: WriterRequest) => {
  take(request);
  if (!scheduled) {
    scheduled = true;
    setImmediate(commit);
  }
});
