/**
 * API.md "Dialogs" end to end: GET /dialog/{receiverLogin} — message shape,
 * oldest-first order, the sender's-view status (sent → delivered on fetch →
 * read), before/after/limit paging with the Link header, and every error.
 * History is created by sending over WebSockets and waiting for each ack.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Message } from '../../common/api.js';
import { uniqueLogin, type Session } from '../harness/index.js';
import {
  assertError,
  chatsSocket,
  dialog,
  nextLink,
  ok,
  registerAll,
  sendMessages,
  TEST_TIMEOUT_MS,
  TIME_RE,
  useCluster,
  walkPages,
} from './helpers.js';

const suite = useCluster();
const opts = { timeout: TEST_TIMEOUT_MS };

async function history(session: Session, path: string) {
  const res = await suite.http.request<Message[]>('GET', path, { token: session.token });
  const body = ok(res, 200, `GET ${path}`);
  assert.ok(Array.isArray(body));
  return { body, link: nextLink(res), res };
}

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);
const ids = (list: Message[]) => list.map((m) => m.id);

/** A dialog of `count` messages from `from` to `to`, sent in batches; returns nothing until all are acked. */
async function fill(from: Session, to: Session, count: number, label: string): Promise<void> {
  const ws = await chatsSocket(suite.gateway, from);
  try {
    for (let i = 0; i < count; i += 50) {
      const texts = range(i + 1, Math.min(count, i + 50)).map((n) => `${label} ${n}`);
      const acks = await sendMessages(ws, dialog(to.login), texts);
      assert.deepEqual(
        acks.map((a) => a.payload.id),
        range(i + 1, i + texts.length),
      );
    }
  } finally {
    await ws.close();
  }
}

