/**
 * The gateway's cache of the user directory: pages of the store's (username,
 * login) listing, which every GET /chats reads (a dialog entry for every other
 * user), and each quiet dialog entry pre-rendered up to its presence fields.
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

type After = { username: string; login: string } | null;

/** Rough memory of one cached profile (two short strings, an object, a slot). */
const PROFILE_BYTES = 160;

export class UserDirectory {
  private readonly pages = new Map<string, UserProfile[]>();
  private readonly prefixes = new Map<string, string>();
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
  async listByName(after: After, limit: number): Promise<UserProfile[]> {
    if (this.maxProfiles === 0) return this.store.users.listByName(after, limit);
    const key = after ? `${limit}\u0000${after.username}\u0000${after.login}` : `${limit}`;
    const hit = this.pages.get(key);
    if (hit) return hit;
    const generation = this.generation;
    const users = await this.store.users.listByName(after, limit);
    if (generation === this.generation) {
      if (this.cachedProfiles + users.length > this.maxProfiles) this.dropPages();
      this.pages.set(key, users);
      this.cachedProfiles += users.length;
    }
    return users;
  }

  /**
   * The JSON of a dialog entry with `user` that has no messages, up to and
   * including `"is_online":` (the caller appends presence and closes it).
   */
  quietDialogPrefix(user: UserProfile): string {
    const key = `${user.login}\u0000${user.username}`;
    let prefix = this.prefixes.get(key);
    if (prefix === undefined) {
      prefix =
        `{"type":"dialog","id":${JSON.stringify(user.login)},"name":${JSON.stringify(user.username)},` +
        `"last_message":null,"last_message_id":null,"last_message_time":null,"unread":0,"is_online":`;
      if (this.prefixes.size >= this.maxProfiles) this.prefixes.clear();
      this.prefixes.set(key, prefix);
    }
    return prefix;
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
