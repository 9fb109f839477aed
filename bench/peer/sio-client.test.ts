import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodePacket, scanPeerMessage } from './sio-client.js';

const msg = {
  id: 42,
  chat: { type: 'dialog', id: 'u1' },
  text: 'hello there',
  sender: 'u2',
  time: '2026-11-24T23:00:00.000Z',
};

describe('scanPeerMessage', () => {
  it('reads events and acks exactly as JSON.parse does', () => {
    const event = `42${JSON.stringify(['new_message', msg])}`;
    const ack = `4317${JSON.stringify([{ ...msg, client_id: 'c-1' }])}`;
    assert.deepEqual(scanPeerMessage(event), {
      ack: false,
      id: 42,
      text: 'hello there',
      sender: 'u2',
      clientId: undefined,
    });
    assert.deepEqual(scanPeerMessage(ack), {
      ack: true,
      id: 42,
      text: 'hello there',
      sender: 'u2',
      clientId: 'c-1',
    });
    const parsed = decodePacket(ack)!;
    assert.equal((parsed.args[0] as { client_id: string }).client_id, 'c-1');
  });

  it('leaves anything unexpected to the full parser', () => {
    for (const frame of [
      `42${JSON.stringify(['new_message', { ...msg, text: 'a "quoted" text' }])}`,
      `42${JSON.stringify(['new_message', { ...msg, chat: { type: 'dialog', id: 'u\\1' } }])}`,
      `42${JSON.stringify(['error_event', { code: 'invalid_field' }])}`,
      `42${JSON.stringify(['new_message', { chat: msg.chat, id: 1, text: 'x', sender: 'y' }])}`,
      '2',
      '40',
    ]) {
      assert.equal(scanPeerMessage(frame), null, frame);
    }
  });
});
