/**
 * Chat actors in one process for unit tests: an in-memory SQLite store, the
 * shard's group writer, and in-memory delivery whose routing table the test
 * sets (`online`). Events are read back per gateway as parsed payloads.
 */
import type { TestContext } from 'node:test';
import { MemoryDelivery, type InboxEntry } from '../../delivery/index.js';
import type { Store, StoredMessage } from '../../store/index.js';
import { openSqliteStore } from '../../store/store.sqlite.js';
import { ChatActor } from '../actor.js';
import { GroupWriter } from '../writer.js';

export interface ActorFixture {
  store: Store;
  writer: GroupWriter;
  delivery: MemoryDelivery;
  /** Receivers handed to the relay, per message id. */
  offline: { receivers: string[]; id: number }[];
  /** A loaded actor holding its lease. */
  actor(chatId: string): Promise<ChatActor>;
  /** Puts `login` on gateway `node` (one socket). */
  online(login: string, node?: string): void;
  /** Events delivered to gateway `node` so far, of `type` when given, with their payloads parsed. */
  events(
    node?: string,
    type?: InboxEntry['type'],
  ): { users: string[] | '*'; chatId: string; data: Payload }[];
  /** Waits until everything published has been delivered. */
  settle(): Promise<void>;
}

export type Payload = Record<string, unknown>;

export const GATEWAY = 'gw-1';

export async function actorFixture(t: TestContext, logins: readonly string[]): Promise<ActorFixture> {
  const store = await openSqliteStore(':memory:');
  for (const login of logins) {
    await store.users.createUser({ login, username: login, passwordHash: 'x', createdAt: Date.now() });
  }
  const writer = new GroupWriter(store);
  const delivery = new MemoryDelivery();
  const offline: ActorFixture['offline'] = [];
  const actors: ChatActor[] = [];
  t.after(async () => {
    for (const a of actors) a.closed = true;
    await writer.drain();
    await delivery.drain();
    await store.close();
  });
  const deps = {
    store,
    writer,
    delivery,
    notifyOffline(receivers: string[], message: StoredMessage) {
      offline.push({ receivers, id: message.id });
    },
  };
  return {
    store,
    writer,
    delivery,
    offline,
    async actor(chatId) {
      const actor = new ChatActor(chatId, deps, () => undefined);
      actor.validUntil = Date.now() + 60_000;
      await actor.load();
      actors.push(actor);
      return actor;
    },
    online(login, node = GATEWAY) {
      delivery.connect(login, node);
    },
    events(node = GATEWAY, type) {
      return delivery
        .inbox(node)
        .filter((e) => !type || e.type === type)
        .map((e) => ({ users: e.users, chatId: e.chatId, data: JSON.parse(e.payload) as Payload }));
    },
    async settle() {
      // A raise of marks runs after its send resolves: give it the turns to reach delivery.
      for (let i = 0; i < 3; i++) {
        await writer.drain();
        await delivery.drain();
        await new Promise((r) => setImmediate(r));
      }
    },
  };
}
