/**
 * The gateway's cache of the user directory: pages of the store's (username,
 * login) listing, which every GET /chats reads (a dialog entry for every other
 * user), with each user's dialog entry (no messages yet) rendered as JSON.
 *
 * Registration is the only change to the directory. The gateway that
 * registers a user drops its cache at once and publishes on the `users`
 * channel so every other gateway drops its own; a subscriber that reconnects
 * (and may have missed a message) drops it too. A page read while a change
 * arrived is not kept.
 */
import type { Redis } from 'ioredis';
import type { Keys } from '../common/keys.js';
import type { Logger } from '../common/logger.js';
import type { Store, UserProfile } from '../store/index.js';
import type { PresenceInfo, PresenceView } from './presence-view.js';

type After = { username: string; login: string } | null;

/** One cached page of the listing, with its users' quiet dialog entries rendered on demand. */
export interface DirectoryPage {
  readonly users: readonly UserProfile[];
  /** The users' dialog entries (no messages), with presence as of `renderedAt`. */
  entries: RenderedEntries | null;
  renderedAt: number;
  /** PresenceView.localVersion the entries were rendered at. */
  presenceVersion: number;
}

/**
 * JSON objects back to back, separated by commas: entry i is
 * `json.subarray(offsets[i], offsets[i + 1] - 1)` (the last one has no comma,
 * its end is json.length), and a run of entries i..j is one subarray.
 */
export interface RenderedEntries {
  json: Buffer;
  offsets: Int32Array;
}

/** The bytes of entries i..j (inclusive) of `r`, commas between them. */
export function entryRun(r: RenderedEntries, i: number, j: number): Buffer {
  const end = j + 1 < r.offsets.length - 1 ? r.offsets[j + 1]! - 1 : r.json.length;
  return r.json.subarray(r.offsets[i]!, end);
}

/** Rough memory of one cached profile with its rendered entry. */
const PROFILE_BYTES = 400;
/**
 * How long rendered presence fields are reused. Presence read from Redis is
 * already cached for a second (PresenceClient.get); changes of users on this
 * gateway re-render at once (PresenceView.localVersion).
 */
const RENDER_TTL_MS = 500;

const seenJson = new Map<number, string>();

/** `true,"last_seen":"..."}` / `false,"last_seen":null}`: the end of a dialog entry. */
export function presenceTail(pr: PresenceInfo | undefined): string {
  const online = pr?.online ? 'true' : 'false';
  const ms = pr?.lastSeen;
  if (ms === null || ms === undefined || ms <= 0) return `${online},"last_seen":null}`;
  // Many entries share a last-seen time (users online here read as seen now): render each time once.
  let seen = seenJson.get(ms);
  if (seen === undefined) {
    if (seenJson.size >= 10_000) seenJson.clear();
    seen = `"${new Date(ms).toISOString()}"`;
    seenJson.set(ms, seen);
  }
  return `${online},"last_seen":${seen}}`;
}

export class UserDirectory {
  private readonly pages = new Map<string, DirectoryPage>();
  private cachedProfiles = 0;
  private generation = 0;
  private readonly maxProfiles: number;

  constructor(
    private readonly store: Store,
    private readonly redis: Redis,
    private readonly keys: Keys,
    private readonly logger: Logger,
    maxBytes: number,
  ) {
    this.maxProfiles = Math.floor(maxBytes / PROFILE_BYTES);
  }

  /** Follows changes published by other gateways on `subscriber` (a connection in subscriber mode). */
  async start(subscriber: Redis): Promise<void> {
    const channel = this.keys.usersChannel();
    subscriber.on('message', (ch: string) => {
      if (ch === channel) this.invalidate();
    });
    // After a reconnect, messages published while the connection was down are lost.
    subscriber.on('ready', () => this.invalidate());
    await subscriber.subscribe(channel);
  }

  /** The store's listing, cached: users after `after` by (username, login), at most `limit`. */
  async listByName(after: After, limit: number): Promise<DirectoryPage> {
    const key = after ? `${limit}\u0000${after.username}\u0000${after.login}` : `${limit}`;
    const hit = this.pages.get(key);
    if (hit) return hit;
    const generation = this.generation;
    const users = await this.store.users.listByName(after, limit);
    const page: DirectoryPage = { users, entries: null, renderedAt: 0, presenceVersion: -1 };
    if (generation === this.generation && this.maxProfiles > 0) {
      // An empty page (any cursor a client makes up) counts as one entry, so the map stays bounded too.
      const cost = Math.max(1, users.length);
      if (this.cachedProfiles + cost > this.maxProfiles) this.dropPages();
      this.pages.set(key, page);
      this.cachedProfiles += cost;
    }
    return page;
  }

  /** The page's quiet dialog entries (see DirectoryPage.entries), re-rendered when stale. */
  async entries(page: DirectoryPage, presence: PresenceView): Promise<RenderedEntries> {
    const now = Date.now();
    if (
      page.entries &&
      now - page.renderedAt < RENDER_TTL_MS &&
      page.presenceVersion === presence.localVersion
    ) {
      return page.entries;
    }
    const version = presence.localVersion;
    const present = await presence.get(page.users.map((u) => u.login));
    const parts = page.users.map(
      (u) =>
        `{"type":"dialog","id":${JSON.stringify(u.login)},"name":${JSON.stringify(u.username)},` +
        `"last_message":null,"last_message_id":null,"last_message_time":null,"unread":0,"is_online":` +
        presenceTail(present.get(u.login)),
    );
    const offsets = new Int32Array(parts.length + 1);
    let at = 0;
    parts.forEach((part, i) => {
      offsets[i] = at;
      at += Buffer.byteLength(part) + 1;
    });
    offsets[parts.length] = at;
    const entries = { json: Buffer.from(parts.join(',')), offsets };
    page.entries = entries;
    page.renderedAt = now;
    page.presenceVersion = version;
    return entries;
  }

  /** A user registered through this gateway: drop the cache here and tell every other gateway. */
  async changed(): Promise<void> {
    this.invalidate();
    try {
      await this.redis.publish(this.keys.usersChannel(), '1');
    } catch (err) {
      this.logger.warn({ err }, 'users change not published');
    }
  }

  private invalidate(): void {
    this.generation++;
    this.dropPages();
  }

  private dropPages(): void {
    this.pages.clear();
    this.cachedProfiles = 0;
  }
}
