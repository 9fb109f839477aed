/**
 * Dialog, group and presence routes (API.md). Every chat operation goes to
 * the chat's owning shard actor, which enforces access rules again.
 */
import { MAX_GROUP_MEMBERS } from '../common/api.js';
import { AppError } from '../common/errors.js';
import { dialogChatId, GROUP_ID_RE, groupChatId, newGroupId } from '../common/ids.js';
import { isoTime } from '../common/time.js';
import type { ChatMessage, GroupMember } from '../proto/gen/gmessenger/v1/common_pb.js';
import type { Store } from '../store/index.js';
import type { Reply, RequestContext } from './http.js';
import type { PresenceView } from './presence-view.js';
import { requireSession, type Sessions } from './sessions.js';
import type { ShardClient, ShardResult } from '../shards/index.js';
import type { PageCache } from './page-cache.js';
import { STATUS_NAME } from './render.js';
import * as v from './validate.js';

/** A rendered history page and the actor version it shows. */
interface HistoryPage {
  version: string;
  body: Buffer;
  /** `before` of the next (older) page; 0 when there is none. */
  nextBefore: number;
}

type ResultCase = Exclude<ShardResult['case'], undefined>;
type ResultValue<C extends ResultCase> = Extract<ShardResult, { case: C }>['value'];

/** The shard result of the expected kind; anything else is an internal error. */
export function expect<C extends ResultCase>(result: ShardResult, kind: C): ResultValue<C> {
  if (result.case !== kind) throw new AppError('internal', 'unexpected shard answer');
  return result.value as ResultValue<C>;
}

/** A group id from a path: any shape that cannot exist is simply not found. */
function groupId(raw: string): string {
  if (!GROUP_ID_RE.test(raw)) throw new AppError('group_not_found', 'no such group');
  return raw;
}

export class ChatRoutes {
  constructor(
    private readonly store: Store,
    private readonly sessions: Sessions,
    private readonly shards: ShardClient,
    private readonly presence: PresenceView,
    private readonly pages: PageCache<HistoryPage>,
  ) {}

  /**
   * One page of a chat's history, rendered by `render`. The rendered bytes are
   * kept with the actor's version of the chat; the next request for the same
   * page asks the actor only whether that version is still current (the actor
   * checks access and records the fetch as delivery either way).
   */
  private async historyPage(
    chatId: string,
    login: string,
    paging: v.Paging,
    linkBase: string,
    render: (messages: ChatMessage[]) => unknown[],
  ): Promise<Reply> {
    const key = `${chatId}|${paging.before ?? ''}|${paging.after ?? ''}|${paging.limit}`;
    const cached = this.pages.enabled ? this.pages.get(key) : undefined;
    const result = expect(
      await this.shards.call(
        chatId,
        login,
        { case: 'history', value: { ...paging, ifVersion: cached?.version ?? '' } },
        true,
      ),
      'history',
    );
    let page: HistoryPage;
    if (result.notModified && cached) {
      page = cached;
    } else {
      page = {
        version: result.version,
        body: Buffer.from(JSON.stringify(render(result.messages))),
        nextBefore: result.moreBefore && result.messages.length > 0 ? result.messages[0]!.id : 0,
      };
      if (this.pages.enabled && result.version) this.pages.set(key, page);
    }
    const headers: Record<string, string> = { 'cache-control': 'no-store' };
    if (page.nextBefore > 0) {
      headers.link = `<${linkBase}?before=${page.nextBefore}&limit=${paging.limit}>; rel="next"`;
    }
    return { status: 200, body: page.body, headers };
  }

  dialog = async (ctx: RequestContext): Promise<Reply> => {
    const { login } = await requireSession(this.sessions, ctx);
    const peer = v.pathLogin(ctx.params[0]!);
    if (peer === login) throw new AppError('self_dialog', 'a dialog needs another user', 'login');
    const chatId = dialogChatId(login, peer);
    return this.historyPage(chatId, login, v.historyPaging(ctx.query), `/dialog/${peer}`, (messages) =>
      messages.map((m) => ({
        id: m.id,
        sender: m.sender,
        // The other participant: the same for both readers of the dialog, so one rendering serves both.
        receiver: m.sender === login ? peer : login,
        text: m.text,
        status: STATUS_NAME[m.status],
        time: isoTime(m.timeMs),
      })),
    );
  };

