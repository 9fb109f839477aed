/**
 * Sessions: opaque 256-bit tokens; Redis keeps only their SHA-256
 * (`session:{hash}` → login, TTL = session lifetime). Gateways cache
 * resolutions for a few seconds; a logout deletes the key and publishes the
 * hash on the `revoked` channel so every gateway forgets it at once and closes
 * the sockets opened with it.
 */
import type { Redis } from 'ioredis';
import { AppError } from '../common/errors.js';
import { hashToken, newSessionToken } from '../common/ids.js';
import type { Keys } from '../common/keys.js';
import { cookieValue, SESSION_COOKIE, type RequestContext } from './http.js';

export const COOKIE_NAME = SESSION_COOKIE;
const CACHE_MS = 5000;
const CACHE_MAX = 100_000;

export interface Session {
  login: string;
  tokenHash: string;
}

export class Sessions {
  private readonly cache = new Map<string, { login: string; until: number }>();
  private readonly revokeListeners = new Set<(tokenHash: string) => void>();

  constructor(
    private readonly redis: Redis,
    private readonly subscriber: Redis,
    private readonly keys: Keys,
    readonly ttlS: number,
  ) {}

  async start(): Promise<void> {
    await this.subscriber.subscribe(this.keys.revokedChannel());
    this.subscriber.on('message', (channel: string, tokenHash: string) => {
      if (channel !== this.keys.revokedChannel()) return;
      this.cache.delete(tokenHash);
      for (const l of this.revokeListeners) l(tokenHash);
    });
  }

  onRevoked(listener: (tokenHash: string) => void): void {
    this.revokeListeners.add(listener);
  }

  /** Creates a session for `login`; returns the token to hand to the client. */
  async create(login: string): Promise<string> {
    const token = newSessionToken();
    await this.redis.set(this.keys.session(hashToken(token)), login, 'EX', this.ttlS);
    return token;
  }

  /** The session of a raw token, or null. */
  async resolve(token: string): Promise<Session | null> {
    if (!token || token.length > 256) return null;
    const tokenHash = hashToken(token);
    const now = Date.now();
    const cached = this.cache.get(tokenHash);
    if (cached && cached.until > now) return { login: cached.login, tokenHash };
    const login = await this.redis.get(this.keys.session(tokenHash));
    if (!login) {
      this.cache.delete(tokenHash);
      return null;
    }
    if (this.cache.size >= CACHE_MAX) this.cache.clear();
    this.cache.set(tokenHash, { login, until: now + CACHE_MS });
    return { login, tokenHash };
  }

  async revoke(tokenHash: string): Promise<void> {
    this.cache.delete(tokenHash);
    await this.redis.del(this.keys.session(tokenHash));
    await this.redis.publish(this.keys.revokedChannel(), tokenHash);
  }
}

/**
 * The token a request presents: `Authorization: Bearer`, then the cookie, then (WebSocket only)
 * `?token=`. An explicit header wins over the cookie a client's cookie jar may send along with it.
 */
export function presentedToken(ctx: Pick<RequestContext, 'headers' | 'query'>, allowQuery: boolean): string {
  const auth = ctx.headers.authorization;
  if (auth && /^bearer\s+\S/i.test(auth)) return auth.replace(/^bearer\s+/i, '').trim();
  const fromCookie = cookieValue(ctx.headers.cookie, COOKIE_NAME);
  if (fromCookie) return fromCookie;
  if (allowQuery) return ctx.query.get('token') ?? '';
  return '';
}

/** Resolves the caller's session or throws 401. */
export async function requireSession(
  sessions: Sessions,
  ctx: Pick<RequestContext, 'headers' | 'query'>,
): Promise<Session> {
  const session = await sessions.resolve(presentedToken(ctx, false));
  if (!session) throw new AppError('unauthorized', 'a valid session is required');
  return session;
}

export function sessionCookie(token: string, maxAgeS: number, secure: boolean): string {
  return `${COOKIE_NAME}=${token}; HttpOnly; SameSite=Lax; Path=/; Max-Age=${maxAgeS}${secure ? '; Secure' : ''}`;
}

export function clearedCookie(secure: boolean): string {
  return `${COOKIE_NAME}=; HttpOnly; SameSite=Lax; Path=/; Max-Age=0${secure ? '; Secure' : ''}`;
}
