/**
 * A short, bounded load that touches every metric family the dashboards and alerts read:
 * registrations and logins (good and bad), 4xx responses, WebSocket sockets on both gateways,
 * dialog and group messages across gateways, read marks, a rejected frame, and messages to offline
 * users whose notification webhook succeeds for one and fails for the other (retries, dead letter).
 */
import http from 'node:http';
import { api, connectWs, uniqueLogin, type Session, type WsClient, type WsEvent } from '../harness/index.js';

/** Logins of offline recipients whose notification webhook call fails (see startWebhook). */
export const DOOMED_PREFIX = 'ops_x';

/** A local webhook for the relay: 204, except 500 for notifications to a DOOMED_PREFIX login. */
export interface Webhook {
  readonly url: string;
  readonly received: { failed: number; ok: number };
  close(): Promise<void>;
}

export function startWebhook(): Promise<Webhook> {
  const received = { failed: 0, ok: 0 };
  const server = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (body += chunk));
    req.on('end', () => {
      let recipient = '';
      try {
        recipient = String((JSON.parse(body) as { recipient?: unknown }).recipient ?? '');
      } catch {
        // Not JSON: counted as a success so the failure count only reflects doomed recipients.
      }
      const fail = recipient.startsWith(DOOMED_PREFIX);
      if (fail) received.failed++;
      else received.ok++;
      res.writeHead(fail ? 500 : 204).end();
    });
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      resolve({
        url: `http://127.0.0.1:${port}/notify`,
        received,
        close: () => new Promise((r) => server.close(() => r())),
      });
    }),
  );
}

export interface LoadTarget {
  /** Gateway base URLs (http://...), at least two. */
  httpUrls: string[];
  /** Gateway WebSocket base URLs (ws://...), same order. */
  wsUrls: string[];
}

export interface LoadResult {
  users: Record<'alice' | 'bob' | 'carol' | 'dave' | 'doomed', Session>;
  /** Messages acknowledged to their senders. */
  accepted: number;
  /** new_message events received by recipients' sockets (not counting acks). */
  delivered: number;
}

const isNew = (e: WsEvent) => e.type === 'new_message';

/**
 * One round of load with fresh users; resolves when every message was acknowledged and every online
 * recipient got it. dave and doomed never connect, so their messages go to the relay.
 */
export async function generateLoad(target: LoadTarget): Promise<LoadResult> {
  const [g1, g2] = target.httpUrls.map((u) => api(u)) as [ReturnType<typeof api>, ReturnType<typeof api>];
  const [w1, w2] = target.wsUrls as [string, string];
  const users = {
    alice: await g1.register(uniqueLogin('ops_a')),
    bob: await g2.register(uniqueLogin('ops_b')),
    carol: await g1.register(uniqueLogin('ops_c')),
    dave: await g2.register(uniqueLogin('ops_d')),
    doomed: await g1.register(uniqueLogin(DOOMED_PREFIX)),
  };

  // Logins by result, and a few 4xx responses.
  await g2.login(users.alice.login);
  await g1.request('POST', '/login', { body: { login: users.bob.login, password: 'wrong password!' } });
  await g2.request('POST', '/login', { body: { login: uniqueLogin('nobody'), password: 'wrong password!' } });
  await g1.request('GET', '/me');
  await g2.request('GET', '/me', { token: users.bob.token });
  await g1.request('GET', '/chats', { token: users.alice.token });
  await g1.request('POST', '/user/active/update', { token: users.carol.token });

  const sockets: WsClient[] = [];
  const open = async (url: string, s: Session) => {
    const ws = await connectWs(`${url}/chats/ws`, { token: s.token, timeoutMs: 10_000 });
    sockets.push(ws);
    return ws;
  };
  try {
    const alice = await open(w1, users.alice);
    const bob = await open(w2, users.bob);
    const carol = await open(w1, users.carol);
    const aliceOnG2 = await open(w2, users.alice);

    const group = await g1.request<{ id: string }>('POST', '/groups', {
      token: users.alice.token,
      body: { name: 'ops group', members: [users.bob.login, users.carol.login] },
    });
    if (group.status !== 201 || !group.json?.id)
      throw new Error(`POST /groups: ${group.status} ${group.text}`);
    const groupChat = { type: 'group', id: group.json.id };

    const sends: { chat: object; text: string }[] = [];
    for (let i = 0; i < 10; i++)
      sends.push({ chat: { type: 'dialog', id: users.bob.login }, text: `to bob ${i}` });
    for (let i = 0; i < 5; i++)
      sends.push({ chat: { type: 'dialog', id: users.carol.login }, text: `to carol ${i}` });
    for (let i = 0; i < 3; i++) sends.push({ chat: groupChat, text: `to group ${i}` });
    for (let i = 0; i < 2; i++)
      sends.push({ chat: { type: 'dialog', id: users.dave.login }, text: `to dave ${i}` });
    for (let i = 0; i < 2; i++)
      sends.push({ chat: { type: 'dialog', id: users.doomed.login }, text: `to doomed ${i}` });
    sends.forEach((s, i) => alice.send({ type: 'send_message', payload: { ...s, client_id: `ops-${i}` } }));

    const acks = await alice.take(
      (e) => isNew(e) && typeof e.payload.client_id === 'string',
      sends.length,
      30_000,
    );
    const bobGot = await bob.take(isNew, 10 + 3, 30_000);
    const carolGot = await carol.take(isNew, 5 + 3, 30_000);
    // Alice's second socket (other gateway) sees her own messages too.
    await aliceOnG2.take(isNew, sends.length, 30_000);

    // Read marks, presence heartbeat, typing, and one rejected frame.
    const lastToBob = bobGot.filter((e) => e.payload.chat?.type === 'dialog').at(-1);
    bob.send({
      type: 'read',
      payload: { id: lastToBob?.payload.id, chat: { type: 'dialog', id: users.alice.login } },
    });
    carol.send({ type: 'user_activity', payload: {} });
    carol.send({ type: 'typing', payload: { chat: { type: 'dialog', id: users.alice.login } } });
    alice.send('this is not json');
    await alice.next('error', 10_000);
    await alice.next((e) => e.type === 'message_status' && e.payload.status === 'read', 15_000);

    return { users, accepted: acks.length, delivered: bobGot.length + carolGot.length };
  } finally {
    await Promise.all(sockets.map((s) => s.close()));
  }
}
