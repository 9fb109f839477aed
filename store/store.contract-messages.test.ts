/**
 * The conformance suite of the storage ports, run on every adapter family
 * (store/testing/contract.ts): appends, fencing, history pages, chat states
 * and the listings of messages.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { dialogChatId, groupChatId } from '../common/ids.js';
import { ChatWriteError, FencedError } from './fence.js';
import type { StoredMessage } from './types.js';
import { plain, storeContract } from './testing/contract.js';

storeContract('messages', (contract) => {
  const { login, groupId, message, range } = contract;

  describe('messages', () => {
    const dialog = (): { chatId: string; a: string; b: string } => {
      const a = login('da');
      const b = login('db');
      return { chatId: dialogChatId(a, b), a, b };
    };

    it('history pages newest below `before`, oldest above `after`, always ascending', async () => {
      const { chatId, a } = dialog();
      const all = range(1, 10).map((id) => message(chatId, id, a));
      await contract.store.messages.append(all.slice(0, 4));
      await contract.store.messages.append(all.slice(4));
      const ids = async (query: { before?: number; after?: number; limit: number }) =>
        (await contract.store.messages.history(chatId, query)).map((m) => m.id);

      assert.deepEqual((await contract.store.messages.history(chatId, { limit: 100 })).map(plain), all);
      assert.deepEqual(await ids({ limit: 3 }), [8, 9, 10]);
      assert.deepEqual(await ids({ before: 5, limit: 2 }), [3, 4]);
      assert.deepEqual(await ids({ before: 5, limit: 100 }), [1, 2, 3, 4]);
      assert.deepEqual(await ids({ before: 100, limit: 2 }), [9, 10]);
      assert.deepEqual(await ids({ before: 1, limit: 5 }), []);
      assert.deepEqual(await ids({ after: 0, limit: 3 }), [1, 2, 3]);
      assert.deepEqual(await ids({ after: 5, limit: 2 }), [6, 7]);
      assert.deepEqual(await ids({ after: 8, limit: 100 }), [9, 10]);
      assert.deepEqual(await ids({ after: 10, limit: 3 }), []);
      assert.deepEqual(await contract.store.messages.history(dialog().chatId, { limit: 10 }), []);
    });

    it('append keeps every field, unicode text and a null client id', async () => {
      const { chatId, a, b } = dialog();
      const sent: StoredMessage[] = [
        {
          chatId,
          id: 1,
          sender: a,
          text: 'héllo 👋 世界\n"quoted"',
          time: 1_712_345_678_901,
          clientId: 'c-1',
        },
        { chatId, id: 2, sender: b, text: 'x'.repeat(4096), time: 1_712_345_678_999, clientId: null },
      ];
      await contract.store.messages.append(sent);
      assert.deepEqual((await contract.store.messages.history(chatId, { limit: 10 })).map(plain), sent);
    });

    it('append of an empty batch resolves', async () => {
      await contract.store.messages.append([]);
    });

    it('append of several chats stores each and advances each chat state to its newest message', async () => {
      const d = dialog();
      const g = groupChatId(groupId());
      const batch = [
        message(d.chatId, 1, d.a),
        message(g, 1, 'gs'),
        message(d.chatId, 2, d.b, 'dialog newest'),
      ];
      batch.push(message(g, 2, 'gs', 'group newest'), message(g, 3, 'gt', 'group newest 3'));
      await contract.store.messages.append(batch);
      assert.deepEqual(
        (await contract.store.messages.history(d.chatId, { limit: 10 })).map(plain),
        batch.filter((m) => m.chatId === d.chatId),
      );
      assert.deepEqual(
        (await contract.store.messages.history(g, { limit: 10 })).map(plain),
        batch.filter((m) => m.chatId === g),
      );
      const states = await contract.store.messages.chatStates([d.chatId, g]);
      assert.deepEqual(plain(states.get(d.chatId)!), {
        chatId: d.chatId,
        lastId: 2,
        lastText: 'dialog newest',
        lastSender: d.b,
        lastTime: batch[2]!.time,
      });
      assert.deepEqual(plain(states.get(g)!), {
        chatId: g,
        lastId: 3,
        lastText: 'group newest 3',
        lastSender: 'gt',
        lastTime: batch[4]!.time,
      });
    });

    it('chatStates follows appends and leaves chats without messages out', async () => {
      const { chatId, a, b } = dialog();
      const empty = dialog().chatId;
      assert.equal((await contract.store.messages.chatStates([chatId])).size, 0);
      await contract.store.messages.append([message(chatId, 1, a, 'first')]);
      assert.equal((await contract.store.messages.chatStates([chatId])).get(chatId)?.lastId, 1);
      await contract.store.messages.append([message(chatId, 2, b, 'second'), message(chatId, 3, a, 'third')]);
      const states = await contract.store.messages.chatStates([empty, chatId]);
      assert.deepEqual([...states.keys()], [chatId]);
      assert.deepEqual(plain(states.get(chatId)!), {
        chatId,
        lastId: 3,
        lastText: 'third',
        lastSender: a,
        lastTime: message(chatId, 3).time,
      });
      assert.equal((await contract.store.messages.chatStates([])).size, 0);
    });

    it('append of an id that exists rejects and changes nothing in that chat', async () => {
      const { chatId, a, b } = dialog();
      const original = [message(chatId, 1, a, 'one'), message(chatId, 2, b, 'two')];
      await contract.store.messages.append(original);

      await assert.rejects(contract.store.messages.append([message(chatId, 2, a, 'stale writer')]));
      // A stale writer's batch: its first id exists, its second is new; neither may land.
      await assert.rejects(
        contract.store.messages.append([
          message(chatId, 2, a, 'stale two'),
          message(chatId, 3, a, 'stale three'),
        ]),
      );
      assert.deepEqual((await contract.store.messages.history(chatId, { limit: 10 })).map(plain), original);
      const state = (await contract.store.messages.chatStates([chatId])).get(chatId);
      assert.equal(state?.lastId, 2);
      assert.equal(state?.lastText, 'two');

      await contract.store.messages.append([message(chatId, 3, a, 'three')]);
      assert.deepEqual(
        (await contract.store.messages.history(chatId, { after: 2, limit: 10 })).map((m) => m.text),
        ['three'],
      );
    });

    it("a dialog's first message indexes it for both participants, once", async () => {
      const { chatId, a, b } = dialog();
      const other = login('dc');
      assert.deepEqual(await contract.store.messages.dialogsOfUser(a), []);
      await contract.store.messages.append([message(chatId, 1, a)]);
      assert.deepEqual(await contract.store.messages.dialogsOfUser(a), [chatId]);
      assert.deepEqual(await contract.store.messages.dialogsOfUser(b), [chatId]);
      assert.deepEqual(await contract.store.messages.dialogsOfUser(other), []);

      await contract.store.messages.append([message(chatId, 2, b), message(chatId, 3, a)]);
      const second = dialogChatId(a, other);
      await contract.store.messages.append([message(second, 1, other)]);
      assert.deepEqual((await contract.store.messages.dialogsOfUser(a)).sort(), [chatId, second].sort());
      assert.deepEqual(await contract.store.messages.dialogsOfUser(b), [chatId]);
      assert.deepEqual(await contract.store.messages.dialogsOfUser(other), [second]);
    });

    it('group chat messages are not dialogs', async () => {
      const sender = login('gs');
      await contract.store.messages.append([message(groupChatId(groupId()), 1, sender)]);
      assert.deepEqual(await contract.store.messages.dialogsOfUser(sender), []);
    });
    describe('claims (fencing)', () => {
      it('each claim raises the fence and returns the state as of the claim', async () => {
        const { chatId, a } = dialog();
        const first = (await contract.store.messages.claim([chatId])).get(chatId)!;
        assert.equal(first.state, null, 'a chat without messages has no state');
        await contract.store.messages.append([message(chatId, 1, a, 'one')], new Map([[chatId, first]]));
        const second = (await contract.store.messages.claim([chatId, chatId])).get(chatId)!;
        assert.ok(second.fence > first.fence, `fence ${second.fence} > ${first.fence}`);
        assert.equal(second.state?.lastId, 1);
        assert.equal(second.state?.lastText, 'one');
        assert.equal((await contract.store.messages.chatStates([chatId])).get(chatId)?.lastId, 1);
        // A claimed chat without messages still has no state for readers.
        const empty = dialog().chatId;
        await contract.store.messages.claim([empty]);
        assert.equal((await contract.store.messages.chatStates([empty])).has(empty), false);
      });

      it('an append under an older claim is refused as fenced and changes nothing', async () => {
        const { chatId, a, b } = dialog();
        const old = (await contract.store.messages.claim([chatId])).get(chatId)!;
        await contract.store.messages.append([message(chatId, 1, a, 'one')], new Map([[chatId, old]]));
        const fresh = (await contract.store.messages.claim([chatId])).get(chatId)!;
        await contract.store.messages.append(
          [message(chatId, 2, b, 'new owner')],
          new Map([[chatId, fresh]]),
        );
        // The old owner wakes up and writes the id the new owner used, and one past it.
        const stale = [message(chatId, 2, a, 'zombie two'), message(chatId, 3, a, 'zombie three')];
        await assert.rejects(
          contract.store.messages.append(stale, new Map([[chatId, old]])),
          (err: Error) => {
            const reasons = err instanceof ChatWriteError ? [...err.chats.values()] : [err];
            return reasons.every((r) => r instanceof FencedError);
          },
        );
        assert.deepEqual(
          (await contract.store.messages.history(chatId, { limit: 10 })).map((m) => m.text),
          ['one', 'new owner'],
        );
        assert.equal((await contract.store.messages.chatStates([chatId])).get(chatId)?.lastId, 2);
        await contract.store.messages.append([message(chatId, 3, b, 'three')], new Map([[chatId, fresh]]));
        assert.deepEqual(
          (await contract.store.messages.history(chatId, { after: 1, limit: 10 })).map((m) => m.text),
          ['new owner', 'three'],
        );
      });

      it('a fenced chat does not stop the other chats of the same append', async () => {
        const one = dialog();
        const two = dialog();
        const old = (await contract.store.messages.claim([one.chatId])).get(one.chatId)!;
        await contract.store.messages.claim([one.chatId]);
        const other = (await contract.store.messages.claim([two.chatId])).get(two.chatId)!;
        const err = await contract.store.messages
          .append(
            [message(one.chatId, 1, one.a, 'zombie'), message(two.chatId, 1, two.a, 'fine')],
            new Map([
              [one.chatId, old],
              [two.chatId, other],
            ]),
          )
          .then(
            () => null,
            (e: unknown) => e,
          );
        assert.ok(err instanceof ChatWriteError, `a ChatWriteError, got ${String(err)}`);
        assert.deepEqual([...err.chats.keys()], [one.chatId]);
        assert.ok(err.chats.get(one.chatId) instanceof FencedError);
        assert.deepEqual(await contract.store.messages.history(one.chatId, { limit: 5 }), []);
        assert.deepEqual(
          (await contract.store.messages.history(two.chatId, { limit: 5 })).map((m) => m.text),
          ['fine'],
        );
      });

      it('marks written under an older claim after a newer one never lower them', async () => {
        const { chatId, a, b } = dialog();
        const old = (await contract.store.messages.claim([chatId])).get(chatId)!;
        await contract.store.messages.append(
          [1, 2, 3, 4].map((id) => message(chatId, id, a)),
          new Map([[chatId, old]]),
        );
        const fresh = (await contract.store.messages.claim([chatId])).get(chatId)!;
        await contract.store.messages.saveMarksBatch([
          { chatId, marks: [{ login: b, deliveredId: 4, readId: 3 }], claim: fresh },
        ]);
        // The old owner's raise, computed before the new owner's, lands afterwards.
        await contract.store.messages.saveMarks(chatId, [{ login: b, deliveredId: 2, readId: 1 }], old);
        assert.deepEqual(await contract.store.messages.marks(chatId), [
          { login: b, deliveredId: 4, readId: 3 },
        ]);
      });
    });
  });
});
