/**
 * The hub on its own, fed by in-memory delivery: per-socket order and exactly-once across the
 * acknowledgement and inbox paths, hold-back and gap repair from history, rendering per viewer, corked
 * batches and dropping a client that cannot keep up. Sockets are stand-ins that record their frames.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { WebSocket } from 'uWebSockets.js';
import { dialogChatId, groupChatId } from '../common/ids.js';
import { createLogger } from '../common/logger.js';
import { MemoryDelivery, type DeliveryEvent } from '../delivery/index.js';
import { newConn, type Conn } from './conn.js';
import { Hub, type HubHooks } from './hub.js';
import { REPAIR_AFTER_MS } from './ordered.js';
import { eventJson } from './render.js';

const NODE = 'gw-test';
const logger = createLogger('hub-test', 'test', 'silent');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface FakeSocket {
  conn: Conn;
  /** Frames received, parsed. */
  events: { type: string; payload: Record<string, unknown> }[];
  corks: number;
  ended: { code: number; reason: string } | null;
}

function socket(
  hub: Hub,
  login: string,
  kind: Conn['kind'] = 'all',
  chatId: string | null = null,
  full = false,
) {
  const conn = newConn(
    `${NODE}/${login}-${Math.random().toString(36).slice(2, 6)}`,
    login,
    `t-${login}`,
    kind,
  );
  conn.chatId = chatId;
  const fake: FakeSocket = { conn, events: [], corks: 0, ended: null };
  conn.ws = {
    send(frame: string | Buffer) {
      fake.events.push(JSON.parse(String(frame)) as FakeSocket['events'][number]);
      return full ? 2 : 1;
    },
    cork(fn: () => void) {
      fake.corks++;
      fn();
    },
    end(code: number, reason: string) {
      fake.ended = { code, reason };
    },
  } as unknown as WebSocket<Conn>;
  hub.sockets.add(conn);
  return fake;
}

function setup(fetchAfter: HubHooks['fetchAfter'] = async () => []) {
  const delivered: string[] = [];
  const repairs: { chatId: string; after: number }[] = [];
  const hub = new Hub(
    {
      async fetchAfter(conn, chatId, after) {
        repairs.push({ chatId, after });
        return fetchAfter(conn, chatId, after);
      },
      delivered(chatId, login, id) {
        delivered.push(`${login}@${id}`);
      },
    },
    logger,
  );
  const delivery = new MemoryDelivery();
  const inbox = delivery.subscribe(
    NODE,
    (entry) => hub.dispatch(entry),
    (handle) => hub.out.turn(handle),
  );
  const publish = (e: Omit<DeliveryEvent, 'excludeConn' | 'storedAtMs'> & { excludeConn?: string }) => {
    delivery.publish({ excludeConn: '', storedAtMs: Date.now(), ...e });
  };
  return { hub, delivery, inbox, delivered, repairs, publish };
}

const GROUP = groupChatId('g1');
const message = (id: number, sender = 'ann') =>
  JSON.stringify({ id, text: `m${id}`, sender, status: 'sent' });
const ids = (s: FakeSocket) => s.events.filter((e) => e.type === 'new_message').map((e) => e.payload.id);

test('each socket gets a chat’s messages once and in id order; late ones wait in the hold-back', async () => {
  const f = setup();
  await f.inbox.start();
  for (const login of ['ann', 'ben']) f.delivery.connect(login, NODE);
  const ann = socket(f.hub, 'ann');
  const ben = socket(f.hub, 'ben');
  ben.conn.cursors.set(GROUP, 0);
  for (const id of [1, 3, 2, 2, 1]) {
    f.publish({ type: 'new_message', chatId: GROUP, users: ['ann', 'ben'], payload: message(id) });
    await f.delivery.drain();
  }
  assert.deepEqual(ids(ben), [1, 2, 3]);
  assert.deepEqual(ids(ann), [1, 2, 3], 'the sender’s other sockets too');
  assert.deepEqual(f.delivered, ['ben@1', 'ben@3', 'ben@2'], 'recipients only, each id once');
  assert.deepEqual(f.repairs, [], 'the gap closed by itself');
});

test('a gap that does not close is repaired from history; one history cannot fill is skipped', async () => {
  const f = setup(async (conn, chatId, after) =>
    after === 1 ? [{ id: 2, json: eventJson('new_message', { id: 2, from: 'history' }) }] : [],
  );
  await f.inbox.start();
  f.delivery.connect('ben', NODE);
  const ben = socket(f.hub, 'ben', 'group', GROUP);
  ben.conn.cursors.set(GROUP, 0);
  for (const id of [1, 3]) {
    f.publish({ type: 'new_message', chatId: GROUP, users: ['ben'], payload: message(id) });
    await f.delivery.drain();
  }
  assert.deepEqual(ids(ben), [1]);
  await sleep(REPAIR_AFTER_MS + 100);
  assert.deepEqual(f.repairs, [{ chatId: GROUP, after: 1 }]);
  assert.deepEqual(ids(ben), [1, 2, 3]);
  assert.equal(ben.events[1]!.payload.from, 'history');

  // 4 never comes: history has nothing for it either, so the chat moves on at 5.
  f.publish({ type: 'new_message', chatId: GROUP, users: ['ben'], payload: message(5) });
  await f.delivery.drain();
  await sleep(REPAIR_AFTER_MS + 100);
  assert.deepEqual(ids(ben), [1, 2, 3, 5]);
  assert.equal(ben.conn.cursors.get(GROUP), 5);
  assert.equal(ben.conn.holdback?.get(GROUP), undefined);
});

