/**
 * Sessions: opaque 256-bit tokens; Redis keeps only their SHA-256
 * (`session:{hash}` → login, TTL = session lifetime). Gateways cache
 * resolutions for a few seconds, so a logout must reach every gateway before
 * it is answered: `revoke` deletes the key, publishes the hash on the
 * `revoked` channel, and waits until every gateway that received it has
 * dropped its cache entry and closed the sockets opened with it (each answers
 * on the logging-out gateway's `revoked-ack:{node}` channel). Should one not
 * answer in time, `revoke` waits out the cache lifetime instead: a cached
 * resolution lives at most CACHE_MS from the moment its lookup was sent, and
 * every lookup sent after the key's deletion finds nothing.
 */
import type { Redis } from 'ioredis';
import { AppError } from '../common/errors.js';
import { hashToken, newSessionToken } from '../common/ids.js';
import type { Keys } from '../common/keys.js';
import { cookieValue, SESSION_COOKIE, type RequestContext } from './http.js';

export const COOKIE_NAME = SESSION_COOKIE;
const CACHE_MS = 5000;
const CACHE_MAX = 100_000;
/** How long a logout waits for the other gateways' acknowledgements before it waits out the cache. */
const ACK_TIMEOUT_MS = 1000;

export interface Session {
  login: string;
  tokenHash: string;
}

/** A revocation published by this gateway, waiting for its acknowledgements. */
interface PendingRevocation {
  /** Gateways that received it (PUBLISH's answer); unknown until that answer arrives. */
  receivers: number | null;
  acks: number;
  done: () => void;
}

/** What travels on the revoked channel: the token hash, and where to acknowledge it. */
interface RevokedMessage {
  h: string;
  node: string;
  id: string;
}

export class Sessions {
  private readonly cache = new Map<string, { login: string; until: number }>();
  private readonly revokeListeners = new Set<(tokenHash: string) => void>();
  private readonly pending = new Map<string, PendingRevocation>();
  private seq = 0;
  /** Raised by every revocation seen: a lookup that overlapped one is not trusted without asking again. */
  private generation = 0;

  constructor(
    private readonly redis: Redis,
    private readonly subscriber: Redis,
    private readonly keys: Keys,
    readonly ttlS: number,
    /** This gateway's node id (where other gateways acknowledge its revocations). */
    private readonly node: string,
  ) {}

  async start(): Promise<void> {
    const revoked = this.keys.revokedChannel();
    const acks = this.keys.revokedAckChannel(this.node);
    this.subscriber.on('message', (channel: string, message: string) => {
      if (channel === revoked) this.revoked(message);
      else if (channel === acks) this.acknowledged(message);
    });
    // A subscriber that reconnects may have missed revocations meanwhile.
    this.subscriber.on('ready', () => this.cache.clear());
    await this.subscriber.subscribe(revoked, acks);
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
  async resolve(token: string, retry = true): Promise<Session | null> {
    if (!token || token.length > 256) return null;
    const tokenHash = hashToken(token);
    const now = performance.now();
    const cached = this.cache.get(tokenHash);
    if (cached && cached.until > now) return { login: cached.login, tokenHash };
    const generation = this.generation;
    const login = await this.redis.get(this.keys.session(tokenHash));
    if (generation !== this.generation) {
      // A revocation arrived while the lookup was out; its answer may predate the key's deletion.
      return retry ? this.resolve(token, false) : login ? { login, tokenHash } : null;
    }
    if (!login) {
      this.cache.delete(tokenHash);
      return null;
    }
    if (this.cache.size >= CACHE_MAX) this.cache.clear();
    // Counted from when the lookup was sent, which bounds how long a revoked session can stay cached.
    this.cache.set(tokenHash, { login, until: now + CACHE_MS });
    return { login, tokenHash };
  }

  /** Revokes a session; resolves once no gateway accepts it any more. */
  async revoke(tokenHash: string): Promise<void> {
    this.generation++;
    this.cache.delete(tokenHash);
    await this.redis.del(this.keys.session(tokenHash));
    const deletedAt = performance.now();
    const id = String(++this.seq);
    let timer: NodeJS.Timeout | undefined;
    const acknowledged = new Promise<boolean>((resolve) => {
      this.pending.set(id, { receivers: null, acks: 0, done: () => resolve(true) });
      timer = setTimeout(() => resolve(false), ACK_TIMEOUT_MS);
    });
    try {
      const message: RevokedMessage = { h: tokenHash, node: this.node, id };
      const receivers = await this.redis.publish(this.keys.revokedChannel(), JSON.stringify(message));
      const p = this.pending.get(id)!;
      p.receivers = receivers;
      if (p.acks >= receivers) p.done();
      if (!(await acknowledged)) {
        const left = CACHE_MS - (performance.now() - deletedAt);
        if (left > 0) await new Promise((r) => setTimeout(r, left));
      }
    } finally {
      clearTimeout(timer);
      this.pending.delete(id);
    }
  }

  /** Another gateway (or this one) revoked a session: forget it, close its sockets, acknowledge. */
  private revoked(message: string): void {
    let m: RevokedMessage | null;
    try {
      m = JSON.parse(message) as RevokedMessage;
    } catch {
      m = null;
    }
    // A bare hash is the message of a gateway from before acknowledgements.
    const tokenHash = m && typeof m.h === 'string' ? m.h : message;
    this.generation++;
    this.cache.delete(tokenHash);
    for (const l of this.revokeListeners) l(tokenHash);
    if (m && typeof m.node === 'string' && typeof m.id === 'string') {
      this.redis.publish(this.keys.revokedAckChannel(m.node), m.id).catch(() => undefined);
    }
  }

  private acknowledged(id: string): void {
    const p = this.pending.get(id);
    if (!p) return;
    p.acks++;
    if (p.receivers !== null && p.acks >= p.receivers) p.done();
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
