/**
 * GET /chats and GET /users: the caller's chat list (API.md "Chats"). Chats
 * with messages come first, newest activity first; then every remaining chat
 * (groups without messages and a dialog entry for every other user) by name.
 * The second part is read page by page from the store's (username, login)
 * order, so a page costs O(limit), not O(all users).
 *
 * The cursor is opaque base64url JSON: `{"a": offset}` inside the active part,
 * `{"n": name, "i": id}` (last emitted key) inside the by-name part.
 */
import type { Chat, UserInfo } from '../common/api.js';
import { AppError } from '../common/errors.js';
import { dialogPeer } from '../common/ids.js';
import { isoTime } from '../common/time.js';
import type { ChatState, GroupRecord, Store, UserProfile } from '../store/index.js';
import { JsonArrayParts, type Reply, type RequestContext } from './http.js';
import type { PresenceView } from './presence-view.js';
import { requireSession, type Sessions } from './sessions.js';
import { entryRun, type DirectoryPage, type UserDirectory } from './user-directory.js';
import { intParam } from './validate.js';

type Cursor = { a: number } | { n: string; i: string };

function encodeCursor(c: Cursor): string {
  return Buffer.from(JSON.stringify(c)).toString('base64url');
}

function decodeCursor(raw: string | null): Cursor | null {
  if (raw === null) return null;
  try {
    const c = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8')) as Record<string, unknown>;
    if (typeof c.a === 'number' && Number.isInteger(c.a) && c.a >= 0) return { a: c.a };
    if (typeof c.n === 'string' && typeof c.i === 'string') return { n: c.n, i: c.i };
  } catch {
    // fall through
  }
  throw new AppError('invalid_param', 'malformed cursor', 'cursor');
}

function keyAfter(name: string, id: string, cursor: { n: string; i: string }): boolean {
  return name > cursor.n || (name === cursor.n && id > cursor.i);
}

export class ChatList {
  constructor(
    private readonly store: Store,
    private readonly sessions: Sessions,
    private readonly presence: PresenceView,
    private readonly directory: UserDirectory,
  ) {}

