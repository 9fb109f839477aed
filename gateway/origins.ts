/**
 * The browser origins the gateway trusts: its own (`PUBLIC_ORIGIN`, or the
 * request's Host when that is unset) plus `ALLOWED_ORIGINS`. One allow-list
 * for WebSocket upgrades and for REST requests that change state, so a page
 * of another origin can neither open a socket nor write with a user's cookie.
 */
import type { Config } from '../common/config.js';

/** What a request says about the page that made it. */
export interface OriginHeaders {
  /** The `Origin` header ('' when absent). */
  origin: string;
  /** The `Host` header. */
  host: string;
  /** The `Sec-Fetch-Site` header ('' when absent). */
  fetchSite: string;
}

export class Origins {
  private readonly allowed: Set<string>;
  private readonly publicOrigin: string;

  constructor(config: Pick<Config, 'allowedOrigins' | 'publicOrigin'>) {
    this.allowed = new Set(config.allowedOrigins);
    this.publicOrigin = config.publicOrigin;
    if (this.publicOrigin) this.allowed.add(this.publicOrigin);
  }

  /** Whether `origin` (an Origin header value) is the server's own or an allowed one. */
  allows(origin: string, host: string): boolean {
    if (this.allowed.has(origin)) return true;
    if (!this.publicOrigin && host && (origin === `http://${host}` || origin === `https://${host}`))
      return true;
    return false;
  }

  /**
   * Whether a request that names no Origin and no Sec-Fetch-Site may go ahead is the caller's
   * decision; this answers for requests that do: the Origin must be allowed, and without an Origin
   * the browser must say the request is same-origin. `Origin: null` (sandboxed frames, some
   * redirects) is never allowed.
   */
  browserAllowed(h: OriginHeaders): boolean {
    if (h.origin) return this.allows(h.origin, h.host);
    return h.fetchSite === 'same-origin';
  }

  /** Whether the request comes from a browser page at all (modern browsers send one of the two). */
  static fromBrowser(h: OriginHeaders): boolean {
    return h.origin !== '' || h.fetchSite !== '';
  }
}
