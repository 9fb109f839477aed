import assert from 'node:assert/strict';
import { test } from 'node:test';
import { OneTurn, SerialTurn, TurnBatch } from './turn.js';

const nextTurn = () => new Promise((r) => setImmediate(r));

test('OneTurn runs once at the end of the turn however often it is scheduled', async () => {
  let runs = 0;
  const turn = new OneTurn(() => runs++);
  turn.schedule();
  turn.schedule();
  assert.equal(turn.pending, true);
  assert.equal(runs, 0);
  await nextTurn();
  assert.equal(runs, 1);
  assert.equal(turn.pending, false);
  turn.schedule();
  await nextTurn();
  assert.equal(runs, 2);
});

test('TurnBatch hands one turn’s items over together, in order', async () => {
  const batches: number[][] = [];
  const batch = new TurnBatch<number>((items) => batches.push(items));
  batch.add(1);
  batch.add(2);
  await nextTurn();
  batch.add(3);
  await nextTurn();
  assert.deepEqual(batches, [[1, 2], [3]]);
});

test('SerialTurn never overlaps flushes and takes what was queued meanwhile', async () => {
  const queue: number[] = [];
  const flushed: number[][] = [];
  let active = 0;
  const turn = new SerialTurn(async () => {
    active++;
    assert.equal(active, 1, 'flushes do not overlap');
    const items = queue.splice(0);
    await new Promise((r) => setTimeout(r, 5));
    flushed.push(items);
    active--;
  });
  const add = (n: number) => {
    queue.push(n);
    turn.schedule();
  };
  add(1);
  while (active === 0) await nextTurn();
  add(2);
  add(3);
  await turn.drain(() => queue.length > 0);
  assert.deepEqual(flushed, [[1], [2, 3]]);

  let retries = 0;
  const retrying = new SerialTurn(async () => {
    if (++retries < 3) retrying.scheduleNext();
  });
  retrying.schedule();
  await retrying.drain(() => false);
  assert.equal(retries, 3);
});
