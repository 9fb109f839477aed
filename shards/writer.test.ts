/**
 * The shard's group commit on its own: one store call per batch, waiters settled in queue order and by
 * chat, fencing between two claims of one chat, and mark raises merged per chat and user. A recording
 * store shows the calls; the real SQLite store (in memory) shows the fence end to end.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  ChatWriteError,
  FencedError,
  type Claim,
  type Marks,
  type MessageStore,
  type Store,
  type StoredMessage,
} from '../store/index.js';
import { openSqliteStore } from '../store/store.sqlite.js';
import { GroupWriter } from './writer.js';

interface Calls {
  appends: { messages: StoredMessage[]; claims: Map<string, Claim> }[];
  marks: { chatId: string; marks: Marks[]; claim?: Claim }[][];
}

/** A store whose message writes are recorded; `fail` decides what an append rejects with. */
function recordingStore(fail: (messages: readonly StoredMessage[]) => Error | null = () => null) {
  const calls: Calls = { appends: [], marks: [] };
  const messages: Partial<MessageStore> = {
    async append(list, claims) {
      calls.appends.push({ messages: [...list], claims: new Map(claims) });
      const err = fail(list);
      if (err) throw err;
    },
    async saveMarksBatch(batch) {
      calls.marks.push(batch.map((b) => ({ ...b, marks: [...b.marks] })));
    },
  };
  return { store: { messages } as Store, calls };
}

const msg = (chatId: string, id: number): StoredMessage => ({
  chatId,
  id,
  sender: 'a',
  text: `m${id}`,
  time: 1,
  clientId: null,
});
const always = () => true;
const claim = (fence: number): Claim => ({ fence, state: null });

test('the writes of one turn go in one append and one marks batch, issued together', async () => {
  const { store, calls } = recordingStore();
  const writer = new GroupWriter(store);
  // One claim per actor: the writer tells actors apart by their claim.
  const dialog = claim(1);
  const group = claim(4);
  const done: string[] = [];
  await Promise.all([
    writer.append(msg('d:a:b', 1), always, dialog).then(() => done.push('d1')),
    writer.append(msg('g:x', 1), always, group).then(() => done.push('g1')),
    writer.append(msg('d:a:b', 2), always, dialog).then(() => done.push('d2')),
    writer.saveMarks('d:a:b', { login: 'b', deliveredId: 2, readId: 0 }, dialog),
    writer.saveMarks('d:a:b', { login: 'b', deliveredId: 1, readId: 1 }, dialog),
  ]);
  assert.equal(calls.appends.length, 1);
  assert.deepEqual(
    calls.appends[0]!.messages.map((m) => `${m.chatId}/${m.id}`),
    ['d:a:b/1', 'g:x/1', 'd:a:b/2'],
  );
  assert.deepEqual(Object.fromEntries(calls.appends[0]!.claims), { 'd:a:b': dialog, 'g:x': group });
  assert.deepEqual(done, ['d1', 'g1', 'd2'], 'waiters resolve in queue order');
  assert.deepEqual(calls.marks, [
    [{ chatId: 'd:a:b', marks: [{ login: 'b', deliveredId: 2, readId: 1 }], claim: dialog }],
  ]);
});

test('a write no longer allowed is refused before the batch; the rest is written', async () => {
  const { store, calls } = recordingStore();
  const writer = new GroupWriter(store);
  const refused = writer.append(msg('d:a:b', 1), () => false);
  const written = writer.append(msg('g:x', 1), always);
  await assert.rejects(refused, /no longer allowed/);
  await written;
  assert.deepEqual(
    calls.appends.map((a) => a.messages.map((m) => m.chatId)),
    [['g:x']],
  );
});

test('two claims of one chat in one batch: only the newer writes', async () => {
  const { store, calls } = recordingStore();
  const writer = new GroupWriter(store);
  const old1 = writer.append(msg('d:a:b', 5), always, claim(1));
  const newer = writer.append(msg('d:a:b', 5), always, claim(2));
  const old2 = writer.append(msg('d:a:b', 6), always, claim(1));
  await assert.rejects(old1, FencedError);
  await assert.rejects(old2, FencedError);
  await newer;
  assert.deepEqual(
    calls.appends[0]!.messages.map((m) => m.id),
    [5],
  );
  assert.equal(calls.appends[0]!.claims.get('d:a:b')!.fence, 2);
  // Marks under an older claim ride with the newest claim of the chat (marks only rise).
  await Promise.all([
    writer.saveMarks('d:a:b', { login: 'a', deliveredId: 1, readId: 0 }, claim(2)),
    writer.saveMarks('d:a:b', { login: 'b', deliveredId: 3, readId: 0 }, claim(1)),
  ]);
  assert.equal(calls.marks[0]![0]!.claim!.fence, 2);
});

test('an append that failed for some chats rejects only their waiters', async () => {
  const { store } = recordingStore(() => new ChatWriteError(new Map([['g:x', new FencedError('g:x')]])));
  const writer = new GroupWriter(store);
  const ok = writer.append(msg('d:a:b', 1), always);
  const fenced = writer.append(msg('g:x', 1), always);
  await ok;
  await assert.rejects(fenced, FencedError);

  const down = recordingStore(() => new Error('disk full'));
  const writer2 = new GroupWriter(down.store);
  const results = await Promise.allSettled([
    writer2.append(msg('d:a:b', 1), always),
    writer2.append(msg('g:x', 1), always),
  ]);
  assert.deepEqual(
    results.map((r) => r.status),
    ['rejected', 'rejected'],
  );
});

test('drain waits for what is queued, including writes queued while one is in flight', async () => {
  const { store, calls } = recordingStore();
  const writer = new GroupWriter(store);
  void writer.append(msg('d:a:b', 1), always);
  await new Promise((r) => setImmediate(r));
  void writer.append(msg('d:a:b', 2), always);
  await writer.drain();
  assert.deepEqual(
    calls.appends.flatMap((a) => a.messages.map((m) => m.id)),
    [1, 2],
  );
});

test('on the SQLite store, a writer whose chat was claimed again is fenced', async (t) => {
  const store = await openSqliteStore(':memory:');
  t.after(() => store.close());
  const writer = new GroupWriter(store);
  const first = (await store.messages.claim(['d:a:b'])).get('d:a:b')!;
  await writer.append(msg('d:a:b', 1), always, first);
  const second = (await store.messages.claim(['d:a:b'])).get('d:a:b')!;
  assert.equal(second.state?.lastId, 1);
  await assert.rejects(writer.append(msg('d:a:b', 2), always, first), FencedError);
  await writer.append(msg('d:a:b', 2), always, second);
  assert.deepEqual(
    (await store.messages.history('d:a:b', { limit: 10 })).map((m) => m.id),
    [1, 2],
  );
});
