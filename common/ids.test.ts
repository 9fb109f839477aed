import assert from 'node:assert/strict';
import { test } from 'node:test';
import { dialogChatId, dialogPeer } from './ids.js';

test('dialogPeer names the other participant, also when one login is a prefix of the other', () => {
  for (const [a, b] of [
    ['alice', 'bob'],
    ['ann', 'anna'],
    ['anna', 'ann'],
    ['a', 'b'],
    ['user_1', 'user_10'],
  ] as const) {
    const chatId = dialogChatId(a, b);
    assert.equal(dialogPeer(chatId, a), b, `${chatId} seen by ${a}`);
    assert.equal(dialogPeer(chatId, b), a, `${chatId} seen by ${b}`);
  }
});
