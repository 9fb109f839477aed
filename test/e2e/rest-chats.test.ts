/**
 * API.md "Chats" end to end: GET /chats (content, ordering, unread counts
 * following read marks, presence fields, group visibility, limit/cursor
 * paging with the Link header) and GET /users (prefix search).
 *
 * Every user of this file appears in every other user's list (a dialog entry
 * per registered user), and public groups appear for everyone, so assertions
 * look at the caller's own chats or at properties of the whole list.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Chat, Group, UserInfo } from '../../common/api.js';
import { uniqueLogin, type Session, type WsClient } from '../harness/index.js';
import {
  assertError,
  chatsSocket,
  dialog,
  eventually,
  group,
  nextLink,
  ok,
  registerAll,
  sendMessage,
  sendMessages,
  sleep,
  TEST_TIMEOUT_MS,
  TIME_RE,
  useCluster,
  walkPages,
} from './helpers.js';

const suite = useCluster();
const opts = { timeout: TEST_TIMEOUT_MS };

async function chats(session: Session, query = ''): Promise<Chat[]> {
  const res = await suite.http.request<Chat[]>('GET', `/chats${query}`, { token: session.token });
  const body = ok(res, 200, `GET /chats${query}`);
  assert.ok(Array.isArray(body));
  return body;
}

function find(list: Chat[], type: Chat['type'], id: string): Chat | undefined {
  return list.find((c) => c.type === type && c.id === id);
}

function entry(list: Chat[], type: Chat['type'], id: string): Chat {
  const found = find(list, type, id);
  assert.ok(found, `${type} ${id} in the chat list`);
  return found;
}

async function createGroup(owner: Session, name: string, isPublic: boolean, members: string[] = []) {
  const res = await suite.http.request<Group>('POST', '/groups', {
    token: owner.token,
    body: { name, public: isPublic, members },
  });
  return ok(res, 201, `POST /groups ${name}`);
}

/** Asserts the shape of every entry and the list-wide ordering rules of API.md. */
function assertWellFormed(list: Chat[], self: string): void {
  const keys = new Set<string>();
  for (const c of list) {
    const key = `${c.type}:${c.id}`;
    assert.ok(!keys.has(key), `${key} listed once`);
    keys.add(key);
    assert.ok(c.type === 'dialog' || c.type === 'group', key);
    assert.equal(typeof c.id, 'string');
    assert.equal(typeof c.name, 'string');
    assert.ok(Number.isInteger(c.unread) && c.unread >= 0, `${key} unread ${c.unread}`);
    if (c.last_message_id === null) {
      assert.equal(c.last_message, null, key);
      assert.equal(c.last_message_time, null, key);
      assert.equal(c.unread, 0, key);
    } else {
      assert.ok(Number.isInteger(c.last_message_id) && c.last_message_id > 0, key);
      assert.equal(typeof c.last_message, 'string', key);
      assert.match(c.last_message_time ?? '', TIME_RE, key);
      assert.ok(c.unread <= c.last_message_id, key);
    }
    if (c.type === 'dialog') {
      assert.notEqual(c.id, self, 'no dialog with oneself');
      assert.equal(typeof c.is_online, 'boolean', key);
      assert.ok(c.last_seen === null || TIME_RE.test(c.last_seen ?? ''), `${key} last_seen ${c.last_seen}`);
      assert.equal(c.public, undefined, `${key}: public is for groups only`);
    } else {
      assert.equal(typeof c.public, 'boolean', key);
      assert.equal(c.is_online, undefined, `${key}: is_online is for dialogs only`);
      assert.equal(c.last_seen, undefined, `${key}: last_seen is for dialogs only`);
    }
  }
  // Chats with messages first, newest activity first; then the rest by name.
  const firstQuiet = list.findIndex((c) => c.last_message_id === null);
  const active = firstQuiet < 0 ? list : list.slice(0, firstQuiet);
  const quiet = firstQuiet < 0 ? [] : list.slice(firstQuiet);
  for (const c of quiet)
    assert.equal(c.last_message_id, null, `${c.type}:${c.id} with messages after the quiet part`);
  for (let i = 1; i < active.length; i++) {
    assert.ok(
      active[i - 1]!.last_message_time! >= active[i]!.last_message_time!,
      `newest activity first: ${active[i - 1]!.id} before ${active[i]!.id}`,
    );
  }
  for (let i = 1; i < quiet.length; i++) {
    assert.ok(
      quiet[i - 1]!.name <= quiet[i]!.name,
      `by name: "${quiet[i - 1]!.name}" before "${quiet[i]!.name}"`,
    );
  }
}

