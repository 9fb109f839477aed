/**
 * The SQLite store's writer thread. better-sqlite3 is synchronous, so a commit
 * with synchronous=FULL holds the event loop for the whole fsync; the shard,
 * which commits continuously, would stop serving requests and fanning out
 * meanwhile. Message appends and mark raises of a file-backed store are
 * therefore committed by a worker thread with its own connection:
 *
 * - writes requested during one turn of the caller's event loop travel as one
 *   message, and the worker commits every write it has received since its
 *   previous commit in one transaction (one fsync), so batches grow with load
 *   and an idle store commits at once;
 * - a write resolves only after its transaction committed (the same durability
 *   as an inline commit); if a shared transaction fails, the worker retries
 *   each write alone, so a failing write rejects by itself and stores nothing.
 *
 * The worker is started on the first write (processes that only read never
 * start it) and does not keep the process alive while idle.
 */
import { Worker } from 'node:worker_threads';
import type { Marks, StoredMessage } from '../types.js';

export type SqliteWrite =
  | {
      kind: 'append';
      messages: readonly StoredMessage[];
      /** [chat, fence] pairs: those chats are written only while their fence is still that value. */
      fences?: readonly (readonly [string, number])[];
    }
  | { kind: 'marks'; batch: readonly { chatId: string; marks: readonly Marks[] }[] };

/** Main thread → worker. */
export type WriterRequest =
  { kind: 'writes'; writes: { id: number; write: SqliteWrite }[] } | { kind: 'close' };

/** Worker → main thread: the outcome of each write of one commit, and how long the commit took. */
export interface WriterReply {
  ms: number;
  results: {
    id: number;
    error?: { name: string; message: string; code?: string };
    /** Chats of an append left unwritten because their fence was raised. */
    refused?: string[];
  }[];
}

/** What a committed write reports. */
export interface WriteOutcome {
  ms: number;
  refused: readonly string[];
}

interface Pending {
  resolve: (outcome: WriteOutcome) => void;
  reject: (err: Error) => void;
}

/** Starts the worker module next to this one: compiled in dist/, or as source (tests run through tsx). */
function startWorker(path: string): Worker {
  // The parent's own flags (an -e script, its loaders) are not the worker's.
  const options = { workerData: { path }, execArgv: [] };
  if (!import.meta.url.endsWith('.ts'))
    return new Worker(new URL('./writer-worker.js', import.meta.url), options);
  const tsx = import.meta.resolve('tsx/esm/api');
  const source = new URL('./writer-worker.ts', import.meta.url).href;
  return new Worker(
    `import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(source)}); });`,
    { ...options, eval: true },
  );
}

export class SqliteWriterThread {
  private worker: Worker | null = null;
  private readonly pending = new Map<number, Pending>();
  private outbox: { id: number; write: SqliteWrite }[] = [];
  private seq = 0;
  private closed = false;

  constructor(private readonly path: string) {}

  /**
   * Commits `write` durably on the writer thread; resolves with the duration of its commit in ms and the
   * chats it refused (fenced).
   */
  write(write: SqliteWrite): Promise<WriteOutcome> {
    if (this.closed) return Promise.reject(new TypeError('The database connection is not open'));
    return new Promise<WriteOutcome>((resolve, reject) => {
      const id = ++this.seq;
      this.pending.set(id, { resolve, reject });
      this.outbox.push({ id, write });
      if (this.outbox.length === 1) queueMicrotask(() => this.post());
    });
  }

  private post(): void {
    const writes = this.outbox;
    this.outbox = [];
    if (writes.length === 0) return;
    const worker = this.start();
    worker.ref();
    worker.postMessage({ kind: 'writes', writes } satisfies WriterRequest);
  }

  private start(): Worker {
    if (this.worker) return this.worker;
    const worker = startWorker(this.path);
    worker.on('message', (reply: WriterReply) => {
      for (const r of reply.results) {
        const p = this.pending.get(r.id);
        if (!p) continue;
        this.pending.delete(r.id);
        if (r.error) p.reject(Object.assign(new Error(r.error.message), r.error));
        else p.resolve({ ms: reply.ms, refused: r.refused ?? [] });
      }
      if (this.pending.size === 0) worker.unref();
    });
    const fail = (err: Error) => {
      if (this.worker !== worker) return;
      this.worker = null;
      const lost = [...this.pending.values()];
      this.pending.clear();
      for (const p of lost) p.reject(err);
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`store writer thread exited (code ${code})`)));
    this.worker = worker;
    return worker;
  }

  /** Lets the writes in flight finish, then closes the worker's connection and stops it. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.post();
    const worker = this.worker;
    if (!worker) return;
    const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
    worker.ref();
    worker.postMessage({ kind: 'close' } satisfies WriterRequest);
    await exited;
  }
}
