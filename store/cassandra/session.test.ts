/**
 * The driver-independent parts of the session: row decoders over the value
 * types cassandra-driver produces (Long for bigint, Date for timestamp,
 * Buffer for blob, null for unset) and the consistency mapping.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { types } from 'cassandra-driver';
import {
  blob,
  bool,
  isConsistencyName,
  millis,
  num,
  optMillis,
  optNum,
  optText,
  serialFor,
  text,
} from './session.js';

/** A result row as the driver exposes it to the decoders (they only call `get`). */
function row(values: Record<string, unknown>): types.Row {
  return {
    get: (name: string | number) => values[String(name)],
    keys: () => Object.keys(values),
    forEach: () => undefined,
    values: () => Object.values(values),
  };
}

describe('row decoders', () => {
  const r = row({
    login: 'alice',
    id: types.Long.fromNumber(9_007_199_254_740_991),
    small: 42,
    big: 12n,
    at: new Date(1_712_345_678_901),
    flag: false,
    bucket: Buffer.from([0x41, 0x6c]),
    unset: null,
  });

  it('read each column type as the ports want it', () => {
    assert.equal(text(r, 'login'), 'alice');
    assert.equal(num(r, 'id'), 9_007_199_254_740_991);
    assert.equal(num(r, 'small'), 42);
    assert.equal(num(r, 'big'), 12);
    assert.equal(millis(r, 'at'), 1_712_345_678_901);
    assert.equal(bool(r, 'flag'), false);
    assert.deepEqual(blob(r, 'bucket'), Buffer.from('Al'));
  });

  it('map unset columns to null in the optional decoders', () => {
    assert.equal(optText(r, 'unset'), null);
    assert.equal(optNum(r, 'unset'), null);
    assert.equal(optMillis(r, 'unset'), null);
    assert.equal(optText(r, 'missing'), null);
    assert.equal(optNum(r, 'id'), 9_007_199_254_740_991);
  });

  it('throw, naming the column, when a value has an unexpected type', () => {
    assert.throws(() => text(r, 'unset'), /column unset holds object where text was expected/);
    assert.throws(() => num(r, 'login'), /column login holds string/);
    assert.throws(() => millis(r, 'small'), /column small holds number where timestamp/);
    assert.throws(() => bool(r, 'login'), /boolean/);
    assert.throws(() => blob(r, 'login'), /blob/);
  });
});

describe('consistency', () => {
  it('accepts exactly the configurable levels', () => {
    for (const level of ['ONE', 'LOCAL_ONE', 'QUORUM', 'LOCAL_QUORUM', 'ALL'])
      assert.ok(isConsistencyName(level));
    for (const level of ['', 'TWO', 'SERIAL', 'local_quorum', 'EACH_QUORUM', 'toString']) {
      assert.ok(!isConsistencyName(level), level);
    }
  });

  it('uses LOCAL_SERIAL for Paxos when the level is datacenter-local, SERIAL otherwise', () => {
    assert.equal(serialFor('LOCAL_QUORUM'), types.consistencies.localSerial);
    assert.equal(serialFor('LOCAL_ONE'), types.consistencies.localSerial);
    assert.equal(serialFor('QUORUM'), types.consistencies.serial);
    assert.equal(serialFor('ONE'), types.consistencies.serial);
    assert.equal(serialFor('ALL'), types.consistencies.serial);
  });
});