/** Waits a few ms so that two sends get distinct millisecond timestamps. */
const tick = () => sleep(5);

describe('GET /chats', () => {
  test('content and ordering: active chats newest first, then the rest by name', opts, async () => {
    const tag = uniqueLogin('').slice(0, 6);
    const [alice, bob, carol, dave, erin] = await registerAll(
      suite.http,
      ['alice', 'bob', 'carol', 'dave', 'erin'].map((n) => uniqueLogin(n)),
      [`Alice ${tag}`, `Bob ${tag}`, `Carol ${tag}`, `Dave ${tag}`, `Erin ${tag}`],
    );
    const sockets: WsClient[] = [];
    try {
      const [aWs, bWs, cWs] = await Promise.all(
        [alice!, bob!, carol!].map((s) => chatsSocket(suite.gateway, s)),
      );
      sockets.push(aWs!, bWs!, cWs!);
      const team = await createGroup(alice!, `Team ${tag}`, false, [carol!.login]);
      const idle = await createGroup(alice!, `Idle ${tag}`, false, [bob!.login]);
      const open = await createGroup(dave!, `Open ${tag}`, true);
      const secret = await createGroup(dave!, `Secret ${tag}`, false, [erin!.login]);

      await sendMessages(bWs!, dialog(alice!.login), ['hi alice', 'are you there?']);
      await tick();
      await sendMessage(aWs!, group(team.id), 'team news');
      await tick();
      const last = await sendMessage(cWs!, dialog(alice!.login), 'newest');

      const list = await chats(alice!);
      assertWellFormed(list, alice!.login);
      const mine = list.filter((c) =>
        [bob!.login, carol!.login, dave!.login, erin!.login, team.id, idle.id, open.id, secret.id].includes(
          c.id,
        ),
      );
      assert.deepEqual(
        mine.map((c) => `${c.type}:${c.id}`),
        [
          `dialog:${carol!.login}`,
          `group:${team.id}`,
          `dialog:${bob!.login}`,
          // The rest by name: "Dave …" < "Erin …" < "Idle …" < "Open …".
          `dialog:${dave!.login}`,
          `dialog:${erin!.login}`,
          `group:${idle.id}`,
          `group:${open.id}`,
        ],
      );
      assert.equal(find(list, 'group', secret.id), undefined, 'a private group of others is invisible');

      assert.deepEqual(entry(list, 'dialog', bob!.login), {
        type: 'dialog',
        id: bob!.login,
        name: `Bob ${tag}`,
        last_message: 'are you there?',
        last_message_id: 2,
        last_message_time: entry(list, 'dialog', bob!.login).last_message_time,
        unread: 2,
        is_online: true,
        last_seen: entry(list, 'dialog', bob!.login).last_seen,
      });
      const carolEntry = entry(list, 'dialog', carol!.login);
      assert.equal(carolEntry.name, `Carol ${tag}`);
      assert.equal(carolEntry.last_message, 'newest');
      assert.equal(carolEntry.last_message_id, last.payload.id);
      assert.equal(carolEntry.last_message_time, last.payload.time);
      assert.equal(carolEntry.unread, 1);
      const teamEntry = entry(list, 'group', team.id);
      assert.deepEqual(teamEntry, {
        type: 'group',
        id: team.id,
        name: `Team ${tag}`,
        last_message: 'team news',
        last_message_id: 1,
        last_message_time: teamEntry.last_message_time,
        unread: 0,
        public: false,
      });
      assert.deepEqual(entry(list, 'group', open.id), {
        type: 'group',
        id: open.id,
        name: `Open ${tag}`,
        last_message: null,
        last_message_id: null,
        last_message_time: null,
        unread: 0,
        public: true,
      });
      assert.deepEqual(entry(list, 'dialog', erin!.login), {
        type: 'dialog',
        id: erin!.login,
        name: `Erin ${tag}`,
        last_message: null,
        last_message_id: null,
        last_message_time: null,
        unread: 0,
        is_online: false,
        last_seen: null,
      });

      // Carol's view of the same dialog: named after alice, nothing unread (her own message).
      const carolList = await chats(carol!);
      assertWellFormed(carolList, carol!.login);
      const withAlice = entry(carolList, 'dialog', alice!.login);
      assert.equal(withAlice.name, `Alice ${tag}`);
      assert.equal(withAlice.last_message, 'newest');
      assert.equal(withAlice.unread, 0);
      assert.equal(entry(carolList, 'group', team.id).unread, 1);
      assert.equal(find(carolList, 'group', idle.id), undefined, 'carol is not in the idle group');
    } finally {
      await Promise.all(sockets.map((s) => s.close()));
    }
  });

  test('unread counts follow the read mark sent over a WebSocket', opts, async () => {
    const [alice, bob, carol] = await registerAll(
      suite.http,
      ['ua', 'ub', 'uc'].map((n) => uniqueLogin(n)),
    );
    const [aWs, bWs, cWs] = await Promise.all(
      [alice!, bob!, carol!].map((s) => chatsSocket(suite.gateway, s)),
    );
    try {
      const acks = await sendMessages(bWs!, dialog(alice!.login), ['one', 'two', 'three']);
      const ids = acks.map((a) => a.payload.id as number);
      assert.deepEqual(ids, [1, 2, 3]);
      assert.equal(entry(await chats(alice!), 'dialog', bob!.login).unread, 3);
      assert.equal(entry(await chats(bob!), 'dialog', alice!.login).unread, 0, 'own messages are not unread');

      // Alice reads up to 2: bob is told, and alice has one unread left.
      aWs!.send({ type: 'read', payload: { id: 2, chat: dialog(bob!.login) } });
      await bWs!.next(
        (e) => e.type === 'message_status' && e.payload.status === 'read' && e.payload.id === 2,
        10_000,
      );
      assert.equal(entry(await chats(alice!), 'dialog', bob!.login).unread, 1);
      aWs!.send({ type: 'read', payload: { id: 3, chat: dialog(bob!.login) } });
      await bWs!.next(
        (e) => e.type === 'message_status' && e.payload.status === 'read' && e.payload.id === 3,
        10_000,
      );
      assert.equal(entry(await chats(alice!), 'dialog', bob!.login).unread, 0);

      // A reply: unread for bob, never for its sender.
      await sendMessage(aWs!, dialog(bob!.login), 'four');
      assert.equal(entry(await chats(alice!), 'dialog', bob!.login).unread, 0);
      assert.equal(entry(await chats(bob!), 'dialog', alice!.login).unread, 1);

      // Groups: each member has their own mark.
      const team = await createGroup(carol!, `Unread ${uniqueLogin('')}`, false, [alice!.login, bob!.login]);
      await sendMessages(cWs!, group(team.id), ['g1', 'g2']);
      assert.equal(entry(await chats(alice!), 'group', team.id).unread, 2);
      assert.equal(entry(await chats(bob!), 'group', team.id).unread, 2);
      assert.equal(entry(await chats(carol!), 'group', team.id).unread, 0);
      aWs!.send({ type: 'read', payload: { id: 2, chat: group(team.id) } });
      await cWs!.next(
        (e) => e.type === 'message_status' && e.payload.status === 'read' && e.payload.chat?.id === team.id,
        10_000,
      );
      assert.equal(entry(await chats(alice!), 'group', team.id).unread, 0);
      assert.equal(entry(await chats(bob!), 'group', team.id).unread, 2, "alice's read mark is hers only");
    } finally {
      await Promise.all([aWs!, bWs!, cWs!].map((s) => s.close()));
    }
  });

  test('presence fields: online while a socket is open, then offline with last_seen', opts, async () => {
    const [alice, bob] = await registerAll(suite.http, [uniqueLogin('pa'), uniqueLogin('pb')]);
    const before = entry(await chats(alice!), 'dialog', bob!.login);
    assert.equal(before.is_online, false);
    assert.equal(before.last_seen, null, 'never seen');

    const bWs = await chatsSocket(suite.gateway, bob!);
    const online = entry(await chats(alice!), 'dialog', bob!.login);
    assert.equal(online.is_online, true);
    assert.match(online.last_seen ?? '', TIME_RE);
    const closedAt = Date.now();
    await bWs.close();

    const offline = await eventually('bob offline in /chats', async () => {
      const e = entry(await chats(alice!), 'dialog', bob!.login);
      return e.is_online ? undefined : e;
    });
    assert.match(offline.last_seen ?? '', TIME_RE);
    const seen = Date.parse(offline.last_seen!);
    assert.ok(Math.abs(seen - closedAt) < 10_000, `last_seen ${offline.last_seen} near the close`);
  });

  test('visibility: public groups for everyone, private groups for members only', opts, async () => {
    const [owner, member, outsider] = await registerAll(suite.http, [
      uniqueLogin('vo'),
      uniqueLogin('vm'),
      uniqueLogin('vx'),
    ]);
    const priv = await createGroup(owner!, `Private ${uniqueLogin('')}`, false, [member!.login]);
    const pub = await createGroup(owner!, `Public ${uniqueLogin('')}`, true);
    const late = await suite.http.register(uniqueLogin('vl'));

    for (const s of [owner!, member!, outsider!, late]) {
      const list = await chats(s);
      assert.equal(entry(list, 'group', pub.id).public, true, `${s.login} sees the public group`);
      const sees = s === owner || s === member;
      assert.equal(
        !!find(list, 'group', priv.id),
        sees,
        `${s.login} ${sees ? 'sees' : 'does not see'} the private group`,
      );
    }

    // Membership changes show at once.
    const added = await suite.http.request('POST', `/group/${priv.id}/members`, {
      token: owner!.token,
      body: { login: outsider!.login },
    });
    ok(added);
    assert.ok(find(await chats(outsider!), 'group', priv.id), 'visible once added');
    const removed = await suite.http.request('DELETE', `/group/${priv.id}/members/${outsider!.login}`, {
      token: owner!.token,
    });
    assert.equal(removed.status, 204);
    assert.equal(find(await chats(outsider!), 'group', priv.id), undefined, 'gone once removed');
  });

  test('limit and cursor: the Link header walks through every entry exactly once', opts, async () => {
    // The caller's own name sorts after everyone's: the last listed entry is followed by the
    // caller, who is skipped, so the last page must not carry a Link to an empty page.
    const logins = ['lm', 'l1', 'l2', 'l3'].map((n) => uniqueLogin(n));
    const [me, p1, p2, p3] = await registerAll(suite.http, logins, ['~~~ last', ...logins.slice(1)]);
    const ws = await chatsSocket(suite.gateway, me!);
    try {
      for (const peer of [p1!, p2!, p3!]) {
        await sendMessage(ws, dialog(peer.login), `to ${peer.login}`);
        await tick();
      }
      const g = await createGroup(me!, `Paged ${uniqueLogin('')}`, false, [p1!.login]);
      await sendMessage(ws, group(g.id), 'group message');
    } finally {
      await ws.close();
    }
    const res = await suite.http.request<Chat[]>('GET', '/chats?limit=1000', { token: me!.token });
    const all = ok(res);
    assert.equal(nextLink(res), null, 'no Link when everything fits');
    assertWellFormed(all, me!.login);
    assert.ok(all.filter((c) => c.last_message_id !== null).length >= 4, 'an active part');
    assert.ok(all.filter((c) => c.last_message_id === null).length >= 3, 'a quiet part');
    const key = (c: Chat) => `${c.type}:${c.id}`;

    const unlimited = await chats(me!);
    assert.deepEqual(unlimited.map(key), all.map(key), 'the default limit covers this list');

    for (const limit of [1, 2, 3, 5, all.length - 1, all.length]) {
      const { pages, links } = await walkPages<Chat>(suite.http, `/chats?limit=${limit}`, me!);
      const walked = pages.flat();
      assert.deepEqual(walked.map(key), all.map(key), `limit=${limit}: every entry once, in order`);
      for (const page of pages.slice(0, -1)) assert.equal(page.length, limit, `limit=${limit}: full pages`);
      assert.ok(pages.at(-1)!.length >= 1 && pages.at(-1)!.length <= limit);
      assert.equal(pages.length, Math.ceil(all.length / limit), `limit=${limit}: no empty trailing page`);
      for (const link of links) {
        assert.match(link, /^\/chats\?/, link);
        const params = new URLSearchParams(link.slice('/chats?'.length));
        assert.ok(params.get('cursor'), `a cursor in ${link}`);
        assert.equal(params.get('limit'), String(limit), `the limit is kept in ${link}`);
      }
    }
  });

  test('400 bad params, 401 without a session', opts, async () => {
    const me = await suite.http.register(uniqueLogin('bp'));
    for (const query of [
      'limit=0',
      'limit=-1',
      'limit=1001',
      'limit=abc',
      'limit=1.5',
      'limit=99999999999999',
      'cursor=%21%21%21',
      `cursor=${Buffer.from('not json').toString('base64url')}`,
      `cursor=${Buffer.from('{"a":-1}').toString('base64url')}`,
      `cursor=${Buffer.from('[]').toString('base64url')}`,
    ]) {
      const res = await suite.http.request('GET', `/chats?${query}`, { token: me.token });
      assertError(res, 400, 'invalid_param', query.startsWith('limit') ? 'limit' : 'cursor', query);
    }
    ok(await suite.http.request('GET', '/chats?limit=1000', { token: me.token }));
    assertError(await suite.http.request('GET', '/chats'), 401, 'unauthorized');
    assertError(await suite.http.request('GET', '/chats', { token: 'nope' }), 401, 'unauthorized');
  });
});

