/**
 * API.md "Groups" end to end: POST /groups, GET /group/{id} (history and
 * paging), and the member routes with the owner rules, through a real
 * gateway, shard and redis-server.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Group, Member, Message } from '../../common/api.js';
import { uniqueLogin, type ApiResponse, type Session } from '../harness/index.js';
import {
  assertError,
  chatsSocket,
  group,
  ok,
  registerAll,
  sendMessage,
  sendMessages,
  TEST_TIMEOUT_MS,
  TIME_RE,
  useCluster,
  walkPages,
} from './helpers.js';

const suite = useCluster();
const opts = { timeout: TEST_TIMEOUT_MS };

const auth = (session: Session | null) => (session ? { token: session.token } : {});

function post<T = unknown>(session: Session | null, path: string, body: unknown): Promise<ApiResponse<T>> {
  return suite.http.request<T>('POST', path, { ...auth(session), body });
}

function get<T = unknown>(session: Session | null, path: string): Promise<ApiResponse<T>> {
  return suite.http.request<T>('GET', path, auth(session));
}

function del(session: Session | null, path: string): Promise<ApiResponse> {
  return suite.http.request('DELETE', path, auth(session));
}

async function create(owner: Session, body: Record<string, unknown>): Promise<Group> {
  return ok(await post<Group>(owner, '/groups', body), 201);
}

async function members(session: Session, id: string): Promise<Member[]> {
  return ok(await get<Member[]>(session, `/group/${id}/members`));
}

async function history(session: Session, path: string): Promise<Message[]> {
  return ok(await get<Message[]>(session, path));
}

const roles = (list: Member[]) =>
  Object.fromEntries(list.map((m) => [m.login, m.role])) as Record<string, 'owner' | 'member'>;

/** Well-formed group ids that no group has. */
const UNKNOWN_IDS = ['AAAAAAAAAAAAAAAA', 'nope', 'x', 'a'.repeat(64)];
/** Ids of shapes no group can have: still 404, never 400 (API.md "whatever its shape"). */
const WEIRD_IDS = ['a.b', '%20', 'a%2Fb', 'g%3Aabc', '%C3%BCml', 'a'.repeat(65), '%00', '*', 'id%3Fx%3D1'];