  chats = async (ctx: RequestContext): Promise<Reply> => {
    const { login } = await requireSession(this.sessions, ctx);
    const limit = intParam(ctx.query, 'limit', 1, 1000) ?? 500;
    const cursor = decodeCursor(ctx.query.get('cursor'));
    const { store } = this;

    const [memberGroupIds, publicGroups, dialogIds] = await Promise.all([
      store.groups.groupsOfUser(login),
      store.groups.publicGroups(),
      store.messages.dialogsOfUser(login),
    ]);
    const groups = new Map<string, GroupRecord>();
    for (const g of publicGroups) groups.set(g.id, g);
    const missing = memberGroupIds.filter((id) => !groups.has(id));
    if (missing.length > 0) for (const [id, g] of await store.groups.getGroups(missing)) groups.set(id, g);
    const groupChatIds = [...groups.keys()].map((id) => `g:${id}`);
    const allChatIds = [...dialogIds, ...groupChatIds];
    const [states, marks] = await Promise.all([
      store.messages.chatStates(allChatIds),
      store.messages.marksOfUser(login, allChatIds),
    ]);

    // Sending raises the sender's read mark to their message; counting the newest message's sender as
    // caught up keeps that true in the moment before the raised mark is stored.
    const unreadOf = (chatId: string, state: ChatState | undefined) =>
      !state || state.lastSender === login ? 0 : Math.max(0, state.lastId - (marks.get(chatId)?.readId ?? 0));

    // Part 1: chats with messages, newest activity first.
    const active = allChatIds
      .map((chatId) => ({ chatId, state: states.get(chatId) }))
      .filter((c): c is { chatId: string; state: ChatState } => !!c.state && c.state.lastId > 0)
      .sort((a, b) => (b.state.lastTime ?? 0) - (a.state.lastTime ?? 0) || (a.chatId < b.chatId ? -1 : 1));
    const activeDialogPeers = new Set(dialogIds.map((id) => dialogPeer(id, login)));

    // Entries of the page in order; dialog entries without messages come as runs of consecutive users of
    // one directory page (`count` is the number of entries).
    const page: (
      | { chatId: string; state?: ChatState; group?: GroupRecord; dir?: undefined }
      | { dir: DirectoryPage; from: number; to: number }
    )[] = [];
    let count = 0;
    let next: Cursor | null = null;
    const start = cursor && 'a' in cursor ? cursor.a : cursor ? active.length : 0;
    for (let i = start; i < active.length && count < limit; i++, count++) page.push(active[i]!);
    if (count === limit && start + count < active.length) {
      next = { a: start + count };
    } else {
      // Part 2: groups without messages and users without a dialog, by (name, id).
      const after = cursor && 'n' in cursor ? cursor : null;
      const quietGroups = [...groups.values()]
        .filter((g) => !(states.get(`g:${g.id}`)?.lastId ?? 0))
        .map((g) => ({ name: g.name, id: `g:${g.id}`, group: g }))
        .filter((g) => !after || keyAfter(g.name, g.id, after))
        .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : a.id < b.id ? -1 : 1));
      let gi = 0;
      let userCursor: { username: string; login: string } | null = after
        ? { username: after.n, login: after.i }
        : null;
      let dir: DirectoryPage | null = null;
      let users: readonly UserProfile[] = [];
      let ui = 0;
      let usersDone = false;
      let lastKey: { name: string; id: string } | UserProfile | null = null;
      while (count < limit) {
        if (ui >= users.length && !usersDone) {
          dir = await this.directory.listByName(userCursor, Math.min(1000, limit + 50));
          users = dir.users;
          ui = 0;
          if (users.length === 0) usersDone = true;
          else
            userCursor = {
              username: users[users.length - 1]!.username,
              login: users[users.length - 1]!.login,
            };
        }
        const user = ui < users.length ? users[ui] : undefined;
        const group = gi < quietGroups.length ? quietGroups[gi] : undefined;
        if (!user && !group) break;
        const takeGroup =
          group &&
          (!user || group.name < user.username || (group.name === user.username && group.id < user.login));
        if (takeGroup) {
          gi++;
          page.push({ chatId: group!.id, group: group!.group });
          count++;
          lastKey = group!;
        } else {
          ui++;
          lastKey = user!;
          if (user!.login === login || activeDialogPeers.has(user!.login)) continue;
          const run = page[page.length - 1];
          if (run?.dir === dir && run.to === ui - 2) run.to = ui - 1;
          else page.push({ dir: dir!, from: ui - 1, to: ui - 1 });
          count++;
        }
      }
      if (count === limit) {
        // More remain when a quiet group or a listed user (not the caller, no active dialog) follows.
        // At most activeDialogPeers.size + 1 users are skipped, so one read of that many + 1 tells.
        const listed = (u: UserProfile) => u.login !== login && !activeDialogPeers.has(u.login);
        const moreGroups = gi < quietGroups.length;
        const moreUsers =
          users.slice(ui).some(listed) ||
          (!usersDone &&
            (await this.directory.listByName(userCursor, activeDialogPeers.size + 2)).users.some(listed));
        // A page that ended exactly where the active part ends continues at the start of the by-name part.
        if (moreGroups || moreUsers)
          next = !lastKey
            ? { a: active.length }
            : 'login' in lastKey
              ? { n: lastKey.username, i: lastKey.login }
              : { n: lastKey.name, i: lastKey.id };
      }
    }

    // Resolve names and presence for the page only.
    const peers: string[] = [];
    const dirs = new Set<DirectoryPage>();
    for (const p of page) {
      if (p.dir) dirs.add(p.dir);
      else if (p.state && p.chatId.startsWith('d:')) peers.push(dialogPeer(p.chatId, login));
    }
    const dirList = [...dirs];
    const [profiles, presence, rendered] = await Promise.all([
      peers.length > 0 ? store.users.getProfiles(peers) : Promise.resolve(new Map<string, UserProfile>()),
      this.presence.get(peers),
      Promise.all(dirList.map((d) => this.directory.entries(d, this.presence))),
    ]);
    const entriesOf = new Map(dirList.map((d, i) => [d, rendered[i]!]));

    // Most of a page is dialog entries without messages: runs of them are copied as they are from the
    // directory page's rendering; the others are rendered here.
    const chunks: Buffer[] = [];
    for (const p of page) {
      if (p.dir) {
        chunks.push(entryRun(entriesOf.get(p.dir)!, p.from, p.to));
        continue;
      }
      const state = p.state;
      const base = {
        last_message: state?.lastText ?? null,
        last_message_id: state?.lastId ? state.lastId : null,
        last_message_time: isoTime(state?.lastTime),
        unread: unreadOf(p.chatId, state),
      };
      let entry: Chat;
      if (p.chatId.startsWith('d:')) {
        const peer = dialogPeer(p.chatId, login);
        const pr = presence.get(peer);
        entry = {
          type: 'dialog',
          id: peer,
          name: profiles.get(peer)?.username ?? peer,
          ...base,
          is_online: pr?.online ?? false,
          last_seen: isoTime(pr?.lastSeen),
        };
      } else {
        const group = p.group ?? groups.get(p.chatId.slice(2))!;
        entry = { type: 'group', id: group.id, name: group.name, ...base, public: group.isPublic };
      }
      chunks.push(Buffer.from(JSON.stringify(entry)));
    }
    const headers: Record<string, string> = { 'cache-control': 'no-store' };
    if (next) headers.link = `</chats?cursor=${encodeCursor(next)}&limit=${limit}>; rel="next"`;
    return { status: 200, body: new JsonArrayParts(chunks), headers };
  };

  users = async (ctx: RequestContext): Promise<Reply> => {
    await requireSession(this.sessions, ctx);
    const query = (ctx.query.get('query') ?? '').trim().toLowerCase();
    if (query.length > 64)
      throw new AppError('invalid_param', 'query must be at most 64 characters', 'query');
    const limit = intParam(ctx.query, 'limit', 1, 100) ?? 20;
    const found = await this.store.users.search(query, limit);
    const presence = await this.presence.get(found.map((u) => u.login));
    return {
      status: 200,
      body: found.map((u): UserInfo => ({
        login: u.login,
        username: u.username,
        is_online: presence.get(u.login)?.online ?? false,
        last_seen: isoTime(presence.get(u.login)?.lastSeen),
      })),
    };
  };
}
