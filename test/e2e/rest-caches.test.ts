/**
 * The gateways' read caches never show stale data: GET /dialog and GET
 * /group pages kept rendered with the actor's chat version, and GET /chats
 * built from cached directory pages. Two gateways, so a change made through
 * one must show at once through the other, whose caches were filled before.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Chat, Message } from '../../common/api.js';
import { api, uniqueLogin, type Session } from '../harness/index.js';
import {
  chatsSocket,
  dialog,
  eventually,
  group,
  ok,
  registerAll,
  sendMessages,
  TEST_TIMEOUT_MS,
  useCluster,
} from './helpers.js';

const suite = useCluster({ gateways: 2 });
const opts = { timeout: TEST_TIMEOUT_MS };

async function get<T>(gateway: number, session: Session, path: string): Promise<T> {
  const http = api(suite.cluster.gateways[gateway]!.url);
  return ok(
    await http.request<T>('GET', path, { token: session.token }),
    200,
    `GET ${path} on gateway ${gateway}`,
  );
}

describe('gateway read caches', () => {
  test('history pages follow new messages and statuses on every gateway', opts, async () => {
    const [alice, bob] = await registerAll(suite.http, [uniqueLogin('ca'), uniqueLogin('cb')]);
    const aWs = await chatsSocket(suite.cluster.gateways[0]!, alice!);
    const bWs = await chatsSocket(suite.cluster.gateways[1]!, bob!);
    try {
      await sendMessages(aWs, dialog(bob!.login), ['one', 'two']);
      // Fill both gateways' caches: the newest page and a bounded one, from both participants.
      for (const gw of [0, 1]) {
        for (const path of [`/dialog/${bob!.login}`, `/dialog/${bob!.login}?after=1`]) {
          assert.deepEqual(
            (await get<Message[]>(gw, alice!, path)).map((m) => m.text),
            path.includes('after') ? ['two'] : ['one', 'two'],
          );
        }
      }
      await sendMessages(bWs, dialog(alice!.login), ['three']);
      for (const gw of [0, 1]) {
        const page = await get<Message[]>(gw, alice!, `/dialog/${bob!.login}`);
        assert.deepEqual(
          page.map((m) => m.text),
          ['one', 'two', 'three'],
          `gateway ${gw} shows the new message`,
        );
        const after = await get<Message[]>(gw, alice!, `/dialog/${bob!.login}?after=1`);
        assert.deepEqual(
          after.map((m) => m.text),
          ['two', 'three'],
        );
      }
      // Bob reads everything: alice's messages turn read in both gateways' answers (his own message
      // stays delivered: alice fetched it but has not read it).
      bWs.send({ type: 'read', payload: { id: 3, chat: dialog(alice!.login) } });
      await aWs.next((e) => e.type === 'message_status' && e.payload.status === 'read', 10_000);
      for (const gw of [0, 1]) {
        const page = await get<Message[]>(gw, alice!, `/dialog/${bob!.login}`);
        assert.deepEqual(
          page.map((m) => m.status),
          ['read', 'read', 'delivered'],
          `gateway ${gw} shows the read statuses`,
        );
      }
    } finally {
      await Promise.all([aWs.close(), bWs.close()]);
    }
  });

  test('group history pages follow new messages on every gateway', opts, async () => {
    const [owner, member] = await registerAll(suite.http, [uniqueLogin('co'), uniqueLogin('cm')]);
    const created = ok(
      await suite.http.request<{ id: string }>('POST', '/groups', {
        token: owner!.token,
        body: { name: 'cache group', members: [member!.login] },
      }),
      201,
    );
    const oWs = await chatsSocket(suite.cluster.gateways[0]!, owner!);
    try {
      await sendMessages(oWs, group(created.id), ['g1']);
      for (const gw of [0, 1]) {
        const page = await get<Message[]>(gw, member!, `/group/${created.id}`);
        assert.deepEqual(
          page.map((m) => m.text),
          ['g1'],
        );
      }
      await sendMessages(oWs, group(created.id), ['g2']);
      for (const gw of [0, 1]) {
        const page = await get<Message[]>(gw, member!, `/group/${created.id}`);
        assert.deepEqual(
          page.map((m) => m.text),
          ['g1', 'g2'],
          `gateway ${gw} shows the new message`,
        );
      }
      // A cached page is still refused to someone who may not read the group.
      const [outsider] = await registerAll(suite.http, [uniqueLogin('cx')]);
      const http = api(suite.cluster.gateways[1]!.url);
      const res = await http.request('GET', `/group/${created.id}`, { token: outsider!.token });
      assert.equal(res.status, 403);
    } finally {
      await oWs.close();
    }
  });

  test('GET /chats lists a user registered through another gateway at once', opts, async () => {
    const [viewer] = await registerAll(suite.http, [uniqueLogin('cv')]);
    // Fill the directory caches of both gateways.
    for (const gw of [0, 1]) await get<Chat[]>(gw, viewer!, '/chats?limit=1000');
    const login = uniqueLogin('cn');
    await api(suite.cluster.gateways[0]!.url).register(login, undefined, 'Newcomer');
    for (const gw of [0, 1]) {
      const list = await get<Chat[]>(gw, viewer!, '/chats?limit=1000');
      const entry = list.find((c) => c.type === 'dialog' && c.id === login);
      assert.ok(entry, `gateway ${gw} lists the new user`);
      assert.equal(entry.name, 'Newcomer');
      assert.equal(entry.last_message_id, null);
    }
  });

  test('GET /chats shows a user online at once on the gateway holding the socket', opts, async () => {
    const [viewer, peer] = await registerAll(suite.http, [uniqueLogin('cp'), uniqueLogin('cq')]);
    const entryOf = async (gw: number) =>
      (await get<Chat[]>(gw, viewer!, '/chats?limit=1000')).find(
        (c) => c.type === 'dialog' && c.id === peer!.login,
      );
    assert.equal((await entryOf(0))?.is_online, false);
    const ws = await chatsSocket(suite.cluster.gateways[0]!, peer!);
    try {
      assert.equal((await entryOf(0))?.is_online, true, 'the socket is on this gateway');
      // The other gateway learns it from presence (cached reads, at most a second or two).
      await eventually('online on the other gateway', async () =>
        (await entryOf(1))?.is_online === true ? true : undefined,
      );
    } finally {
      await ws.close();
    }
    await eventually('offline again', async () =>
      (await entryOf(0))?.is_online === false ? true : undefined,
    );
  });
});