describe('GET /users', () => {
  test('prefix search by login and by username, with presence fields', opts, async () => {
    const p = uniqueLogin('s').slice(0, 9);
    const [amy, ann, bob, zed] = await registerAll(
      suite.http,
      [`${p}amy`, `${p}ann`, `${p}bob`, uniqueLogin('z')],
      ['Amy', 'Ann', 'Bob', `Zelda${p}`],
    );
    const search = async (query: string, limit?: number) => {
      const q = new URLSearchParams({ query });
      if (limit !== undefined) q.set('limit', String(limit));
      return ok(await suite.http.request<UserInfo[]>('GET', `/users?${q}`, { token: amy!.token }));
    };
    const logins = (list: UserInfo[]) => list.map((u) => u.login).sort();

    assert.deepEqual(logins(await search(`${p}a`)), [amy!.login, ann!.login].sort());
    assert.deepEqual(logins(await search(p)), [amy!.login, ann!.login, bob!.login].sort());
    assert.deepEqual(logins(await search(`${p}AN`.toUpperCase())), [ann!.login], 'case-insensitive');
    assert.deepEqual(logins(await search(`${p}annx`)), []);
    // By username prefix (case-insensitive), not by a substring.
    assert.deepEqual(logins(await search(`zelda${p}`)), [zed!.login]);
    assert.deepEqual(logins(await search(`ZeLdA${p}`)), [zed!.login]);
    assert.deepEqual(logins(await search(`elda${p}`)), []);

    const [found] = await search(`${p}bob`);
    assert.deepEqual(found, { login: bob!.login, username: 'Bob', is_online: false, last_seen: null });

    assert.equal((await search(p, 2)).length, 2, 'limit');
    assert.equal((await search(p, 1)).length, 1);
    assert.equal((await search(p, 100)).length, 3);
  });

  test('400 bad params, 401 without a session', opts, async () => {
    const me = await suite.http.register(uniqueLogin('ub'));
    for (const query of ['limit=0', 'limit=-3', 'limit=ten', 'limit=2.5', `query=${'q'.repeat(65)}`]) {
      const res = await suite.http.request('GET', `/users?${query}`, { token: me.token });
      assertError(res, 400, 'invalid_param', query.split('=')[0], query);
    }
    assertError(await suite.http.request('GET', '/users?query=a'), 401, 'unauthorized');
  });
});
