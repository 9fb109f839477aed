/**
 * Register, login, logout and me (API.md "Authentication"). Passwords are
 * hashed with argon2id (OWASP parameters by default) on libuv's thread pool,
 * off the event loop. Login answers the same 401 with similar timing whether
 * or not the login exists (a dummy verification runs for unknown logins), and
 * is throttled per login and per client address across all gateways.
 */
import argon2 from 'argon2';
import { AppError } from '../common/errors.js';
import type { Config } from '../common/config.js';
import { loginAttempts } from '../common/metrics.js';
import type { Store } from '../store/index.js';
import { cookieValue, type Reply, type RequestContext } from './http.js';
import type { RateLimiter } from './rate-limit.js';
import {
  clearedCookie,
  COOKIE_NAME,
  presentedToken,
  requireSession,
  sessionCookie,
  type Sessions,
} from './sessions.js';
import type { UserDirectory } from './user-directory.js';
import * as v from './validate.js';

const MINUTE = 60_000;

export class Auth {
  private dummyHash: Promise<string>;

  constructor(
    private readonly store: Store,
    private readonly sessions: Sessions,
    private readonly limiter: RateLimiter,
    private readonly config: Config,
    private readonly directory: UserDirectory,
  ) {
    this.dummyHash = this.hash('not a real password, used to equalise timing');
  }

  private hash(password: string): Promise<string> {
    return argon2.hash(password, {
      type: argon2.argon2id,
      memoryCost: this.config.argon2MemoryKiB,
      timeCost: this.config.argon2Time,
      parallelism: this.config.argon2Parallelism,
    });
  }

  private secure(ctx: RequestContext): boolean {
    if (this.config.cookieSecure === 'true') return true;
    if (this.config.cookieSecure === 'false') return false;
    return this.config.trustProxy && ctx.headers.forwardedProto.split(',')[0]?.trim() === 'https';
  }

  private loggedIn(ctx: RequestContext, token: string, body: { login: string; username: string }): Reply {
    return {
      status: 200,
      body,
      headers: {
        'set-cookie': sessionCookie(token, this.sessions.ttlS, this.secure(ctx)),
        'cache-control': 'no-store',
      },
    };
  }

  register = async (ctx: RequestContext): Promise<Reply> => {
    const body = v.requireObject(await ctx.json());
    const username = v.displayName(body.username, 'username');
    const login = v.login(body.login);
    const password = v.password(body.password);
    await this.limiter.hit(
      { name: 'register-ip', max: this.config.registerRateLimitIp, windowMs: MINUTE },
      ctx.remoteAddress,
    );
    if (await this.store.users.getUser(login))
      throw new AppError('login_taken', 'that login is taken', 'login');
    const passwordHash = await this.hash(password);
    const created = await this.store.users.createUser({
      login,
      username,
      passwordHash,
      createdAt: Date.now(),
    });
    if (!created) throw new AppError('login_taken', 'that login is taken', 'login');
    await this.directory.changed();
    const token = await this.sessions.create(login);
    return this.loggedIn(ctx, token, { login, username });
  };

  login = async (ctx: RequestContext): Promise<Reply> => {
    const body = v.requireObject(await ctx.json());
    if (typeof body.login !== 'string' || typeof body.password !== 'string') {
      throw new AppError(
        'invalid_field',
        'login and password are required',
        typeof body.login !== 'string' ? 'login' : 'password',
      );
    }
    const login = body.login.toLowerCase();
    if (login.length > 64 || body.password.length > 1024) {
      throw new AppError(
        'invalid_field',
        'login or password too long',
        login.length > 64 ? 'login' : 'password',
      );
    }
    try {
      await this.limiter.hit(
        { name: 'login-ip', max: this.config.loginRateLimitIp, windowMs: MINUTE },
        ctx.remoteAddress,
      );
      await this.limiter.hit({ name: 'login', max: this.config.loginRateLimit, windowMs: MINUTE }, login);
    } catch (err) {
      loginAttempts.inc({ result: 'throttled' });
      throw err;
    }
    const user = v.LOGIN_RE.test(login) ? await this.store.users.getUser(login) : null;
    let ok: boolean;
    try {
      ok = await argon2.verify(user ? user.passwordHash : await this.dummyHash, body.password);
    } catch {
      ok = false;
    }
    if (!user || !ok) {
      loginAttempts.inc({ result: 'failure' });
      throw new AppError('invalid_credentials', 'wrong login or password');
    }
    loginAttempts.inc({ result: 'success' });
    const token = await this.sessions.create(user.login);
    return this.loggedIn(ctx, token, { login: user.login, username: user.username });
  };

  logout = async (ctx: RequestContext): Promise<Reply> => {
    const session = await this.sessions.resolve(presentedToken(ctx, false));
    if (!session) throw new AppError('unauthorized', 'a valid session is required');
    await this.sessions.revoke(session.tokenHash);
    return { status: 204, headers: { 'set-cookie': clearedCookie(this.secure(ctx)) } };
  };

  /** Who a page request's cookie signs in, for the web client's bootstrap (null: nobody). */
  pageSession = async (cookieHeader: string): Promise<{ login: string; username: string } | null> => {
    const session = await this.sessions.resolve(cookieValue(cookieHeader, COOKIE_NAME));
    if (!session) return null;
    const user = await this.store.users.getUser(session.login);
    return user ? { login: user.login, username: user.username } : null;
  };

  me = async (ctx: RequestContext): Promise<Reply> => {
    const session = await requireSession(this.sessions, ctx);
    const user = await this.store.users.getUser(session.login);
    if (!user) throw new AppError('unauthorized', 'a valid session is required');
    return {
      status: 200,
      body: { login: user.login, username: user.username },
      headers: { 'cache-control': 'no-store' },
    };
  };
}