describe('GET /dialog/{login}', () => {
  test(
    'messages oldest first with {id, sender, receiver, text, status, time}, from both sides',
    opts,
    async () => {
      const [alice, bob] = await registerAll(suite.http, [uniqueLogin('da'), uniqueLogin('db')]);
      const [aWs, bWs] = await Promise.all([
        chatsSocket(suite.gateway, alice!),
        chatsSocket(suite.gateway, bob!),
      ]);
      try {
        const first = await sendMessages(aWs, dialog(bob!.login), ['hello bob', 'second']);
        const reply = await sendMessages(bWs, dialog(alice!.login), ['hi alice']);
        const acks = [...first, ...reply];

        const { body: seenByAlice, link } = await history(alice!, `/dialog/${bob!.login}`);
        assert.equal(link, null, 'no Link when nothing older remains');
        assert.deepEqual(ids(seenByAlice), [1, 2, 3]);
        for (const [i, m] of seenByAlice.entries()) {
          assert.deepEqual(Object.keys(m).sort(), ['id', 'receiver', 'sender', 'status', 'text', 'time']);
          assert.match(m.time, TIME_RE);
          assert.equal(m.time, acks[i]!.payload.time, 'the same time as in the ack');
          assert.ok(['sent', 'delivered', 'read'].includes(m.status));
        }
        assert.deepEqual(
          seenByAlice.map(({ sender, receiver, text }) => ({ sender, receiver, text })),
          [
            { sender: alice!.login, receiver: bob!.login, text: 'hello bob' },
            { sender: alice!.login, receiver: bob!.login, text: 'second' },
            { sender: bob!.login, receiver: alice!.login, text: 'hi alice' },
          ],
        );
        assert.ok(
          seenByAlice[0]!.time <= seenByAlice[1]!.time && seenByAlice[1]!.time <= seenByAlice[2]!.time,
        );

        const { body: seenByBob } = await history(bob!, `/dialog/${alice!.login}`);
        assert.deepEqual(
          seenByBob.map(({ id, sender, receiver, text, time }) => ({ id, sender, receiver, text, time })),
          seenByAlice.map(({ id, sender, receiver, text, time }) => ({ id, sender, receiver, text, time })),
          'both participants see the same dialog',
        );
        // The peer login is case-insensitive; answers use canonical logins.
        const { body: upper } = await history(alice!, `/dialog/${bob!.login.toUpperCase()}`);
        assert.deepEqual(ids(upper), [1, 2, 3]);
        assert.equal(upper[0]!.receiver, bob!.login);
      } finally {
        await Promise.all([aWs.close(), bWs.close()]);
      }
    },
  );

  test('an empty dialog is 200 [] without a Link', opts, async () => {
    const [alice, bob] = await registerAll(suite.http, [uniqueLogin('ea'), uniqueLogin('eb')]);
    const { body, link } = await history(alice!, `/dialog/${bob!.login}`);
    assert.deepEqual(body, []);
    assert.equal(link, null);
  });

  test('status from the sender’s view: sent, delivered once the receiver fetched, read', opts, async () => {
    const [alice, bob] = await registerAll(suite.http, [uniqueLogin('sa'), uniqueLogin('sb')]);
    const aWs = await chatsSocket(suite.gateway, alice!);
    try {
      await sendMessages(aWs, dialog(bob!.login), ['m1', 'm2', 'm3']);
      // Bob has no socket: stored, not delivered.
      const { body: sent } = await history(alice!, `/dialog/${bob!.login}`);
      assert.deepEqual(
        sent.map((m) => m.status),
        ['sent', 'sent', 'sent'],
      );

      // Bob fetches them: delivered (alice is told, then sees it in the history too).
      await history(bob!, `/dialog/${alice!.login}?limit=2`);
      const delivered = await aWs.next(
        (e) => e.type === 'message_status' && e.payload.status === 'delivered' && e.payload.id === 3,
        10_000,
      );
      assert.deepEqual(delivered.payload.chat, dialog(bob!.login));
      const { body: afterFetch } = await history(alice!, `/dialog/${bob!.login}`);
      assert.deepEqual(
        afterFetch.map((m) => m.status),
        ['delivered', 'delivered', 'delivered'],
      );

      // Bob reads up to m2: m1 and m2 read, m3 still delivered.
      const bWs = await chatsSocket(suite.gateway, bob!);
      try {
        bWs.send({ type: 'read', payload: { id: 2, chat: dialog(alice!.login) } });
        await aWs.next(
          (e) => e.type === 'message_status' && e.payload.status === 'read' && e.payload.id === 2,
          10_000,
        );
        const { body: read } = await history(alice!, `/dialog/${bob!.login}`);
        assert.deepEqual(
          read.map((m) => m.status),
          ['read', 'read', 'delivered'],
        );
        // Bob's view shows the same statuses (always the sender's point of view).
        const { body: bobView } = await history(bob!, `/dialog/${alice!.login}`);
        assert.deepEqual(
          bobView.map((m) => m.status),
          ['read', 'read', 'delivered'],
        );
        // Bob's own reply is only sent until alice's socket receives it.
        await sendMessages(bWs, dialog(alice!.login), ['reply']);
        await bWs.next((e) => e.type === 'message_status' && e.payload.id === 4, 10_000);
        const { body: withReply } = await history(bob!, `/dialog/${alice!.login}`);
        assert.equal(withReply.at(-1)!.sender, bob!.login);
        assert.equal(withReply.at(-1)!.status, 'delivered', 'alice has a socket open: delivered');
      } finally {
        await bWs.close();
      }
    } finally {
      await aWs.close();
    }
  });

  test('paging: newest 100 by default, before/after/limit, Link walks back to the first', opts, async () => {
    const [carol, dave] = await registerAll(suite.http, [uniqueLogin('pc'), uniqueLogin('pd')]);
    const total = 130;
    await fill(carol!, dave!, total, 'msg');
    const path = `/dialog/${dave!.login}`;

    const latest = await history(carol!, path);
    assert.deepEqual(ids(latest.body), range(31, 130), 'the newest 100, oldest first');
    assert.equal(latest.body[0]!.text, 'msg 31');
    assert.ok(latest.link, 'a Link to the older messages');
    assert.match(latest.link, new RegExp(`^/dialog/${dave!.login}\\?`));
    const older = await history(carol!, latest.link);
    assert.deepEqual(ids(older.body), range(1, 30));
    assert.equal(older.link, null, 'the oldest page has no Link');

    const page50 = await history(carol!, `${path}?limit=50`);
    assert.deepEqual(ids(page50.body), range(81, 130));
    const params = new URLSearchParams(page50.link!.split('?')[1]);
    assert.equal(params.get('before'), '81');
    assert.equal(params.get('limit'), '50', 'the Link keeps the limit');

    for (const limit of [1, 7, 50, 130, 500]) {
      const { pages } = await walkPages<Message>(suite.http, `${path}?limit=${limit}`, carol!);
      const seen = pages.flatMap((page) => {
        for (let i = 1; i < page.length; i++)
          assert.ok(page[i - 1]!.id < page[i]!.id, 'oldest first in a page');
        return ids(page);
      });
      assert.deepEqual(
        seen.sort((a, b) => a - b),
        range(1, total),
        `limit=${limit}: every message exactly once`,
      );
      assert.equal(pages.length, Math.ceil(total / limit), `limit=${limit}: no empty page`);
    }

    assert.deepEqual(ids((await history(carol!, `${path}?before=11`)).body), range(1, 10));
    assert.deepEqual(ids((await history(carol!, `${path}?before=11&limit=3`)).body), [8, 9, 10]);
    const beforeFirst = await history(carol!, `${path}?before=1`);
    assert.deepEqual(beforeFirst.body, []);
    assert.equal(beforeFirst.link, null);
    assert.deepEqual(ids((await history(carol!, `${path}?before=100000`)).body), range(31, 130));

    // after: catch-up, oldest first, at most `limit`.
    assert.deepEqual(ids((await history(carol!, `${path}?after=120`)).body), range(121, 130));
    assert.deepEqual(ids((await history(carol!, `${path}?after=0`)).body), range(1, 100));
    assert.deepEqual(ids((await history(carol!, `${path}?after=0&limit=5`)).body), range(1, 5));
    assert.deepEqual(ids((await history(carol!, `${path}?after=125&limit=500`)).body), range(126, 130));
    assert.deepEqual((await history(carol!, `${path}?after=130`)).body, []);
    assert.deepEqual((await history(carol!, `${path}?after=100000`)).body, []);
    assert.deepEqual(ids((await history(dave!, `/dialog/${carol!.login}?after=128`)).body), [129, 130]);
  });

  test('400: bad login, dialog with oneself, bad paging params', opts, async () => {
    const [alice, bob] = await registerAll(suite.http, [uniqueLogin('ba'), uniqueLogin('bb')]);
    const get = (path: string) => suite.http.request('GET', path, { token: alice!.token });
    assertError(await get(`/dialog/${alice!.login}`), 400, 'self_dialog', undefined, 'self');
    assertError(
      await get(`/dialog/${alice!.login.toUpperCase()}`),
      400,
      'self_dialog',
      undefined,
      'self, other case',
    );
    for (const login of ['ab', 'x'.repeat(33), 'bad%20login', 'colon%3Ax', '%F0%9F%98%80x', 'a%2Fb']) {
      assertError(await get(`/dialog/${login}`), 400, 'invalid_param', undefined, `login ${login}`);
    }
    const path = `/dialog/${bob!.login}`;
    for (const query of [
      'limit=0',
      'limit=501',
      'limit=-1',
      'limit=x',
      'before=0',
      'before=-5',
      'before=1.5',
      'before=abc',
      'after=-1',
      'after=one',
      'before=5&after=1',
      'after=1&before=5&limit=10',
    ]) {
      const res = await get(`${path}?${query}`);
      assertError(res, 400, 'invalid_param', undefined, query);
    }
    assert.equal((await get(`${path}?limit=500`)).status, 200);
  });

  test('401 without a session; 404 user_not_found for an unknown receiver', opts, async () => {
    const [alice, bob] = await registerAll(suite.http, [uniqueLogin('na'), uniqueLogin('nb')]);
    assertError(await suite.http.request('GET', `/dialog/${bob!.login}`), 401, 'unauthorized');
    assertError(
      await suite.http.request('GET', `/dialog/${bob!.login}`, { token: 'invalid' }),
      401,
      'unauthorized',
    );
    const ghost = uniqueLogin('ghost');
    assertError(
      await suite.http.request('GET', `/dialog/${ghost}`, { token: alice!.token }),
      404,
      'user_not_found',
    );
    // Once that login registers, the dialog exists.
    await suite.http.register(ghost);
    const res = await suite.http.request('GET', `/dialog/${ghost}`, { token: alice!.token });
    assert.deepEqual(ok(res, 200, 'dialog with a user registered after a 404'), []);
  });
});
