import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseArgs, parseStores } from './args.js';

test('flags take a value after a space or an equals sign; a bare flag has none', () => {
  const a = parseArgs(['dialog', '--store', 'cassandra', '--only=dialog,rest-history', '--quick']);
  assert.deepEqual(a.positional, ['dialog']);
  assert.equal(a.string('store'), 'cassandra');
  assert.equal(a.string('only'), 'dialog,rest-history');
  assert.ok(a.has('quick'));
  assert.equal(a.string('quick'), undefined);
  assert.equal(a.number('rate', 2000), 2000);
  assert.throws(() => parseArgs(['--rate', 'fast']).number('rate', 1), /--rate must be a number/);
});

test('--store: SQLite alone by default; cassandra adds a Cassandra run beside the SQLite one', () => {
  assert.deepEqual(parseStores(undefined), ['sqlite']);
  assert.deepEqual(parseStores('sqlite'), ['sqlite']);
  assert.deepEqual(parseStores('cassandra'), ['sqlite', 'cassandra']);
  assert.deepEqual(parseStores('Cassandra'), ['sqlite', 'cassandra']);
  assert.deepEqual(parseStores('sqlite, cassandra'), ['sqlite', 'cassandra']);
  assert.deepEqual(parseStores('cassandra,sqlite'), ['sqlite', 'cassandra']);
  assert.throws(() => parseStores('postgres'), /unknown store "postgres"/);
  assert.throws(() => parseStores('sqlite,scylla'), /unknown store "scylla"/);
});
