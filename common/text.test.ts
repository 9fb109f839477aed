import assert from 'node:assert/strict';
import { test } from 'node:test';
import { codePointLength, longerThan } from './text.js';

test('codePointLength counts what [...s].length counts', () => {
  const samples = [
    '',
    'hello',
    'héllo wörld',
    '😀',
    'a😀b😀c',
    '👩‍👩‍👧‍👦',
    '\ud83d', // lone high surrogate
    '\ude00x', // lone low surrogate
    'x\ud83d\ud83d\ude00', // high, then a pair
    '\ud83d'.repeat(3) + '\ude00',
    '𝕏'.repeat(5000),
  ];
  for (const s of samples) assert.equal(codePointLength(s), [...s].length, JSON.stringify(s.slice(0, 12)));
});

test('longerThan compares code points, not UTF-16 units', () => {
  assert.equal(longerThan('a'.repeat(4096), 4096), false);
  assert.equal(longerThan('a'.repeat(4097), 4096), true);
  assert.equal(longerThan('😀'.repeat(4096), 4096), false, '8,192 UTF-16 units, 4,096 characters');
  assert.equal(longerThan('😀'.repeat(4096) + 'a', 4096), true);
});
