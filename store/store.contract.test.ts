/**
 * The conformance suite of the storage ports: every adapter family runs the
 * same cases against the `Store` interface. SQLite always runs (a fresh file
 * per suite); Cassandra runs on the test run's node (test/harness/cassandra.ts;
 * `npm test` starts one), in a throwaway keyspace that is dropped afterwards.
 *
 * Cases share one store per suite, so each uses its own logins, group ids and
 * chat ids (a random suite suffix plus a per-case counter), and cases over
 * global listings (listByName, search, publicGroups) look only at their own rows.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { dialogChatId, groupChatId } from '../common/ids.js';
import type { Store } from './store.js';
import { ChatWriteError, FencedError } from './fence.js';
import { openSqliteStore } from './store.sqlite.js';
import { cassandraMissing, releaseVersion, testCassandra } from '../test/harness/cassandra.js';
import type {
  GroupMemberRecord,
  GroupRecord,
  Marks,
  StoredMessage,
  UserProfile,
  UserRecord,
} from './types.js';

/** Byte order of the UTF-8 encodings, which is code point order: how both adapters sort text. */
function compareText(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

function byNameThenLogin(a: UserProfile, b: UserProfile): number {
  return compareText(a.username, b.username) || compareText(a.login, b.login);
}

function profile(u: UserProfile): UserProfile {
  return { login: u.login, username: u.username };
}

/** A plain copy of a returned record, so comparisons see its own fields only. */
function plain<T extends object>(value: T): T {
  return { ...value };
}

function byLogin<T extends { login: string }>(rows: readonly T[]): T[] {
  return [...rows].sort((a, b) => compareText(a.login, b.login));
}

function describeStoreContract(name: string, open: () => Promise<Store>): void {
  describe(name, () => {
    let store: Store;
    const suffix = randomBytes(3).toString('hex');
    let counter = 0;
    /** A login unique to this suite and call: lower case, [a-z0-9_.-], at most 32 chars. */
    const login = (tag: string): string => `${tag}${++counter}_${suffix}`;
    const groupId = (): string => `grp${++counter}-${suffix}`;

    const user = (l: string, username: string, createdAt = 1_700_000_000_000): UserRecord => ({
      login: l,
      username,
      passwordHash: `$argon2id$v=19$m=65536,t=3,p=4$${l}`,
      createdAt,
    });

    const message = (chatId: string, id: number, sender = 'sender', text = `text ${id}`): StoredMessage => ({
      chatId,
      id,
      sender,
      text,
      time: 1_700_000_000_000 + id * 1000,
      clientId: id % 2 === 0 ? null : `client-${chatId}-${id}`,
    });

    const range = (from: number, to: number): number[] =>
      Array.from({ length: to - from + 1 }, (_, i) => from + i);

    before(async () => {
      store = await open();
    });

    after(async () => {
      // Unset when opening failed; that failure is the one to report.
      if (store) await store.close();
    });

    describe('users', () => {
      it('createUser inserts once and never overwrites an existing login', async () => {
        const l = login('cu');
        const first = user(l, 'First Name', 1_700_000_000_123);
        assert.equal(await store.users.createUser(first), true);
        assert.equal(await store.users.createUser(user(l, 'Second Name', 1_800_000_000_000)), false);
        assert.deepEqual(plain((await store.users.getUser(l))!), first);
      });

      it('getUser returns null for an unknown login', async () => {
        assert.equal(await store.users.getUser(login('unknown')), null);
      });

      it('getProfiles returns login and username of existing users only', async () => {
        const a = user(login('pa'), 'Profile A');
        const b = user(login('pb'), 'Профиль Б');
        await store.users.createUser(a);
        await store.users.createUser(b);
        const missing = login('pmissing');
        const profiles = await store.users.getProfiles([a.login, missing, b.login]);
        assert.deepEqual([...profiles.keys()].sort(), [a.login, b.login].sort());
        assert.deepEqual(plain(profiles.get(a.login)!), profile(a));
        assert.deepEqual(plain(profiles.get(b.login)!), profile(b));
        assert.equal((await store.users.getProfiles([])).size, 0);
        assert.equal((await store.users.getProfiles([missing])).size, 0);
      });

      it('listByName pages by (username, login), equal and unicode usernames included', async () => {
        // Every username starts with this test's token, so its users are contiguous in the listing.
        const token = `List-${suffix}-`;
        const names = [
          'Bob',
          'Bob',
          'Bob',
          'alice',
          'Alice',
          'Ärger',
          'émile',
          '日本語',
          '🙂 smile',
          'Zed',
          'Z',
        ];
        const mine = names.map((n, i) => user(login(`lb${i}x`), token + n));
        for (const u of [...mine].reverse()) assert.equal(await store.users.createUser(u), true);
        const expected = mine.map(profile).sort(byNameThenLogin);

        const seen: UserProfile[] = [];
        let cursor = { username: token, login: '' };
        for (;;) {
          const page = await store.users.listByName(cursor, 2);
          assert.ok(page.length <= 2);
          const own = page.filter((p) => p.username.startsWith(token));
          seen.push(...own.map(plain));
          if (own.length < page.length || page.length < 2) break;
          const last = page[page.length - 1]!;
          cursor = { username: last.username, login: last.login };
        }
        assert.deepEqual(seen, expected);

        // Strictly after the cursor: a cursor on one of three equal usernames yields the other two next.
        const bobs = expected.filter((p) => p.username === `${token}Bob`);
        assert.equal(bobs.length, 3);
        assert.deepEqual((await store.users.listByName(bobs[0]!, 2)).map(plain), bobs.slice(1));
      });

      it('listByName from the start is ordered, complete and limited', async () => {
        const token = `All-${suffix}-`;
        for (const n of ['b', 'a', 'c']) await store.users.createUser(user(login('la'), token + n));
        const all = (await store.users.listByName(null, 10_000)).map(plain);
        assert.deepEqual(all, [...all].sort(byNameThenLogin));
        assert.equal(new Set(all.map((p) => p.login)).size, all.length);
        assert.equal(all.filter((p) => p.username.startsWith(token)).length, 3);
        assert.deepEqual((await store.users.listByName(null, 1)).map(plain), all.slice(0, 1));

        const paged: UserProfile[] = [];
        let cursor: UserProfile | null = null;
        for (;;) {
          const page: UserProfile[] = await store.users.listByName(cursor, 3);
          paged.push(...page.map(plain));
          if (page.length < 3) break;
          cursor = page[page.length - 1]!;
        }
        assert.deepEqual(paged, all);
      });

      it('search matches login or username prefixes case-insensitively, ordered by login', async () => {
        const p = `sr${suffix}`;
        const byLoginPrefix1 = user(`${p}a${++counter}`, 'Plain One');
        const byLoginPrefix2 = user(`${p}b${++counter}`, 'Other');
        const byUsername = user(`x${suffix}c${++counter}`, `${p.toUpperCase()} Upper`);
        const byBoth = user(`${p}e${++counter}`, `${p}E`);
        const unicode = user(`y${suffix}d${++counter}`, `Ümlaut${suffix} Ärger`);
        const neither = user(`z${suffix}f${++counter}`, 'Nobody');
        for (const u of [byLoginPrefix1, byLoginPrefix2, byUsername, byBoth, unicode, neither]) {
          assert.equal(await store.users.createUser(u), true);
        }
        const expected = byLogin([byLoginPrefix1, byLoginPrefix2, byUsername, byBoth].map(profile));

        assert.deepEqual((await store.users.search(p, 20)).map(plain), expected);
        assert.deepEqual((await store.users.search(p.toUpperCase(), 20)).map(plain), expected);
        assert.deepEqual((await store.users.search(p, 2)).map(plain), expected.slice(0, 2));
        assert.deepEqual((await store.users.search(`${p}A`, 20)).map(plain), [profile(byLoginPrefix1)]);
        assert.deepEqual((await store.users.search(`${p.toUpperCase()} up`, 20)).map(plain), [
          profile(byUsername),
        ]);
        assert.deepEqual((await store.users.search(`ümlaut${suffix}`, 20)).map(plain), [profile(unicode)]);
        assert.deepEqual((await store.users.search(`ÜMLAUT${suffix.toUpperCase()} ä`, 20)).map(plain), [
          profile(unicode),
        ]);
        assert.deepEqual(await store.users.search(`nomatch${suffix}`, 20), []);
      });
    });

    describe('groups', () => {
      const group = (isPublic: boolean, owner: string): GroupRecord => ({
        id: groupId(),
        name: `Group ${counter} ✓`,
        isPublic,
        owner,
        createdAt: 1_700_000_000_000 + counter,
      });

      it('createGroup stores the group with its members; getGroup returns it or null', async () => {
        const owner = login('go');
        const g = group(true, owner);
        const members: GroupMemberRecord[] = [
          { login: login('gz'), role: 'member' },
          { login: owner, role: 'owner' },
          { login: login('ga'), role: 'member' },
        ];
        await store.groups.createGroup(g, members);
        assert.deepEqual(plain((await store.groups.getGroup(g.id))!), g);
        assert.deepEqual((await store.groups.listMembers(g.id)).map(plain), byLogin(members));
        assert.equal(await store.groups.getGroup(groupId()), null);
      });

      it('getGroups returns known groups and leaves unknown ids out', async () => {
        const a = group(false, login('gga'));
        const b = group(true, login('ggb'));
        await store.groups.createGroup(a, [{ login: a.owner, role: 'owner' }]);
        await store.groups.createGroup(b, [{ login: b.owner, role: 'owner' }]);
        const found = await store.groups.getGroups([a.id, groupId(), b.id]);
        assert.deepEqual([...found.keys()].sort(), [a.id, b.id].sort());
        assert.deepEqual(plain(found.get(a.id)!), a);
        assert.deepEqual(plain(found.get(b.id)!), b);
        assert.equal((await store.groups.getGroups([])).size, 0);
      });

      it('listMembers is empty for an unknown group', async () => {
        assert.deepEqual(await store.groups.listMembers(groupId()), []);
      });

      it('addMember reports whether anything changed; removeMember whether the login was a member', async () => {
        const owner = login('mo');
        const g = group(false, owner);
        await store.groups.createGroup(g, [{ login: owner, role: 'owner' }]);
        const m = login('mm');

        assert.equal(await store.groups.addMember(g.id, m, 'member'), true);
        assert.equal(await store.groups.addMember(g.id, m, 'member'), false);
        const expected: GroupMemberRecord[] = [
          { login: owner, role: 'owner' },
          { login: m, role: 'member' },
        ];
        assert.deepEqual((await store.groups.listMembers(g.id)).map(plain), byLogin(expected));

        assert.equal(await store.groups.addMember(g.id, m, 'owner'), true);
        assert.equal(await store.groups.addMember(g.id, m, 'owner'), false);
        assert.deepEqual(
          (await store.groups.listMembers(g.id)).find((r) => r.login === m),
          { login: m, role: 'owner' },
        );
        assert.equal(await store.groups.addMember(g.id, m, 'member'), true);

        assert.equal(await store.groups.removeMember(g.id, m), true);
        assert.equal(await store.groups.removeMember(g.id, m), false);
        assert.equal(await store.groups.removeMember(g.id, login('never')), false);
        assert.deepEqual((await store.groups.listMembers(g.id)).map(plain), [
          { login: owner, role: 'owner' },
        ]);
      });

      it('groupsOfUser follows membership', async () => {
        const u = login('gu');
        const a = group(false, u);
        const b = group(true, login('gub'));
        await store.groups.createGroup(a, [{ login: u, role: 'owner' }]);
        await store.groups.createGroup(b, [{ login: b.owner, role: 'owner' }]);
        assert.deepEqual(await store.groups.groupsOfUser(u), [a.id]);
        await store.groups.addMember(b.id, u, 'member');
        assert.deepEqual((await store.groups.groupsOfUser(u)).sort(), [a.id, b.id].sort());
        await store.groups.removeMember(a.id, u);
        assert.deepEqual(await store.groups.groupsOfUser(u), [b.id]);
        assert.deepEqual(await store.groups.groupsOfUser(login('nogroups')), []);
      });

      it('publicGroups lists public groups and no private one', async () => {
        const pub = group(true, login('pg'));
        const priv = group(false, login('pp'));
        await store.groups.createGroup(pub, [{ login: pub.owner, role: 'owner' }]);
        await store.groups.createGroup(priv, [{ login: priv.owner, role: 'owner' }]);
        const listed = await store.groups.publicGroups();
        assert.deepEqual(plain(listed.find((g) => g.id === pub.id)!), pub);
        assert.equal(
          listed.some((g) => g.id === priv.id),
          false,
        );
        assert.ok(listed.every((g) => g.isPublic === true));
      });
    });

    describe('messages', () => {
      const dialog = (): { chatId: string; a: string; b: string } => {
        const a = login('da');
        const b = login('db');
        return { chatId: dialogChatId(a, b), a, b };
      };

      it('history pages newest below `before`, oldest above `after`, always ascending', async () => {
        const { chatId, a } = dialog();
        const all = range(1, 10).map((id) => message(chatId, id, a));
        await store.messages.append(all.slice(0, 4));
        await store.messages.append(all.slice(4));
        const ids = async (query: { before?: number; after?: number; limit: number }) =>
          (await store.messages.history(chatId, query)).map((m) => m.id);

        assert.deepEqual((await store.messages.history(chatId, { limit: 100 })).map(plain), all);
        assert.deepEqual(await ids({ limit: 3 }), [8, 9, 10]);
        assert.deepEqual(await ids({ before: 5, limit: 2 }), [3, 4]);
        assert.deepEqual(await ids({ before: 5, limit: 100 }), [1, 2, 3, 4]);
        assert.deepEqual(await ids({ before: 100, limit: 2 }), [9, 10]);
        assert.deepEqual(await ids({ before: 1, limit: 5 }), []);
        assert.deepEqual(await ids({ after: 0, limit: 3 }), [1, 2, 3]);
        assert.deepEqual(await ids({ after: 5, limit: 2 }), [6, 7]);
        assert.deepEqual(await ids({ after: 8, limit: 100 }), [9, 10]);
        assert.deepEqual(await ids({ after: 10, limit: 3 }), []);
        assert.deepEqual(await store.messages.history(dialog().chatId, { limit: 10 }), []);
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
        await store.messages.append(sent);
        assert.deepEqual((await store.messages.history(chatId, { limit: 10 })).map(plain), sent);
      });

      it('append of an empty batch resolves', async () => {
        await store.messages.append([]);
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
        await store.messages.append(batch);
        assert.deepEqual(
          (await store.messages.history(d.chatId, { limit: 10 })).map(plain),
          batch.filter((m) => m.chatId === d.chatId),
        );
        assert.deepEqual(
          (await store.messages.history(g, { limit: 10 })).map(plain),
          batch.filter((m) => m.chatId === g),
        );
        const states = await store.messages.chatStates([d.chatId, g]);
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
        assert.equal((await store.messages.chatStates([chatId])).size, 0);
        await store.messages.append([message(chatId, 1, a, 'first')]);
        assert.equal((await store.messages.chatStates([chatId])).get(chatId)?.lastId, 1);
        await store.messages.append([message(chatId, 2, b, 'second'), message(chatId, 3, a, 'third')]);
        const states = await store.messages.chatStates([empty, chatId]);
        assert.deepEqual([...states.keys()], [chatId]);
        assert.deepEqual(plain(states.get(chatId)!), {
          chatId,
          lastId: 3,
          lastText: 'third',
          lastSender: a,
          lastTime: message(chatId, 3).time,
        });
        assert.equal((await store.messages.chatStates([])).size, 0);
      });

      it('append of an id that exists rejects and changes nothing in that chat', async () => {
        const { chatId, a, b } = dialog();
        const original = [message(chatId, 1, a, 'one'), message(chatId, 2, b, 'two')];
        await store.messages.append(original);

        await assert.rejects(store.messages.append([message(chatId, 2, a, 'stale writer')]));
        // A stale writer's batch: its first id exists, its second is new; neither may land.
        await assert.rejects(
          store.messages.append([message(chatId, 2, a, 'stale two'), message(chatId, 3, a, 'stale three')]),
        );
        assert.deepEqual((await store.messages.history(chatId, { limit: 10 })).map(plain), original);
        const state = (await store.messages.chatStates([chatId])).get(chatId);
        assert.equal(state?.lastId, 2);
        assert.equal(state?.lastText, 'two');

        await store.messages.append([message(chatId, 3, a, 'three')]);
        assert.deepEqual(
          (await store.messages.history(chatId, { after: 2, limit: 10 })).map((m) => m.text),
          ['three'],
        );
      });

      it("a dialog's first message indexes it for both participants, once", async () => {
        const { chatId, a, b } = dialog();
        const other = login('dc');
        assert.deepEqual(await store.messages.dialogsOfUser(a), []);
        await store.messages.append([message(chatId, 1, a)]);
        assert.deepEqual(await store.messages.dialogsOfUser(a), [chatId]);
        assert.deepEqual(await store.messages.dialogsOfUser(b), [chatId]);
        assert.deepEqual(await store.messages.dialogsOfUser(other), []);

        await store.messages.append([message(chatId, 2, b), message(chatId, 3, a)]);
        const second = dialogChatId(a, other);
        await store.messages.append([message(second, 1, other)]);
        assert.deepEqual((await store.messages.dialogsOfUser(a)).sort(), [chatId, second].sort());
        assert.deepEqual(await store.messages.dialogsOfUser(b), [chatId]);
        assert.deepEqual(await store.messages.dialogsOfUser(other), [second]);
      });

      it('group chat messages are not dialogs', async () => {
        const sender = login('gs');
        await store.messages.append([message(groupChatId(groupId()), 1, sender)]);
        assert.deepEqual(await store.messages.dialogsOfUser(sender), []);
      });
      describe('claims (fencing)', () => {
        it('each claim raises the fence and returns the state as of the claim', async () => {
          const { chatId, a } = dialog();
          const first = (await store.messages.claim([chatId])).get(chatId)!;
          assert.equal(first.state, null, 'a chat without messages has no state');
          await store.messages.append([message(chatId, 1, a, 'one')], new Map([[chatId, first]]));
          const second = (await store.messages.claim([chatId, chatId])).get(chatId)!;
          assert.ok(second.fence > first.fence, `fence ${second.fence} > ${first.fence}`);
          assert.equal(second.state?.lastId, 1);
          assert.equal(second.state?.lastText, 'one');
          assert.equal((await store.messages.chatStates([chatId])).get(chatId)?.lastId, 1);
          // A claimed chat without messages still has no state for readers.
          const empty = dialog().chatId;
          await store.messages.claim([empty]);
          assert.equal((await store.messages.chatStates([empty])).has(empty), false);
        });

        it('an append under an older claim is refused as fenced and changes nothing', async () => {
          const { chatId, a, b } = dialog();
          const old = (await store.messages.claim([chatId])).get(chatId)!;
          await store.messages.append([message(chatId, 1, a, 'one')], new Map([[chatId, old]]));
          const fresh = (await store.messages.claim([chatId])).get(chatId)!;
          await store.messages.append([message(chatId, 2, b, 'new owner')], new Map([[chatId, fresh]]));
          // The old owner wakes up and writes the id the new owner used, and one past it.
          const stale = [message(chatId, 2, a, 'zombie two'), message(chatId, 3, a, 'zombie three')];
          await assert.rejects(store.messages.append(stale, new Map([[chatId, old]])), (err: Error) => {
            const reasons = err instanceof ChatWriteError ? [...err.chats.values()] : [err];
            return reasons.every((r) => r instanceof FencedError);
          });
          assert.deepEqual(
            (await store.messages.history(chatId, { limit: 10 })).map((m) => m.text),
            ['one', 'new owner'],
          );
          assert.equal((await store.messages.chatStates([chatId])).get(chatId)?.lastId, 2);
          await store.messages.append([message(chatId, 3, b, 'three')], new Map([[chatId, fresh]]));
          assert.deepEqual(
            (await store.messages.history(chatId, { after: 1, limit: 10 })).map((m) => m.text),
            ['new owner', 'three'],
          );
        });

        it('a fenced chat does not stop the other chats of the same append', async () => {
          const one = dialog();
          const two = dialog();
          const old = (await store.messages.claim([one.chatId])).get(one.chatId)!;
          await store.messages.claim([one.chatId]);
          const other = (await store.messages.claim([two.chatId])).get(two.chatId)!;
          const err = await store.messages
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
          assert.deepEqual(await store.messages.history(one.chatId, { limit: 5 }), []);
          assert.deepEqual(
            (await store.messages.history(two.chatId, { limit: 5 })).map((m) => m.text),
            ['fine'],
          );
        });

        it('marks written under an older claim after a newer one never lower them', async () => {
          const { chatId, a, b } = dialog();
          const old = (await store.messages.claim([chatId])).get(chatId)!;
          await store.messages.append(
            [1, 2, 3, 4].map((id) => message(chatId, id, a)),
            new Map([[chatId, old]]),
          );
          const fresh = (await store.messages.claim([chatId])).get(chatId)!;
          await store.messages.saveMarksBatch([
            { chatId, marks: [{ login: b, deliveredId: 4, readId: 3 }], claim: fresh },
          ]);
          // The old owner's raise, computed before the new owner's, lands afterwards.
          await store.messages.saveMarks(chatId, [{ login: b, deliveredId: 2, readId: 1 }], old);
          assert.deepEqual(await store.messages.marks(chatId), [{ login: b, deliveredId: 4, readId: 3 }]);
        });
      });
    });

    describe('marks', () => {
      const chat = (): string => dialogChatId(login('ka'), login('kb'));
      const mark = (l: string, deliveredId: number, readId: number): Marks => ({
        login: l,
        deliveredId,
        readId,
      });
      const marksOf = async (chatId: string): Promise<Marks[]> =>
        byLogin((await store.messages.marks(chatId)).map(plain));

      it('marks is empty for a chat without marks', async () => {
        assert.deepEqual(await store.messages.marks(chat()), []);
      });

      it('saveMarks stores the marks of several users', async () => {
        const c = chat();
        const a = login('ma');
        const b = login('mb');
        await store.messages.saveMarks(c, [mark(a, 5, 3), mark(b, 2, 2)]);
        assert.deepEqual(await marksOf(c), byLogin([mark(a, 5, 3), mark(b, 2, 2)]));
        await store.messages.saveMarks(c, []);
        assert.deepEqual(await marksOf(c), byLogin([mark(a, 5, 3), mark(b, 2, 2)]));
      });

      it('saveMarksBatch raises marks of several chats with the same rules', async () => {
        const c1 = chat();
        const c2 = chat();
        const a = login('mba');
        await store.messages.saveMarks(c1, [mark(a, 6, 6)]);
        await store.messages.saveMarksBatch([
          { chatId: c1, marks: [mark(a, 4, 2)] },
          { chatId: c2, marks: [mark(a, 1, 3)] },
          { chatId: chat(), marks: [] },
        ]);
        assert.deepEqual(await marksOf(c1), byLogin([mark(a, 6, 6)]));
        assert.deepEqual(await marksOf(c2), byLogin([mark(a, 3, 3)]));
        await store.messages.saveMarksBatch([]);
      });

      it('marks never move backwards, each field independently', async () => {
        const c = chat();
        const a = login('mn');
        await store.messages.saveMarks(c, [mark(a, 5, 3)]);
        await store.messages.saveMarks(c, [mark(a, 4, 1)]);
        assert.deepEqual(await marksOf(c), [mark(a, 5, 3)]);
        await store.messages.saveMarks(c, [mark(a, 2, 4)]);
        assert.deepEqual(await marksOf(c), [mark(a, 5, 4)]);
        await store.messages.saveMarks(c, [mark(a, 9, 0)]);
        assert.deepEqual(await marksOf(c), [mark(a, 9, 4)]);
      });

      it('read implies delivered: a read mark above delivered raises delivered', async () => {
        const c = chat();
        const a = login('mr');
        const b = login('ms');
        await store.messages.saveMarks(c, [mark(a, 0, 4)]);
        assert.deepEqual(await marksOf(c), [mark(a, 4, 4)]);
        await store.messages.saveMarks(c, [mark(a, 2, 7), mark(b, 1, 3)]);
        assert.deepEqual(await marksOf(c), byLogin([mark(a, 7, 7), mark(b, 3, 3)]));
      });

      it('any sequence of saves keeps the running maximum with read ≤ delivered', async () => {
        const c = chat();
        const a = login('mq');
        let seed = 7;
        const next = (): number => (seed = (seed * 1103515245 + 12345) % 2 ** 31) % 20;
        let delivered = 0;
        let read = 0;
        for (let i = 0; i < 30; i++) {
          const d = next();
          const r = next();
          await store.messages.saveMarks(c, [mark(a, d, r)]);
          read = Math.max(read, r);
          delivered = Math.max(delivered, d, read);
          assert.deepEqual(await marksOf(c), [mark(a, delivered, read)], `after save ${i}: (${d}, ${r})`);
        }
      });

      it('marksOfUser returns the chats where the user has marks', async () => {
        const a = login('mu');
        const b = login('mv');
        const withMarks = chat();
        const othersOnly = chat();
        const none = chat();
        await store.messages.saveMarks(withMarks, [mark(a, 3, 2), mark(b, 1, 1)]);
        await store.messages.saveMarks(othersOnly, [mark(b, 6, 6)]);
        const found = await store.messages.marksOfUser(a, [withMarks, othersOnly, none]);
        assert.deepEqual([...found.keys()], [withMarks]);
        assert.deepEqual(plain(found.get(withMarks)!), mark(a, 3, 2));
        assert.equal((await store.messages.marksOfUser(a, [])).size, 0);
        assert.equal((await store.messages.marksOfUser(login('mw'), [withMarks])).size, 0);
      });
    });
  });
}

describeStoreContract('sqlite store contract', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gm-store-contract-'));
  const store = await openSqliteStore(join(dir, 'store.db'));
  return {
    users: store.users,
    groups: store.groups,
    messages: store.messages,
    close: async () => {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});

/** What store.cassandra.ts exports; named here so this suite does not depend on its types. */
interface CassandraStoreOptions {
  contactPoints: string[];
  localDataCenter: string;
  keyspace: string;
  replication: string;
  consistency: string;
  username: string;
  password: string;
}
interface CassandraStoreModule {
  openCassandraStore(options: CassandraStoreOptions): Promise<Store>;
}

/** Drops the suite's keyspace once its store is closed. */
async function dropKeyspace(options: CassandraStoreOptions): Promise<void> {
  const { default: cassandra } = await import('cassandra-driver');
  const client = new cassandra.Client({
    contactPoints: options.contactPoints,
    localDataCenter: options.localDataCenter,
    ...(options.username
      ? { authProvider: new cassandra.auth.PlainTextAuthProvider(options.username, options.password) }
      : {}),
  });
  try {
    await client.execute(`DROP KEYSPACE IF EXISTS ${options.keyspace}`);
  } finally {
    await client.shutdown();
  }
}

const node = testCassandra();
if (!('unavailable' in node)) {
  describeStoreContract('cassandra store contract', async () => {
    console.log(
      `cassandra store contract: Apache Cassandra ${await releaseVersion(node)} at ${node.contactPoints.join(',')}`,
    );
    const options: CassandraStoreOptions = {
      contactPoints: node.contactPoints,
      localDataCenter: node.localDataCenter,
      keyspace: `gm_test_${randomBytes(4).toString('hex')}`,
      replication: 'SimpleStrategy:1',
      consistency: 'LOCAL_QUORUM',
      username: node.username,
      password: node.password,
    };
    // A computed specifier: the adapter is loaded only when a cluster is configured.
    const adapter = './store.cassandra.js';
    const { openCassandraStore } = (await import(adapter)) as CassandraStoreModule;
    let store: Store;
    try {
      store = await openCassandraStore(options);
    } catch (err) {
      await dropKeyspace(options);
      throw err;
    }
    return {
      users: store.users,
      groups: store.groups,
      messages: store.messages,
      close: async () => {
        await store.close();
        await dropKeyspace(options);
      },
    };
  });
} else {
  cassandraMissing('cassandra store contract', node.unavailable);
}