describe('POST /groups', () => {
  test('201 {id, name, public, owner, members}; the creator is owner and member', opts, async () => {
    const [owner, bob, carol] = await registerAll(
      suite.http,
      ['go', 'gb', 'gc'].map((n) => uniqueLogin(n)),
      ['Owner', 'Bob', 'Carol'],
    );
    const res = await post<Group>(owner!, '/groups', {
      name: 'Team',
      public: false,
      members: [bob!.login.toUpperCase(), carol!.login, bob!.login, owner!.login],
    });
    const g = ok(res, 201);
    assert.deepEqual(Object.keys(g).sort(), ['id', 'members', 'name', 'owner', 'public']);
    assert.match(g.id, /^[A-Za-z0-9_-]+$/, 'an opaque URL-safe id');
    assert.equal(g.name, 'Team');
    assert.equal(g.public, false);
    assert.equal(g.owner, owner!.login);
    assert.deepEqual(
      [...g.members].sort(),
      [owner!.login, bob!.login, carol!.login].sort(),
      'canonical, once each',
    );

    const list = await members(bob!, g.id);
    assert.deepEqual(roles(list), {
      [owner!.login]: 'owner',
      [bob!.login]: 'member',
      [carol!.login]: 'member',
    });
    for (const m of list) {
      assert.deepEqual(Object.keys(m).sort(), ['is_online', 'last_seen', 'login', 'role', 'username']);
      assert.equal(typeof m.is_online, 'boolean');
      assert.ok(m.last_seen === null || TIME_RE.test(m.last_seen));
    }
    assert.equal(list.find((m) => m.login === carol!.login)!.username, 'Carol');

    // public defaults to false; members defaults to none.
    const plain = await create(owner!, { name: 'Solo' });
    assert.equal(plain.public, false);
    assert.deepEqual(plain.members, [owner!.login]);
    assert.notEqual(plain.id, g.id);
  });

  test('public groups ignore members; anyone reads them and may join', opts, async () => {
    const [owner, bob, carol] = await registerAll(
      suite.http,
      ['po', 'pb', 'pc'].map((n) => uniqueLogin(n)),
    );
    const g = await create(owner!, { name: 'Lobby', public: true, members: [bob!.login, 'no-such-user-x'] });
    assert.equal(g.public, true);
    assert.deepEqual(g.members, [owner!.login], 'members are ignored for public groups');

    assert.deepEqual(await history(carol!, `/group/${g.id}`), [], 'a non-member reads it');
    assert.deepEqual(roles(await members(carol!, g.id)), { [owner!.login]: 'owner' });

    // A user becomes a listed member by sending to it…
    const ws = await chatsSocket(suite.gateway, carol!);
    try {
      await sendMessage(ws, group(g.id), 'hello lobby');
    } finally {
      await ws.close();
    }
    assert.deepEqual(roles(await members(bob!, g.id)), { [owner!.login]: 'owner', [carol!.login]: 'member' });
    // …or by adding themselves.
    const joined = await post<Member[]>(bob!, `/group/${g.id}/members`, { login: bob!.login.toUpperCase() });
    assert.deepEqual(roles(ok(joined)), {
      [owner!.login]: 'owner',
      [bob!.login]: 'member',
      [carol!.login]: 'member',
    });
  });

  test('400 unknown_member with field members; nothing is created', opts, async () => {
    const [owner, bob] = await registerAll(suite.http, [uniqueLogin('uo'), uniqueLogin('ub')]);
    const name = `Ghosts ${uniqueLogin('')}`;
    for (const bad of [
      [uniqueLogin('ghost')],
      [bob!.login, uniqueLogin('ghost')],
      ['!!'],
      ['ab'],
      [5],
      [null],
    ]) {
      const res = await post(owner!, '/groups', { name, members: bad });
      assertError(res, 400, 'unknown_member', 'members', JSON.stringify(bad));
    }
    const chats = ok(await get<{ name: string }[]>(owner!, '/chats?limit=1000'));
    assert.equal(chats.filter((c) => c.name === name).length, 0, 'no group was created');
  });

  test(
    '400 invalid_field: name 1–64 characters, public a boolean, members an array of at most 1000',
    opts,
    async () => {
      const [owner, bob] = await registerAll(suite.http, [uniqueLogin('no'), uniqueLogin('nb')]);
      const bad: [Record<string, unknown>, string][] = [
        [{}, 'name'],
        [{ name: '' }, 'name'],
        [{ name: '   ' }, 'name'],
        [{ name: 'n'.repeat(65) }, 'name'],
        [{ name: '😀'.repeat(65) }, 'name'],
        [{ name: 42 }, 'name'],
        [{ name: null }, 'name'],
        [{ name: 'bell\u0007' }, 'name'],
        [{ name: 'two\nlines' }, 'name'],
        [{ name: 'ok', public: 'yes' }, 'public'],
        [{ name: 'ok', public: 1 }, 'public'],
        [{ name: 'ok', members: bob!.login }, 'members'],
        [{ name: 'ok', members: { login: bob!.login } }, 'members'],
        [{ name: 'ok', members: Array.from({ length: 1001 }, () => bob!.login) }, 'members'],
      ];
      for (const [body, field] of bad) {
        const res = await post(owner!, '/groups', body);
        assertError(res, 400, 'invalid_field', field, JSON.stringify(body).slice(0, 80));
      }
      for (const body of ['{"name": "x"', '', '[]', 'null']) {
        assertError(await post(owner!, '/groups', body), 400, 'invalid_json', undefined, body);
      }
      // The edges are accepted: 1 and 64 characters, and exactly 1000 entries in members.
      assert.equal((await create(owner!, { name: 'x' })).name, 'x');
      assert.equal((await create(owner!, { name: 'n'.repeat(64) })).name, 'n'.repeat(64));
      assert.equal((await create(owner!, { name: '😀'.repeat(64) })).name, '😀'.repeat(64));
      const many = await create(owner!, {
        name: 'many',
        members: Array.from({ length: 1000 }, () => bob!.login),
      });
      assert.deepEqual([...many.members].sort(), [owner!.login, bob!.login].sort());
    },
  );

  test('401 without a session', opts, async () => {
    assertError(await post(null, '/groups', { name: 'x' }), 401, 'unauthorized');
  });
});

