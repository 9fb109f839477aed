/**
 * The chat actor in one process (in-memory SQLite store, in-memory delivery): the status a sender sees and
 * the message_status events a raise of marks sends, deduplication, the lease check, and the membership
 * rules of groups. The same paths run end to end in test/e2e; these cases reach each branch directly.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MAX_GROUP_MEMBERS } from '../common/api.js';
import { dialogChatId, groupChatId } from '../common/ids.js';
import { actorFixture } from './testing/fixture.js';

const DIALOG = dialogChatId('alice', 'bob');

const code = (c: string) => (err: unknown) => (err as { code?: string }).code === c;

test('a dialog message is published to the peer, and its status follows the peer’s marks', async (t) => {
  const f = await actorFixture(t, ['alice', 'bob']);
  f.online('alice');
  f.online('bob');
  const actor = await f.actor(DIALOG);
  const m = await actor.send('alice', 'hi', 'c1', 'conn-a');
  assert.equal(m.id, 1);
  assert.equal(m.status, 'sent');
  await f.settle();
  const [sent] = f.events(undefined, 'new_message');
  assert.deepEqual(sent?.users, ['alice', 'bob']);
  assert.equal(sent?.data.receiver, 'bob');
  assert.equal(sent?.data.client_id, 'c1');

  await actor.mark('bob', 'delivered', 1);
  await f.settle();
  assert.deepEqual(
    f.events(undefined, 'message_status').map((e) => [e.users, e.data]),
    [[['alice'], { id: 1, status: 'delivered' }]],
  );
  assert.equal((await actor.history('alice', { limit: 10 })).messages[0]?.status, 'delivered');

  // Read implies delivered, and marks never move backwards.
  assert.deepEqual(await actor.mark('bob', 'read', 1), { login: 'bob', deliveredId: 1, readId: 1 });
  assert.deepEqual(await actor.mark('bob', 'delivered', 0), { login: 'bob', deliveredId: 1, readId: 1 });
  await f.settle();
  assert.deepEqual(
    f.events(undefined, 'message_status').map((e) => e.data),
    [
      { id: 1, status: 'delivered' },
      { id: 1, status: 'read' },
    ],
  );
  // A mark beyond the last durable message is capped.
  assert.deepEqual(await actor.mark('bob', 'read', 99), { login: 'bob', deliveredId: 1, readId: 1 });
});

test('sending counts as reading what came before; a raise over only the reader’s own messages is silent', async (t) => {
  const f = await actorFixture(t, ['alice', 'bob']);
  f.online('alice');
  f.online('bob');
  const actor = await f.actor(DIALOG);
  await actor.send('bob', 'mine', '', 'conn-b');
  await actor.mark('bob', 'read', 1);
  await f.settle();
  assert.deepEqual(f.events(undefined, 'message_status'), [], 'bob read only his own message');
  await actor.send('alice', 'yours', '', 'conn-a');
  await f.settle();
  assert.deepEqual(
    f.events(undefined, 'message_status').map((e) => [e.users, e.data]),
    [[['bob'], { id: 2, status: 'read' }]],
    'alice answered: she has read bob’s message (read without a separate delivered)',
  );
  await actor.mark('bob', 'read', 2);
  await f.settle();
  assert.deepEqual(
    f
      .events(undefined, 'message_status')
      .slice(1)
      .map((e) => [e.users, e.data]),
    [[['alice'], { id: 2, status: 'read' }]],
  );
});

test('a peer with no gateway is handed to the relay; the sender’s sole socket gets no entry', async (t) => {
  const f = await actorFixture(t, ['alice', 'bob']);
  f.online('alice', 'gw-a');
  const actor = await f.actor(DIALOG);
  await actor.send('alice', 'hi', '', 'conn-a', 'gw-a');
  await f.settle();
  assert.deepEqual(f.offline, [{ receivers: ['bob'], id: 1 }]);
  assert.deepEqual(f.events('gw-a'), [], 'the sender has the message from its acknowledgement');
});

test('a repeated client_id returns the stored message and publishes nothing new', async (t) => {
  const f = await actorFixture(t, ['alice', 'bob']);
  f.online('bob');
  const actor = await f.actor(DIALOG);
  const [first, again] = await Promise.all([
    actor.send('alice', 'once', 'same', 'conn-a'),
    actor.send('alice', 'once', 'same', 'conn-a'),
  ]);
  assert.equal(first.id, 1);
  assert.equal(again.id, 1);
  const later = await actor.send('alice', 'once', 'same', 'conn-a');
  assert.equal(later.id, 1);
  await f.settle();
  assert.equal(f.events(undefined, 'new_message').length, 1);

  // Loaded from the store by a new owner: the first repeat announces it again (its owner may have died).
  const next = await f.actor(DIALOG);
  assert.equal((await next.send('alice', 'once', 'same', 'conn-a')).id, 1);
  await f.settle();
  assert.equal(f.events(undefined, 'new_message').length, 2);
  assert.equal((await next.send('alice', 'once', 'same', 'conn-a')).id, 1);
  await f.settle();
  assert.equal(f.events(undefined, 'new_message').length, 2);
});

test('an actor without its lease refuses writes; text and access are checked', async (t) => {
  const f = await actorFixture(t, ['alice', 'bob', 'carol']);
  const actor = await f.actor(DIALOG);
  await assert.rejects(actor.send('carol', 'hi', '', ''), code('forbidden'));
  await assert.rejects(actor.send('alice', '', '', ''), code('text_too_long'));
  await assert.rejects(actor.send('alice', 'x'.repeat(4097), '', ''), code('text_too_long'));
  actor.validUntil = 0;
  await assert.rejects(actor.send('alice', 'hi', '', ''), code('wrong_shard'));
  const ghost = await f.actor(dialogChatId('alice', 'nobody'));
  assert.equal(ghost.missingDialogUser, true);
  await assert.rejects(ghost.send('alice', 'hi', '', ''), code('user_not_found'));
});

test('group statuses go to the senders whose messages changed status, not to members who sent nothing', async (t) => {
  const f = await actorFixture(t, ['ann', 'ben', 'cat', 'dan']);
  for (const u of ['ann', 'ben', 'cat', 'dan']) f.online(u);
  const actor = await f.actor(groupChatId('g1'));
  await actor.createGroup('ann', 'G', false, ['ben', 'cat', 'dan']);
  const statuses = () => f.events(undefined, 'message_status').map((e) => [e.users, e.data]);
  await actor.send('ann', 'one', '', 'c-ann');
  await f.settle();
  assert.deepEqual(statuses(), []);

  // ben answers: ann's message is delivered and read by another member (the top marks are ben's now).
  await actor.send('ben', 'two', '', 'c-ben');
  await f.settle();
  assert.deepEqual(statuses(), [
    [['ann'], { id: 2, status: 'delivered' }],
    [['ann'], { id: 2, status: 'read' }],
  ]);

  // cat reads: ben, the top holder, sees the second mark rise; ann has seen "read" already.
  await actor.mark('cat', 'read', 2);
  await f.settle();
  assert.deepEqual(statuses().slice(2), [
    [['ben'], { id: 2, status: 'delivered' }],
    [['ben'], { id: 2, status: 'read' }],
  ]);

  // dan reads too: nothing anyone sees changes.
  await actor.mark('dan', 'read', 2);
  await f.settle();
  assert.deepEqual(statuses().slice(4), []);
  assert.equal((await actor.history('ann', { limit: 10 })).messages[0]?.status, 'read');
});

test('a public group: anyone may send (and becomes a member), statuses broadcast when memory cannot tell', async (t) => {
  const f = await actorFixture(t, ['ann', 'ben']);
  const actor = await f.actor(groupChatId('pub'));
  await actor.createGroup('ann', 'Pub', true, ['ben']);
  assert.deepEqual(
    actor.membersOf('ben').map((m) => m.login),
    ['ann'],
    'public groups start with the owner only',
  );
  await actor.send('ben', 'hello', '', '');
  assert.deepEqual(
    actor.membersOf('ann').map((m) => m.login),
    ['ann', 'ben'],
  );
  f.online('ann');
  await f.settle();
  const [message] = f.events(undefined, 'new_message');
  assert.equal(message?.users, '*');
});

test('group membership: owner-only changes, the owner stays while others remain, sizes are bounded', async (t) => {
  const f = await actorFixture(t, ['ann', 'ben', 'cat']);
  const actor = await f.actor(groupChatId('g2'));
  await assert.rejects(actor.send('ann', 'hi', '', ''), code('group_not_found'));
  await actor.createGroup('ann', 'G', false, ['ben']);
  await assert.rejects(actor.createGroup('ann', 'G', false, []), code('invalid_param'));
  await assert.rejects(actor.send('cat', 'hi', '', ''), code('not_member'));
  await assert.rejects(actor.addMember('ben', 'cat'), code('owner_only'));
  await assert.rejects(actor.addMember('ann', 'nobody'), code('user_not_found'));
  assert.deepEqual(
    (await actor.addMember('ann', 'cat')).map((m) => [m.login, m.role]),
    [
      ['ann', 'owner'],
      ['ben', 'member'],
      ['cat', 'member'],
    ],
  );
  await assert.rejects(actor.removeMember('ben', 'cat'), code('owner_only'));
  await assert.rejects(actor.removeMember('ann', 'ann'), code('owner_cannot_leave'));
  await actor.removeMember('cat', 'cat');
  await assert.rejects(actor.removeMember('ann', 'cat'), code('not_found'));
  assert.deepEqual(
    (await f.store.groups.listMembers('g2')).map((m) => m.login).sort(),
    ['ann', 'ben'],
    'membership is stored',
  );

  const big = await f.actor(groupChatId('g3'));
  const many = Array.from({ length: MAX_GROUP_MEMBERS + 1 }, (_, i) => `u${i}`);
  await assert.rejects(big.createGroup('ann', 'Big', false, many), code('invalid_field'));
  await assert.rejects(big.createGroup('ann', 'Big', false, ['ghost']), code('unknown_member'));
  const dialog = await f.actor(DIALOG);
  await assert.rejects(dialog.createGroup('ann', 'x', false, []), code('invalid_param'));
  assert.throws(() => dialog.membersOf('ann'), code('not_found'));
});
