import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { OpenLoopSchedule, driveSchedule } from './schedule.js';

test('message k is due at start + k / rate and the total covers the duration', () => {
  const s = new OpenLoopSchedule(2000, 1000, 10_000);
  assert.equal(s.total, 20_000);
  assert.equal(s.timeOf(0), 1000);
  assert.equal(s.timeOf(2000), 2000);
  assert.equal(s.dueBy(999.9), 0);
  assert.equal(s.dueBy(1000), 1);
  assert.equal(s.dueBy(1000.49), 1);
  assert.equal(s.dueBy(1000.5), 2);
  assert.equal(s.dueBy(1e9), 20_000);
});

test('dueBy counts exactly the messages scheduled at or before now', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 100_000 }),
      fc.integer({ min: 1, max: 60_000 }),
      fc.double({ min: -100, max: 70_000, noNaN: true }),
      (rate, duration, now) => {
        const s = new OpenLoopSchedule(rate, 0, duration);
        const due = s.dueBy(now);
        assert.ok(due >= 0 && due <= s.total);
        if (due > 0) assert.ok(s.timeOf(due - 1) <= now);
        if (due < s.total) assert.ok(s.timeOf(due) > now - 1e-6);
      },
    ),
  );
});

test('senders take turns so each runs at rate / senders', () => {
  const counts = [0, 0, 0];
  for (let k = 0; k < 300; k++) counts[OpenLoopSchedule.senderOf(k, 3)]! += 1;
  assert.deepEqual(counts, [100, 100, 100]);
});

test('the driver sends every message in order, never early, with a virtual clock', async () => {
  let now = 0;
  const sent: [number, number, number][] = [];
  const s = new OpenLoopSchedule(1000, 5, 50);
  const result = await driveSchedule(s, {
    clock: () => (now += 0.7),
    send: (k, at) => sent.push([k, at, now]),
  });
  assert.equal(result.sent, 50);
  assert.equal(sent.length, 50);
  sent.forEach(([k, at, actual], i) => {
    assert.equal(k, i);
    assert.equal(at, 5 + i);
    assert.ok(actual >= at, `message ${k} sent before its time`);
  });
});

test('the driver reports its own lag when it starts late, and stops on abort', async () => {
  const s = new OpenLoopSchedule(100, 0, 1000);
  let c = 500;
  let firstBatch = 0;
  const late = await driveSchedule(s, {
    clock: () => (c += 1),
    send: () => {
      if (c === 501) firstBatch++;
    },
  });
  assert.equal(firstBatch, 51);
  assert.equal(late.sent, 100);
  assert.equal(late.maxLagMs, 501);
  const ac = new AbortController();
  let n = 0;
  let t = 0;
  const r = await driveSchedule(s, {
    clock: () => (t += 10),
    signal: ac.signal,
    send: () => {
      if (++n === 3) ac.abort();
    },
  });
  assert.ok(r.sent >= 3 && r.sent < s.total);
});