describe('GET /group/{id}', () => {
  test('messages oldest first {id, sender, text, status, time}; paging with Link', opts, async () => {
    const [owner, bob] = await registerAll(suite.http, [uniqueLogin('ho'), uniqueLogin('hb')]);
    const g = await create(owner!, { name: 'History', members: [bob!.login] });
    const ws = await chatsSocket(suite.gateway, owner!);
    const acks = await sendMessages(
      ws,
      group(g.id),
      Array.from({ length: 12 }, (_, i) => `m${i + 1}`),
    ).finally(() => ws.close());
    const res = await get<Message[]>(bob!, `/group/${g.id}`);
    const all = ok(res);
    assert.equal(res.headers.get('link'), null);
    assert.deepEqual(
      all.map((m) => m.id),
      Array.from({ length: 12 }, (_, i) => i + 1),
    );
    for (const [i, m] of all.entries()) {
      assert.deepEqual(Object.keys(m).sort(), ['id', 'sender', 'status', 'text', 'time']);
      assert.equal(m.sender, owner!.login);
      assert.equal(m.text, `m${i + 1}`);
      assert.match(m.time, TIME_RE);
      assert.equal(m.time, acks[i]!.payload.time);
    }

    const page = await get<Message[]>(owner!, `/group/${g.id}?limit=5`);
    assert.deepEqual(
      ok(page).map((m) => m.id),
      [8, 9, 10, 11, 12],
    );
    assert.equal(page.headers.get('link'), `</group/${g.id}?before=8&limit=5>; rel="next"`);
    const { pages } = await walkPages<Message>(suite.http, `/group/${g.id}?limit=5`, bob!);
    assert.deepEqual(
      pages.map((p) => p.map((m) => m.id)),
      [
        [8, 9, 10, 11, 12],
        [3, 4, 5, 6, 7],
        [1, 2],
      ],
    );
    const after = await history(bob!, `/group/${g.id}?after=10`);
    assert.deepEqual(
      after.map((m) => m.id),
      [11, 12],
    );
    const before = await history(bob!, `/group/${g.id}?before=4&limit=2`);
    assert.deepEqual(
      before.map((m) => m.id),
      [2, 3],
    );
  });

  test('status: delivered once another member fetched, read once another member read', opts, async () => {
    const [owner, bob, carol] = await registerAll(
      suite.http,
      ['so', 'sb', 'sc'].map((n) => uniqueLogin(n)),
    );
    const g = await create(owner!, { name: 'Status', members: [bob!.login, carol!.login] });
    const ws = await chatsSocket(suite.gateway, owner!);
    try {
      await sendMessages(ws, group(g.id), ['a', 'b']);
      const statuses = async (s: Session) => (await history(s, `/group/${g.id}`)).map((m) => m.status);
      assert.deepEqual(await statuses(owner!), ['sent', 'sent']);
      await statuses(bob!);
      await ws.next(
        (e) => e.type === 'message_status' && e.payload.status === 'delivered' && e.payload.id === 2,
        10_000,
      );
      assert.deepEqual(await statuses(owner!), ['delivered', 'delivered']);
      const cWs = await chatsSocket(suite.gateway, carol!);
      try {
        cWs.send({ type: 'read', payload: { id: 1, chat: group(g.id) } });
        await ws.next(
          (e) => e.type === 'message_status' && e.payload.status === 'read' && e.payload.id === 1,
          10_000,
        );
      } finally {
        await cWs.close();
      }
      assert.deepEqual(await statuses(owner!), ['read', 'delivered']);
      assert.deepEqual(await statuses(bob!), ['read', 'delivered'], 'every member sees the sender’s view');
    } finally {
      await ws.close();
    }
  });

  test('403 not_member for a private group; 404 group_not_found whatever the id shape', opts, async () => {
    const [owner, outsider] = await registerAll(suite.http, [uniqueLogin('fo'), uniqueLogin('fx')]);
    const g = await create(owner!, { name: 'Private' });
    assertError(await get(outsider!, `/group/${g.id}`), 403, 'not_member');
    assertError(await get(outsider!, `/group/${g.id}?after=0`), 403, 'not_member');
    for (const id of [...UNKNOWN_IDS, ...WEIRD_IDS]) {
      assertError(await get(owner!, `/group/${id}`), 404, 'group_not_found', undefined, `id ${id}`);
    }
  });

  test('400 bad params, 401 without a session', opts, async () => {
    const owner = await suite.http.register(uniqueLogin('qo'));
    const g = await create(owner, { name: 'Params' });
    for (const query of [
      'limit=0',
      'limit=501',
      'limit=z',
      'before=0',
      'before=x',
      'after=-1',
      'before=3&after=1',
    ]) {
      assertError(await get(owner, `/group/${g.id}?${query}`), 400, 'invalid_param', undefined, query);
    }
    assertError(await get(null, `/group/${g.id}`), 401, 'unauthorized');
    assertError(await get(null, `/group/${UNKNOWN_IDS[0]}`), 401, 'unauthorized');
  });
});

