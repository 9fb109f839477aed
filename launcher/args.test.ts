import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseArgs } from './args.js';

test('defaults: one gateway and one shard on 127.0.0.1:8080, data in ./data', () => {
  assert.deepEqual(parseArgs([]), {
    gateways: 1,
    shards: 1,
    port: 8080,
    host: '127.0.0.1',
    data: './data',
    readyTimeoutMs: 60_000,
    store: 'sqlite',
    help: false,
  });
});

test('--store picks the message store; anything but sqlite or cassandra is refused', () => {
  assert.equal(parseArgs(['--store', 'cassandra']).store, 'cassandra');
  assert.equal(parseArgs(['--store=sqlite']).store, 'sqlite');
  assert.throws(() => parseArgs(['--store', 'mongo']), /--store must be sqlite or cassandra, got "mongo"/);
  assert.throws(() => parseArgs(['--store']), /--store must be sqlite or cassandra, got nothing/);
});

test('flags take a separate or an = value', () => {
  const options = parseArgs([
    '--gateways',
    '2',
    '--shards=3',
    '--port',
    '9000',
    '--host=0.0.0.0',
    '--ready-timeout',
    '5',
  ]);
  assert.equal(options.gateways, 2);
  assert.equal(options.shards, 3);
  assert.equal(options.port, 9000);
  assert.equal(options.host, '0.0.0.0');
  assert.equal(options.readyTimeoutMs, 5000);
  assert.equal(parseArgs(['-h']).help, true);
});

test('bad values name the flag', () => {
  assert.throws(() => parseArgs(['--shards', '0']), /--shards must be an integer in \[1, 64\], got "0"/);
  assert.throws(() => parseArgs(['--port']), /--port must be an integer .* got nothing/);
  assert.throws(() => parseArgs(['--gateways', 'two']), /--gateways/);
  assert.throws(() => parseArgs(['--verbose']), /unknown option --verbose/);
});
