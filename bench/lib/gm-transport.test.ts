import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parseServerFrame, type ServerFrame } from './gm-transport.js';

/** What the frame means according to JSON.parse. */
function reference(json: string): ServerFrame | null {
  const ev = JSON.parse(json) as {
    type?: string;
    payload?: { id?: number; text?: string; sender?: string; client_id?: string; code?: string };
  };
  const p = ev.payload;
  if (!p) return null;
  if (ev.type === 'new_message')
    return {
      kind: 'message',
      message: { id: p.id ?? -1, text: p.text ?? '', sender: p.sender ?? '', clientId: p.client_id },
    };
  if (ev.type === 'error') return { kind: 'error', code: p.code ?? 'unknown', clientId: p.client_id };
  return { kind: 'other', type: ev.type ?? '' };
}

function frame(type: string, payload: unknown): Buffer {
  return Buffer.from(JSON.stringify({ type, payload }));
}

test('new_message frames as the gateway renders them', () => {
  const group = {
    chat: { type: 'group', id: 'Gx_9-a' },
    id: 42,
    text: '7|1732486312345.125|xxxx',
    sender: 'bench-1',
    status: 'sent',
    time: '2026-11-24T22:00:00.000Z',
  };
  assert.deepEqual(parseServerFrame(frame('new_message', group)), {
    kind: 'message',
    message: { id: 42, text: group.text, sender: 'bench-1', clientId: undefined },
  });
  const ack = { ...group, chat: { type: 'dialog', id: 'bob' }, receiver: 'bob', client_id: 'c-1' };
  assert.deepEqual(parseServerFrame(frame('new_message', ack)), {
    kind: 'message',
    message: { id: 42, text: group.text, sender: 'bench-1', clientId: 'c-1' },
  });
});

test('other events by type, errors in full', () => {
  assert.deepEqual(parseServerFrame(frame('user_status', { user_login: 'a', is_online: true })), {
    kind: 'other',
    type: 'user_status',
  });
  assert.deepEqual(parseServerFrame(frame('error', { code: 'rate_limited', client_id: 'x' })), {
    kind: 'error',
    code: 'rate_limited',
    clientId: 'x',
  });
  assert.equal(parseServerFrame(Buffer.from('{"type":"typing"}')), null);
});

test('any frame reads as JSON.parse reads it', () => {
  const text = fc.string({ unit: 'binary', minLength: 0, maxLength: 40 });
  const payload = fc.record(
    {
      chat: fc.record({ type: fc.constantFrom('group', 'dialog'), id: text }),
      id: fc.nat(),
      text,
      sender: text,
      status: fc.constantFrom('sent', 'delivered'),
      time: fc.constant('2026-11-24T22:00:00.000Z'),
      receiver: text,
      client_id: text,
      code: text,
    },
    { requiredKeys: [] },
  );
  fc.assert(
    fc.property(fc.constantFrom('new_message', 'error', 'user_status', 'message_status'), payload, (t, p) => {
      const json = JSON.stringify({ type: t, payload: p });
      assert.deepEqual(parseServerFrame(Buffer.from(json)), reference(json));
    }),
    { numRuns: 2000 },
  );
});