describe('group members', () => {
  test('GET members: 200 for members, 403 not_member, 404 group_not_found, 401', opts, async () => {
    const [owner, member, outsider] = await registerAll(
      suite.http,
      ['mo', 'mm', 'mx'].map((n) => uniqueLogin(n)),
    );
    const g = await create(owner!, { name: 'Members', members: [member!.login] });
    assert.deepEqual(roles(await members(member!, g.id)), {
      [owner!.login]: 'owner',
      [member!.login]: 'member',
    });
    assertError(await get(outsider!, `/group/${g.id}/members`), 403, 'not_member');
    for (const id of [...UNKNOWN_IDS, ...WEIRD_IDS]) {
      assertError(await get(owner!, `/group/${id}/members`), 404, 'group_not_found', undefined, `id ${id}`);
    }
    assertError(await get(null, `/group/${g.id}/members`), 401, 'unauthorized');
  });

  test(
    'POST members: the owner adds; others get 403 owner_only; 404 unknown group or login',
    opts,
    async () => {
      const [owner, member, dave, erin] = await registerAll(
        suite.http,
        ['ao', 'am', 'ad', 'ae'].map((n) => uniqueLogin(n)),
      );
      const g = await create(owner!, { name: 'Adders', members: [member!.login] });

      const added = await post<Member[]>(owner!, `/group/${g.id}/members`, {
        login: dave!.login.toUpperCase(),
      });
      const list = ok(added);
      assert.deepEqual(roles(list), {
        [owner!.login]: 'owner',
        [member!.login]: 'member',
        [dave!.login]: 'member',
      });
      assert.deepEqual(Object.keys(list[0]!).sort(), ['is_online', 'last_seen', 'login', 'role', 'username']);
      // Adding a member again changes nothing.
      const again = await post<Member[]>(owner!, `/group/${g.id}/members`, { login: dave!.login });
      assert.deepEqual(ok(again), list);
      assert.deepEqual(await history(dave!, `/group/${g.id}`), [], 'the new member reads it');

      assertError(await post(member!, `/group/${g.id}/members`, { login: erin!.login }), 403, 'owner_only');
      assert.equal(
        (await post(erin!, `/group/${g.id}/members`, { login: erin!.login })).status,
        403,
        'no self-join of a private group',
      );
      assertError(
        await post(owner!, `/group/${g.id}/members`, { login: uniqueLogin('ghost') }),
        404,
        'user_not_found',
      );
      assertError(await post(owner!, `/group/${g.id}/members`, { login: 'x' }), 404, 'user_not_found');
      for (const id of [...UNKNOWN_IDS, ...WEIRD_IDS]) {
        assertError(
          await post(owner!, `/group/${id}/members`, { login: erin!.login }),
          404,
          'group_not_found',
          undefined,
          `id ${id}`,
        );
      }
      assertError(await post(owner!, `/group/${g.id}/members`, {}), 400, 'invalid_field', 'login');
      assertError(await post(owner!, `/group/${g.id}/members`, { login: 7 }), 400, 'invalid_field', 'login');
      assertError(await post(owner!, `/group/${g.id}/members`, '{"login":'), 400, 'invalid_json');
      assertError(await post(null, `/group/${g.id}/members`, { login: erin!.login }), 401, 'unauthorized');
      assert.deepEqual(Object.keys(roles(await members(owner!, g.id))).length, 3, 'nothing else changed');

      // Public group: anyone adds themselves, only the owner adds others.
      const pub = await create(owner!, { name: 'Open', public: true });
      assertError(await post(erin!, `/group/${pub.id}/members`, { login: member!.login }), 403, 'owner_only');
      const selfJoin = await post<Member[]>(erin!, `/group/${pub.id}/members`, { login: erin!.login });
      assert.deepEqual(roles(ok(selfJoin)), { [owner!.login]: 'owner', [erin!.login]: 'member' });
    },
  );

  test(
    'DELETE members: leave, owner removes, 403 owner_only, 409 owner_cannot_leave, 404',
    opts,
    async () => {
      const [owner, bob, carol, outsider] = await registerAll(
        suite.http,
        ['ro', 'rb', 'rc', 'rx'].map((n) => uniqueLogin(n)),
      );
      const g = await create(owner!, { name: 'Leavers', members: [bob!.login, carol!.login] });
      const path = (login: string) => `/group/${g.id}/members/${login}`;

      assertError(await del(bob!, path(carol!.login)), 403, 'owner_only');
      assertError(await del(outsider!, path(bob!.login)), 403, 'not_member');
      assertError(await del(owner!, path(owner!.login)), 409, 'owner_cannot_leave');
      assertError(await del(null, path(bob!.login)), 401, 'unauthorized');
      for (const id of [...UNKNOWN_IDS, ...WEIRD_IDS]) {
        assertError(
          await del(owner!, `/group/${id}/members/${bob!.login}`),
          404,
          'group_not_found',
          undefined,
          `id ${id}`,
        );
      }
      assert.equal((await del(owner!, path(outsider!.login))).status, 404, 'not a member');
      assert.equal((await del(owner!, path(uniqueLogin('ghost')))).status, 404, 'no such user');

      // Bob leaves (login in any case): 204 with no body, and he loses access.
      const left = await del(bob!, path(bob!.login.toUpperCase()));
      assert.equal(left.status, 204);
      assert.equal(left.text, '');
      assertError(await get(bob!, `/group/${g.id}`), 403, 'not_member');
      assert.deepEqual(roles(await members(owner!, g.id)), {
        [owner!.login]: 'owner',
        [carol!.login]: 'member',
      });

      // The owner removes carol, then may leave the empty group.
      assert.equal((await del(owner!, path(carol!.login))).status, 204);
      assertError(await get(carol!, `/group/${g.id}/members`), 403, 'not_member');
      assert.equal((await del(owner!, path(owner!.login))).status, 204);
      assertError(await get(owner!, `/group/${g.id}`), 403, 'not_member');
    },
  );
});
