/**
 * The conformance suite of the storage ports, run on every adapter family
 * (store/testing/contract.ts): users, groups, and delivered/read marks. The
 * message cases are in store.contract-messages.test.ts.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { dialogChatId } from '../common/ids.js';
import type { GroupMemberRecord, GroupRecord, Marks, UserProfile } from './types.js';
import { byLogin, byNameThenLogin, plain, profile, storeContract } from './testing/contract.js';

storeContract('users, groups and marks', (contract) => {
  const { login, groupId, user, suffix, next } = contract;

  describe('users', () => {
    it('createUser inserts once and never overwrites an existing login', async () => {
      const l = login('cu');
      const first = user(l, 'First Name', 1_700_000_000_123);
      assert.equal(await contract.store.users.createUser(first), true);
      assert.equal(await contract.store.users.createUser(user(l, 'Second Name', 1_800_000_000_000)), false);
      assert.deepEqual(plain((await contract.store.users.getUser(l))!), first);
    });

    it('getUser returns null for an unknown login', async () => {
      assert.equal(await contract.store.users.getUser(login('unknown')), null);
    });

    it('getProfiles returns login and username of existing users only', async () => {
      const a = user(login('pa'), 'Profile A');
      const b = user(login('pb'), 'Профиль Б');
      await contract.store.users.createUser(a);
      await contract.store.users.createUser(b);
      const missing = login('pmissing');
      const profiles = await contract.store.users.getProfiles([a.login, missing, b.login]);
      assert.deepEqual([...profiles.keys()].sort(), [a.login, b.login].sort());
      assert.deepEqual(plain(profiles.get(a.login)!), profile(a));
      assert.deepEqual(plain(profiles.get(b.login)!), profile(b));
      assert.equal((await contract.store.users.getProfiles([])).size, 0);
      assert.equal((await contract.store.users.getProfiles([missing])).size, 0);
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
      for (const u of [...mine].reverse()) assert.equal(await contract.store.users.createUser(u), true);
      const expected = mine.map(profile).sort(byNameThenLogin);

      const seen: UserProfile[] = [];
      let cursor = { username: token, login: '' };
      for (;;) {
        const page = await contract.store.users.listByName(cursor, 2);
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
      assert.deepEqual((await contract.store.users.listByName(bobs[0]!, 2)).map(plain), bobs.slice(1));
    });

    it('listByName from the start is ordered, complete and limited', async () => {
      const token = `All-${suffix}-`;
      for (const n of ['b', 'a', 'c']) await contract.store.users.createUser(user(login('la'), token + n));
      const all = (await contract.store.users.listByName(null, 10_000)).map(plain);
      assert.deepEqual(all, [...all].sort(byNameThenLogin));
      assert.equal(new Set(all.map((p) => p.login)).size, all.length);
      assert.equal(all.filter((p) => p.username.startsWith(token)).length, 3);
      assert.deepEqual((await contract.store.users.listByName(null, 1)).map(plain), all.slice(0, 1));

      const paged: UserProfile[] = [];
      let cursor: UserProfile | null = null;
      for (;;) {
        const page: UserProfile[] = await contract.store.users.listByName(cursor, 3);
        paged.push(...page.map(plain));
        if (page.length < 3) break;
        cursor = page[page.length - 1]!;
      }
      assert.deepEqual(paged, all);
    });

    it('search matches login or username prefixes case-insensitively, ordered by login', async () => {
      const p = `sr${suffix}`;
      const byLoginPrefix1 = user(`${p}a${next()}`, 'Plain One');
      const byLoginPrefix2 = user(`${p}b${next()}`, 'Other');
      const byUsername = user(`x${suffix}c${next()}`, `${p.toUpperCase()} Upper`);
      const byBoth = user(`${p}e${next()}`, `${p}E`);
      const unicode = user(`y${suffix}d${next()}`, `Ümlaut${suffix} Ärger`);
      const neither = user(`z${suffix}f${next()}`, 'Nobody');
      for (const u of [byLoginPrefix1, byLoginPrefix2, byUsername, byBoth, unicode, neither]) {
        assert.equal(await contract.store.users.createUser(u), true);
      }
      const expected = byLogin([byLoginPrefix1, byLoginPrefix2, byUsername, byBoth].map(profile));

      assert.deepEqual((await contract.store.users.search(p, 20)).map(plain), expected);
      assert.deepEqual((await contract.store.users.search(p.toUpperCase(), 20)).map(plain), expected);
      assert.deepEqual((await contract.store.users.search(p, 2)).map(plain), expected.slice(0, 2));
      assert.deepEqual((await contract.store.users.search(`${p}A`, 20)).map(plain), [
        profile(byLoginPrefix1),
      ]);
      assert.deepEqual((await contract.store.users.search(`${p.toUpperCase()} up`, 20)).map(plain), [
        profile(byUsername),
      ]);
      assert.deepEqual((await contract.store.users.search(`ümlaut${suffix}`, 20)).map(plain), [
        profile(unicode),
      ]);
      assert.deepEqual(
        (await contract.store.users.search(`ÜMLAUT${suffix.toUpperCase()} ä`, 20)).map(plain),
        [profile(unicode)],
      );
      assert.deepEqual(await contract.store.users.search(`nomatch${suffix}`, 20), []);
    });
  });

  describe('groups', () => {
    const group = (isPublic: boolean, owner: string): GroupRecord => ({
      id: groupId(),
      name: `Group ${contract.counter} ✓`,
      isPublic,
      owner,
      createdAt: 1_700_000_000_000 + contract.counter,
    });

    it('createGroup stores the group with its members; getGroup returns it or null', async () => {
      const owner = login('go');
      const g = group(true, owner);
      const members: GroupMemberRecord[] = [
        { login: login('gz'), role: 'member' },
        { login: owner, role: 'owner' },
        { login: login('ga'), role: 'member' },
      ];
      await contract.store.groups.createGroup(g, members);
      assert.deepEqual(plain((await contract.store.groups.getGroup(g.id))!), g);
      assert.deepEqual((await contract.store.groups.listMembers(g.id)).map(plain), byLogin(members));
      assert.equal(await contract.store.groups.getGroup(groupId()), null);
    });

    it('getGroups returns known groups and leaves unknown ids out', async () => {
      const a = group(false, login('gga'));
      const b = group(true, login('ggb'));
      await contract.store.groups.createGroup(a, [{ login: a.owner, role: 'owner' }]);
      await contract.store.groups.createGroup(b, [{ login: b.owner, role: 'owner' }]);
      const found = await contract.store.groups.getGroups([a.id, groupId(), b.id]);
      assert.deepEqual([...found.keys()].sort(), [a.id, b.id].sort());
      assert.deepEqual(plain(found.get(a.id)!), a);
      assert.deepEqual(plain(found.get(b.id)!), b);
      assert.equal((await contract.store.groups.getGroups([])).size, 0);
    });

    it('listMembers is empty for an unknown group', async () => {
      assert.deepEqual(await contract.store.groups.listMembers(groupId()), []);
    });

    it('addMember reports whether anything changed; removeMember whether the login was a member', async () => {
      const owner = login('mo');
      const g = group(false, owner);
      await contract.store.groups.createGroup(g, [{ login: owner, role: 'owner' }]);
      const m = login('mm');

      assert.equal(await contract.store.groups.addMember(g.id, m, 'member'), true);
      assert.equal(await contract.store.groups.addMember(g.id, m, 'member'), false);
      const expected: GroupMemberRecord[] = [
        { login: owner, role: 'owner' },
        { login: m, role: 'member' },
      ];
      assert.deepEqual((await contract.store.groups.listMembers(g.id)).map(plain), byLogin(expected));

      assert.equal(await contract.store.groups.addMember(g.id, m, 'owner'), true);
      assert.equal(await contract.store.groups.addMember(g.id, m, 'owner'), false);
      assert.deepEqual(
        (await contract.store.groups.listMembers(g.id)).find((r) => r.login === m),
        { login: m, role: 'owner' },
      );
      assert.equal(await contract.store.groups.addMember(g.id, m, 'member'), true);

      assert.equal(await contract.store.groups.removeMember(g.id, m), true);
      assert.equal(await contract.store.groups.removeMember(g.id, m), false);
      assert.equal(await contract.store.groups.removeMember(g.id, login('never')), false);
      assert.deepEqual((await contract.store.groups.listMembers(g.id)).map(plain), [
        { login: owner, role: 'owner' },
      ]);
    });

    it('groupsOfUser follows membership', async () => {
      const u = login('gu');
      const a = group(false, u);
      const b = group(true, login('gub'));
      await contract.store.groups.createGroup(a, [{ login: u, role: 'owner' }]);
      await contract.store.groups.createGroup(b, [{ login: b.owner, role: 'owner' }]);
      assert.deepEqual(await contract.store.groups.groupsOfUser(u), [a.id]);
      await contract.store.groups.addMember(b.id, u, 'member');
      assert.deepEqual((await contract.store.groups.groupsOfUser(u)).sort(), [a.id, b.id].sort());
      await contract.store.groups.removeMember(a.id, u);
      assert.deepEqual(await contract.store.groups.groupsOfUser(u), [b.id]);
      assert.deepEqual(await contract.store.groups.groupsOfUser(login('nogroups')), []);
    });

    it('publicGroups lists public groups and no private one', async () => {
      const pub = group(true, login('pg'));
      const priv = group(false, login('pp'));
      await contract.store.groups.createGroup(pub, [{ login: pub.owner, role: 'owner' }]);
      await contract.store.groups.createGroup(priv, [{ login: priv.owner, role: 'owner' }]);
      const listed = await contract.store.groups.publicGroups();
      assert.deepEqual(plain(listed.find((g) => g.id === pub.id)!), pub);
      assert.equal(
        listed.some((g) => g.id === priv.id),
        false,
      );
      assert.ok(listed.every((g) => g.isPublic === true));
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
      byLogin((await contract.store.messages.marks(chatId)).map(plain));

    it('marks is empty for a chat without marks', async () => {
      assert.deepEqual(await contract.store.messages.marks(chat()), []);
    });

    it('saveMarks stores the marks of several users', async () => {
      const c = chat();
      const a = login('ma');
      const b = login('mb');
      await contract.store.messages.saveMarks(c, [mark(a, 5, 3), mark(b, 2, 2)]);
      assert.deepEqual(await marksOf(c), byLogin([mark(a, 5, 3), mark(b, 2, 2)]));
      await contract.store.messages.saveMarks(c, []);
      assert.deepEqual(await marksOf(c), byLogin([mark(a, 5, 3), mark(b, 2, 2)]));
    });

    it('saveMarksBatch raises marks of several chats with the same rules', async () => {
      const c1 = chat();
      const c2 = chat();
      const a = login('mba');
      await contract.store.messages.saveMarks(c1, [mark(a, 6, 6)]);
      await contract.store.messages.saveMarksBatch([
        { chatId: c1, marks: [mark(a, 4, 2)] },
        { chatId: c2, marks: [mark(a, 1, 3)] },
        { chatId: chat(), marks: [] },
      ]);
      assert.deepEqual(await marksOf(c1), byLogin([mark(a, 6, 6)]));
      assert.deepEqual(await marksOf(c2), byLogin([mark(a, 3, 3)]));
      await contract.store.messages.saveMarksBatch([]);
    });

    it('marks never move backwards, each field independently', async () => {
      const c = chat();
      const a = login('mn');
      await contract.store.messages.saveMarks(c, [mark(a, 5, 3)]);
      await contract.store.messages.saveMarks(c, [mark(a, 4, 1)]);
      assert.deepEqual(await marksOf(c), [mark(a, 5, 3)]);
      await contract.store.messages.saveMarks(c, [mark(a, 2, 4)]);
      assert.deepEqual(await marksOf(c), [mark(a, 5, 4)]);
      await contract.store.messages.saveMarks(c, [mark(a, 9, 0)]);
      assert.deepEqual(await marksOf(c), [mark(a, 9, 4)]);
    });

    it('read implies delivered: a read mark above delivered raises delivered', async () => {
      const c = chat();
      const a = login('mr');
      const b = login('ms');
      await contract.store.messages.saveMarks(c, [mark(a, 0, 4)]);
      assert.deepEqual(await marksOf(c), [mark(a, 4, 4)]);
      await contract.store.messages.saveMarks(c, [mark(a, 2, 7), mark(b, 1, 3)]);
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
        await contract.store.messages.saveMarks(c, [mark(a, d, r)]);
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
      await contract.store.messages.saveMarks(withMarks, [mark(a, 3, 2), mark(b, 1, 1)]);
      await contract.store.messages.saveMarks(othersOnly, [mark(b, 6, 6)]);
      const found = await contract.store.messages.marksOfUser(a, [withMarks, othersOnly, none]);
      assert.deepEqual([...found.keys()], [withMarks]);
      assert.deepEqual(plain(found.get(withMarks)!), mark(a, 3, 2));
      assert.equal((await contract.store.messages.marksOfUser(a, [])).size, 0);
      assert.equal((await contract.store.messages.marksOfUser(login('mw'), [withMarks])).size, 0);
    });
  });
});
