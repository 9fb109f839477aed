/**
 * Benchmark users: registered once per run with bounded concurrency (argon2
 * makes each registration cost tens of milliseconds of server CPU) and reused
 * by every scenario. Registrations are spread over source addresses so that a
 * target with the default per-address registration limit accepts them, and
 * the tokens can be kept in a file to reuse against the same deployment.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { AddressPool } from './addresses.js';
import { expectOk, mapLimit, request, sessionToken } from './http.js';
import type { BenchUser } from './transport.js';

/** Password of every benchmark user. */
export const BENCH_PASSWORD = 'bench password 1';

/** Registrations per source address: below the default REGISTER_RATE_LIMIT_IP of 60 a minute. */
const REGISTRATIONS_PER_ADDRESS = 50;

export interface UserPoolOptions {
  /** Parallel registrations. @default 8 */
  concurrency?: number;
  /** JSON file to load tokens from and save them to (reuse across runs against one deployment). */
  cacheFile?: string;
  /** Login prefix; a fresh random one per pool unless loaded from the cache. */
  prefix?: string;
  /** Address block of the registration source addresses. @default 3000 */
  addressBlock?: number;
}

interface CacheFile {
  baseUrl: string;
  prefix: string;
  users: BenchUser[];
}

export class UserPool {
  private users: BenchUser[] = [];
  private readonly prefix: string;
  private readonly addresses: AddressPool;
  /** Total time spent registering, for the report. */
  registerMs = 0;
  registered = 0;

  constructor(
    readonly baseUrl: string,
    private readonly opts: UserPoolOptions = {},
  ) {
    const cached = opts.cacheFile ? UserPool.readCache(opts.cacheFile, baseUrl) : undefined;
    this.prefix = cached?.prefix ?? opts.prefix ?? `b${crypto.randomBytes(3).toString('hex')}_`;
    if (cached) this.users = cached.users;
    this.addresses = new AddressPool(REGISTRATIONS_PER_ADDRESS, opts.addressBlock ?? 3000);
  }

  private static readCache(file: string, baseUrl: string): CacheFile | undefined {
    try {
      const c = JSON.parse(fs.readFileSync(file, 'utf8')) as CacheFile;
      return c.baseUrl === baseUrl && Array.isArray(c.users) ? c : undefined;
    } catch {
      return undefined;
    }
  }

  /** Login of the i-th user. */
  loginOf(i: number): string {
    return `${this.prefix}${i}`;
  }

  /**
   * The first `n` users, registering the missing ones. Cached users are
   * checked once with GET /me; a stale cache (the deployment was reset) is
   * dropped and everyone is registered again.
   */
  async ensure(n: number, onProgress?: (done: number, total: number) => void): Promise<BenchUser[]> {
    if (this.users.length > 0 && this.registered === 0) {
      const me = await request('GET', `${this.baseUrl}/me`, { token: this.users[0]!.token });
      if (me.status !== 200) this.users = [];
    }
    const have = this.users.length;
    if (have < n) {
      const t0 = performance.now();
      let done = 0;
      const fresh = await mapLimit(n - have, this.opts.concurrency ?? 8, async (k) => {
        const i = have + k;
        const login = this.loginOf(i);
        const res = await request('POST', `${this.baseUrl}/register`, {
          body: { username: `Bench ${i}`, login, password: BENCH_PASSWORD },
          localAddress: this.addresses.addressFor(i),
        });
        expectOk(res, `POST /register ${login}`);
        const token = sessionToken(res);
        if (!token) throw new Error(`POST /register ${login}: no sessionToken cookie`);
        onProgress?.(++done, n - have);
        return { login, token };
      });
      this.users.push(...fresh);
      this.registered += fresh.length;
      this.registerMs += performance.now() - t0;
      this.save();
    }
    return this.users.slice(0, n);
  }

  private save(): void {
    if (!this.opts.cacheFile) return;
    fs.mkdirSync(path.dirname(this.opts.cacheFile), { recursive: true });
    const c: CacheFile = { baseUrl: this.baseUrl, prefix: this.prefix, users: this.users };
    fs.writeFileSync(this.opts.cacheFile, JSON.stringify(c));
  }
}

/** Users of the Socket.IO peer: no accounts, the login is the identity. */
export function peerUsers(n: number, prefix = 'p'): BenchUser[] {
  return Array.from({ length: n }, (_, i) => ({ login: `${prefix}${i}`, token: `${prefix}${i}` }));
}
