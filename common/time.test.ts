import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isoTime } from './time.js';

test('isoTime renders RFC 3339 UTC with milliseconds, repeated and alternating values alike', () => {
  const values = [1_764_041_723_123, 1_764_041_723_123, 1_764_041_723_124, 1_764_041_723_123, 1];
  for (const ms of values) assert.equal(isoTime(ms), new Date(ms).toISOString());
  assert.equal(isoTime(0), null);
  assert.equal(isoTime(null), null);
  assert.equal(isoTime(undefined), null);
});
