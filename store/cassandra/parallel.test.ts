import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { sleep } from '../../common/time.js';
import { KeyedSerializer, mapLimit, settleAll } from './parallel.js';

describe('mapLimit', () => {
  it('keeps input order and never exceeds the limit', async () => {
    let running = 0;
    let peak = 0;
    const out = await mapLimit([5, 1, 4, 2, 3, 0], 2, async (n) => {
      running++;
      peak = Math.max(peak, running);
      await sleep(n);
      running--;
      return n * 10;
    });
    assert.deepEqual(out, [50, 10, 40, 20, 30, 0]);
    assert.equal(peak, 2);
    assert.deepEqual(await mapLimit([], 4, async (n: number) => n), []);
  });

  it('starts nothing after a failure, lets pending calls finish, then rethrows the first error', async () => {
    const started: number[] = [];
    const finished: number[] = [];
    await assert.rejects(
      mapLimit([1, 2, 3, 4, 5], 2, async (n) => {
        started.push(n);
        if (n === 1) throw new Error('boom 1');
        await sleep(5);
        finished.push(n);
        return n;
      }),
      /boom 1/,
    );
    assert.deepEqual(started, [1, 2]);
    assert.deepEqual(finished, [2]);
  });
});

describe('settleAll', () => {
  it('waits for every task before rethrowing the first failure', async () => {
    let slowDone = false;
    const slow = sleep(10).then(() => {
      slowDone = true;
    });
    await assert.rejects(settleAll([Promise.reject(new Error('first')), slow]), /first/);
    assert.equal(slowDone, true);
    assert.deepEqual(await settleAll([Promise.resolve(1), Promise.resolve(2)]), [1, 2]);
  });
});

describe('KeyedSerializer', () => {
  it('runs tasks of one key in call order, one at a time, whatever their outcome', async () => {
    const serial = new KeyedSerializer();
    const log: string[] = [];
    const task =
      (name: string, ms: number, fail = false) =>
      async () => {
        log.push(`start ${name}`);
        await sleep(ms);
        log.push(`end ${name}`);
        if (fail) throw new Error(name);
        return name;
      };
    const results = await Promise.allSettled([
      serial.run('a', task('a1', 15, true)),
      serial.run('a', task('a2', 1)),
      serial.run('b', task('b1', 5)),
    ]);
    assert.deepEqual(
      results.map((r) => r.status),
      ['rejected', 'fulfilled', 'fulfilled'],
    );
    assert.ok(log.indexOf('end a1') < log.indexOf('start a2'));
    assert.ok(log.indexOf('start b1') < log.indexOf('end a1'), 'other keys do not wait');
    await sleep(0);
    assert.equal(serial.size, 0);
  });
});