test('an acknowledgement and the inbox copy of one message reach the socket once', async () => {
  const f = setup();
  await f.inbox.start();
  f.delivery.connect('ann', NODE);
  const dialog = dialogChatId('ann', 'ben');
  const ann = socket(f.hub, 'ann', 'dialog', dialog);
  ann.conn.cursors.set(dialog, 0);
  f.hub.out.turn(() => f.hub.ordered.deliver(ann.conn, dialog, 1, eventJson('new_message', { id: 1 })));
  f.publish({ type: 'new_message', chatId: dialog, users: ['ann'], payload: message(1) });
  await f.delivery.drain();
  await sleep(5);
  assert.deepEqual(ids(ann), [1]);
});

test('frames are rendered per viewer: dialogs name the other side, client_id only for the sender', async () => {
  const f = setup();
  await f.inbox.start();
  for (const login of ['ann', 'ben']) f.delivery.connect(login, NODE);
  const dialog = dialogChatId('ann', 'ben');
  const ann = socket(f.hub, 'ann');
  const annOther = socket(f.hub, 'ann');
  const ben = socket(f.hub, 'ben');
  f.publish({
    type: 'new_message',
    chatId: dialog,
    users: ['ann', 'ben'],
    excludeConn: ann.conn.id,
    payload: JSON.stringify({ id: 1, text: 'hi', sender: 'ann', client_id: 'c1' }),
  });
  await f.delivery.drain();
  assert.deepEqual(ann.events, [], 'the sending socket has its acknowledgement');
  assert.deepEqual(annOther.events[0]!.payload.chat, { type: 'dialog', id: 'ben' });
  assert.equal(annOther.events[0]!.payload.client_id, 'c1');
  assert.deepEqual(ben.events[0]!.payload.chat, { type: 'dialog', id: 'ann' });
  assert.equal(ben.events[0]!.payload.client_id, undefined);

  f.publish({
    type: 'typing',
    chatId: dialog,
    users: ['ben'],
    payload: JSON.stringify({ user_login: 'ann' }),
  });
  f.publish({
    type: 'message_status',
    chatId: GROUP,
    users: '*',
    payload: JSON.stringify({ id: 1, status: 'read', except: 'ben' }),
  });
  f.publish({
    type: 'user_status',
    chatId: '',
    users: ['ann', 'ben'],
    payload: JSON.stringify({ user_login: 'cat', is_online: true, last_seen: null }),
  });
  await f.delivery.drain();
  assert.deepEqual(
    ben.events.slice(1).map((e) => e.type),
    ['typing', 'user_status'],
    'the holder of the mark hears no status about it',
  );
  assert.deepEqual(
    annOther.events.slice(1).map((e) => [e.type, e.payload.chat ?? null]),
    [
      ['message_status', { type: 'group', id: 'g1' }],
      ['user_status', null],
    ],
  );
  assert.equal(annOther.events[1]!.payload.except, undefined);
});

test('one read’s frames go to each socket in one corked write; a client that cannot keep up is dropped', async () => {
  const f = setup();
  await f.inbox.start();
  f.delivery.connect('ben', NODE);
  f.delivery.connect('slow', NODE);
  const ben = socket(f.hub, 'ben');
  const slow = socket(f.hub, 'slow', 'all', null, true);
  ben.conn.cursors.set(GROUP, 0);
  slow.conn.cursors.set(GROUP, 0);
  for (const id of [1, 2, 3]) {
    f.publish({ type: 'new_message', chatId: GROUP, users: ['ben', 'slow'], payload: message(id) });
  }
  await f.delivery.drain();
  await sleep(5);
  assert.deepEqual(ids(ben), [1, 2, 3]);
  assert.equal(ben.corks, 1);
  assert.deepEqual(slow.ended, { code: 1013, reason: 'client too slow' });
  assert.equal(slow.events.length, 1, 'nothing more is written once the socket is full');

  // Closing a socket first sends what is queued for it.
  f.hub.out.turn(() => {
    f.hub.out.write(ben.conn, eventJson('typing', { user_login: 'x' }));
    f.hub.out.end(ben.conn, 1001, 'server going away');
  });
  assert.equal(ben.events.at(-1)!.type, 'typing');
  assert.deepEqual(ben.ended, { code: 1001, reason: 'server going away' });
});
