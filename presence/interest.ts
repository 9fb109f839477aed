import type { Redis } from 'ioredis';
import { dialogPeer } from '../common/ids.js';
import type { Keys } from '../common/keys.js';
import type { Store } from '../store/index.js';

/** How long a private group's member list is reused across presence changes. */
const MEMBERS_CACHE_MS = 5000;

/**
 * Who should hear about a user's presence (API.md user_status): dialog peers
 * with messages, members of private groups shared with the user, and users
 * who have a dialog with the user open right now (watchers:{login}). Costs a
 * few store reads per changing user, never a scan of all users. Member lists
 * are cached briefly because a gateway failure changes many users of the same
 * groups at once.
 */
export class Interest {
  private readonly members = new Map<string, { logins: string[]; at: number }>();

  constructor(
    private readonly store: Store,
    private readonly redis: Redis,
    private readonly keys: Keys,
  ) {}

  /** Logins interested in `login`'s presence, without `login` itself. */
  async of(login: string): Promise<Set<string>> {
    const [dialogs, groupIds, watchers] = await Promise.all([
      this.store.messages.dialogsOfUser(login),
      this.store.groups.groupsOfUser(login),
      this.redis.hkeys(this.keys.watchers(login)),
    ]);
    const out = new Set<string>(watchers);
    for (const chatId of dialogs) out.add(dialogPeer(chatId, login));
    const now = Date.now();
    const unknown = groupIds.filter((id) => !this.fresh(id, now));
    if (unknown.length > 0) {
      const groups = await this.store.groups.getGroups(unknown);
      await Promise.all(
        unknown.map(async (id) => {
          const group = groups.get(id);
          // Public groups are everyone's audience; their members get no presence through them.
          const logins =
            group && !group.isPublic ? (await this.store.groups.listMembers(id)).map((m) => m.login) : [];
          this.members.set(id, { logins, at: now });
        }),
      );
    }
    for (const id of groupIds) for (const member of this.members.get(id)?.logins ?? []) out.add(member);
    out.delete(login);
    return out;
  }

  /** Forgets cached member lists older than their lifetime. */
  prune(now = Date.now()): void {
    for (const [id, entry] of this.members) if (now - entry.at >= MEMBERS_CACHE_MS) this.members.delete(id);
  }

  private fresh(groupId: string, now: number): boolean {
    const entry = this.members.get(groupId);
    return entry !== undefined && now - entry.at < MEMBERS_CACHE_MS;
  }
}