  group = async (ctx: RequestContext): Promise<Reply> => {
    const { login } = await requireSession(this.sessions, ctx);
    const id = groupId(ctx.params[0]!);
    return this.historyPage(groupChatId(id), login, v.historyPaging(ctx.query), `/group/${id}`, (messages) =>
      messages.map((m) => ({
        id: m.id,
        sender: m.sender,
        text: m.text,
        status: STATUS_NAME[m.status],
        time: isoTime(m.timeMs),
      })),
    );
  };

  createGroup = async (ctx: RequestContext): Promise<Reply> => {
    const { login } = await requireSession(this.sessions, ctx);
    const body = v.requireObject(await ctx.json());
    const name = v.displayName(body.name, 'name');
    if (body.public !== undefined && typeof body.public !== 'boolean') {
      throw new AppError('invalid_field', 'public must be a boolean', 'public');
    }
    const isPublic = body.public === true;
    let members: string[] = [];
    if (body.members !== undefined && !isPublic) {
      if (!Array.isArray(body.members))
        throw new AppError('invalid_field', 'members must be an array of logins', 'members');
      if (body.members.length > MAX_GROUP_MEMBERS)
        throw new AppError('invalid_field', `at most ${MAX_GROUP_MEMBERS} members`, 'members');
      members = body.members.map((m: unknown) => {
        if (typeof m !== 'string' || !v.LOGIN_RE.test(m.toLowerCase())) {
          throw new AppError('unknown_member', `unknown member login: ${String(m).slice(0, 40)}`, 'members');
        }
        return m.toLowerCase();
      });
    }
    const id = newGroupId();
    const group = expect(
      await this.shards.call(
        groupChatId(id),
        login,
        { case: 'createGroup', value: { name, public: isPublic, members } },
        false,
      ),
      'group',
    );
    return {
      status: 201,
      body: {
        id: group.id,
        name: group.name,
        public: group.public,
        owner: group.owner,
        members: group.members.map((m) => m.login),
      },
    };
  };

  private async memberList(members: GroupMember[]) {
    const logins = members.map((m) => m.login);
    const [profiles, presence] = await Promise.all([
      this.store.users.getProfiles(logins),
      this.presence.get(logins),
    ]);
    return members.map((m) => ({
      login: m.login,
      username: profiles.get(m.login)?.username ?? m.login,
      role: m.role,
      is_online: presence.get(m.login)?.online ?? false,
      last_seen: isoTime(presence.get(m.login)?.lastSeen),
    }));
  }

  members = async (ctx: RequestContext): Promise<Reply> => {
    const { login } = await requireSession(this.sessions, ctx);
    const id = groupId(ctx.params[0]!);
    const result = expect(
      await this.shards.call(groupChatId(id), login, { case: 'members', value: {} }, true),
      'members',
    );
    return { status: 200, body: await this.memberList(result.members) };
  };

  addMember = async (ctx: RequestContext): Promise<Reply> => {
    const { login } = await requireSession(this.sessions, ctx);
    const id = groupId(ctx.params[0]!);
    const body = v.requireObject(await ctx.json());
    if (typeof body.login !== 'string')
      throw new AppError('invalid_field', 'login must be a string', 'login');
    const member = body.login.toLowerCase();
    if (!v.LOGIN_RE.test(member)) throw new AppError('user_not_found', 'no such user');
    const result = expect(
      await this.shards.call(groupChatId(id), login, { case: 'addMember', value: { login: member } }, true),
      'members',
    );
    return { status: 200, body: await this.memberList(result.members) };
  };

  removeMember = async (ctx: RequestContext): Promise<Reply> => {
    const { login } = await requireSession(this.sessions, ctx);
    const id = groupId(ctx.params[0]!);
    const member = ctx.params[1]!.toLowerCase();
    if (!v.LOGIN_RE.test(member)) throw new AppError('not_found', 'not a member of this group');
    await this.shards.call(groupChatId(id), login, { case: 'removeMember', value: { login: member } }, false);
    return { status: 204 };
  };

  markActive = async (ctx: RequestContext): Promise<Reply> => {
    const { login } = await requireSession(this.sessions, ctx);
    await this.presence.markActive(login);
    return { status: 204 };
  };

  userActive = async (ctx: RequestContext): Promise<Reply> => {
    await requireSession(this.sessions, ctx);
    const target = v.pathLogin(ctx.params[0]!);
    const user = await this.store.users.getUser(target);
    if (!user) throw new AppError('user_not_found', 'no such user');
    const p = (await this.presence.get([target])).get(target);
    return {
      status: 200,
      body: { user_login: target, is_online: p?.online ?? false, last_seen: isoTime(p?.lastSeen) },
      headers: { 'cache-control': 'no-store' },
    };
  };
}
