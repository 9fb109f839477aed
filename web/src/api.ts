/**
 * The HTTP half of the API. Every call goes to the page's own origin with the
 * session cookie; failures become {@link ApiError} carrying the server's code,
 * message and offending field.
 */
import type { Chat, ChatRef, Group, Me, Member, Message, UserInfo } from './types.ts';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly field?: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/** Called once whenever a request comes back 401 (the session is gone). */
let onUnauthorized: () => void = () => {};
export function setUnauthorizedHandler(fn: () => void): void {
  onUnauthorized = fn;
}

interface Page<T> {
  items: T;
  /** The `rel="next"` link, when the server says more remain. */
  next: string | null;
}

async function request<T>(method: string, path: string, body?: unknown): Promise<Page<T>> {
  let res: Response;
  try {
    res = await fetch(path, {
      method,
      credentials: 'same-origin',
      headers: body === undefined ? { Accept: 'application/json' } : { 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new ApiError(0, 'network', 'The server cannot be reached. Check your connection and try again.');
  }
  if (!res.ok) {
    let code = 'http_' + res.status;
    let message = res.statusText || 'Request failed';
    let field: string | undefined;
    try {
      const data = (await res.json()) as { error?: { code?: string; message?: string; field?: string } };
      if (data.error) {
        code = data.error.code ?? code;
        message = data.error.message ?? message;
        field = data.error.field;
      }
    } catch {
      // A body that is not the JSON error shape keeps the status text.
    }
    if (res.status === 401 && path !== '/login' && path !== '/register') onUnauthorized();
    if (res.status === 429) {
      const after = res.headers.get('Retry-After');
      if (after) message += ` (try again in ${after} s)`;
    }
    throw new ApiError(res.status, code, message, field);
  }
  const next = parseNextLink(res.headers.get('Link'));
  if (res.status === 204) return { items: undefined as T, next };
  return { items: (await res.json()) as T, next };
}

/** The target of `rel="next"` in a Link header, or null. */
export function parseNextLink(header: string | null): string | null {
  if (!header) return null;
  for (const part of header.split(',')) {
    const m = /<([^>]*)>\s*;\s*rel="?next"?/.exec(part);
    if (m?.[1]) return m[1];
  }
  return null;
}

function chatPath(chat: ChatRef): string {
  return chat.type === 'dialog'
    ? `/dialog/${encodeURIComponent(chat.id)}`
    : `/group/${encodeURIComponent(chat.id)}`;
}

export interface HistoryQuery {
  before?: number;
  after?: number;
  limit?: number;
}

export const api = {
  async me(): Promise<Me> {
    return (await request<Me>('GET', '/me')).items;
  },
  async register(username: string, login: string, password: string): Promise<Me> {
    return (await request<Me>('POST', '/register', { username, login, password })).items;
  },
  async login(login: string, password: string): Promise<Me> {
    return (await request<Me>('POST', '/login', { login, password })).items;
  },
  async logout(): Promise<void> {
    await request<void>('POST', '/logout');
  },
  /** One page of the chat list; pass the previous page's `next` to continue. */
  async chats(next?: string): Promise<Page<Chat[]>> {
    return request<Chat[]>('GET', next ?? '/chats?limit=500');
  },
  async users(query: string, limit = 20): Promise<UserInfo[]> {
    const q = new URLSearchParams({ query, limit: String(limit) });
    return (await request<UserInfo[]>('GET', `/users?${q}`)).items;
  },
  /** Messages of a chat, oldest first; `next` is set when older ones remain. */
  async history(chat: ChatRef, query: HistoryQuery = {}): Promise<Page<Message[]>> {
    const q = new URLSearchParams();
    if (query.before !== undefined) q.set('before', String(query.before));
    if (query.after !== undefined) q.set('after', String(query.after));
    if (query.limit !== undefined) q.set('limit', String(query.limit));
    const qs = q.toString();
    return request<Message[]>('GET', chatPath(chat) + (qs ? '?' + qs : ''));
  },
  async presence(
    login: string,
  ): Promise<{ user_login: string; is_online: boolean; last_seen: string | null }> {
    return (
      await request<{ user_login: string; is_online: boolean; last_seen: string | null }>(
        'GET',
        `/user/active/${encodeURIComponent(login)}`,
      )
    ).items;
  },
  async createGroup(name: string, isPublic: boolean, members: string[]): Promise<Group> {
    return (await request<Group>('POST', '/groups', { name, public: isPublic, members })).items;
  },
  async members(groupId: string): Promise<Member[]> {
    return (await request<Member[]>('GET', `/group/${encodeURIComponent(groupId)}/members`)).items;
  },
  async addMember(groupId: string, login: string): Promise<Member[]> {
    return (await request<Member[]>('POST', `/group/${encodeURIComponent(groupId)}/members`, { login }))
      .items;
  },
  async removeMember(groupId: string, login: string): Promise<void> {
    await request<void>(
      'DELETE',
      `/group/${encodeURIComponent(groupId)}/members/${encodeURIComponent(login)}`,
    );
  },
};
