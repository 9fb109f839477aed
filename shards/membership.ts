/**
 * Who belongs to a chat, as its actor keeps it: a dialog's two users (and
 * whether both exist), a group's record and members. It answers the access
 * rules (invariant 7: enforced here as well as at the gateway), names the
 * audience of the chat's events, and changes group membership in the store.
 */
import { MAX_GROUP_MEMBERS } from '../common/api.js';
import { AppError } from '../common/errors.js';
import type { ParsedChat } from '../common/ids.js';
import type { GroupMemberRecord, GroupRecord, GroupRole, Store } from '../store/index.js';

export interface GroupView extends GroupRecord {
  members: GroupMemberRecord[];
}

export class Membership {
  private group: GroupRecord | null = null;
  private readonly members = new Map<string, GroupRole>();
  private dialogUsersExist = false;

  constructor(
    private readonly parsed: ParsedChat,
    private readonly store: Store,
    /** Throws when the actor may not write any more (checked before each store write). */
    private readonly ensureWritable: () => void,
  ) {}

  async load(): Promise<void> {
    if (this.parsed.kind === 'group') {
      const [group, members] = await Promise.all([
        this.store.groups.getGroup(this.parsed.groupId!),
        this.store.groups.listMembers(this.parsed.groupId!),
      ]);
      this.group = group;
      for (const m of members) this.members.set(m.login, m.role);
    } else {
      await this.refreshDialogUsers();
    }
  }

  /** True for a dialog one of whose users did not exist when last checked. */
  get missingDialogUser(): boolean {
    return this.parsed.kind === 'dialog' && !this.dialogUsersExist;
  }

  /**
   * Re-checks a dialog's users: a missing login may have registered since the actor loaded (users are
   * never deleted, so a found pair stays found).
   */
  async refreshDialogUsers(): Promise<void> {
    const profiles = await this.store.users.getProfiles(this.parsed.members!);
    this.dialogUsersExist = profiles.size === 2;
  }

  /** Throws unless `user` may read (and so write to) the chat. */
  requireRead(user: string): void {
    if (this.parsed.kind === 'dialog') {
      if (!this.parsed.members!.includes(user))
        throw new AppError('forbidden', 'not a participant of this dialog');
      if (!this.dialogUsersExist) throw new AppError('user_not_found', 'no such user');
      return;
    }
    if (!this.group) throw new AppError('group_not_found', 'no such group');
    if (!this.group.isPublic && !this.members.has(user)) {
      throw new AppError('not_member', 'not a member of this group');
    }
  }

  mayRead(user: string): boolean {
    try {
      this.requireRead(user);
      return true;
    } catch {
      return false;
    }
  }

  /** Users who should receive events of this chat ('*' for public groups: everyone following it). */
  audience(): string[] | '*' {
    if (this.parsed.kind === 'dialog') return [...this.parsed.members!];
    if (this.group?.isPublic) return '*';
    return [...this.members.keys()];
  }

  /** Whether `login` hears a group's events: every follower of a public group, a member of a private one. */
  hears(login: string): boolean {
    return !!this.group?.isPublic || this.members.has(login);
  }

  /** A user becomes a listed member of a public group when first sending to it. */
  joinedBySending(user: string): void {
    if (!this.group?.isPublic || this.members.has(user)) return;
    this.members.set(user, 'member');
    void this.store.groups.addMember(this.group.id, user, 'member').catch(() => undefined);
  }

  view(): GroupView | null {
    if (!this.group) return null;
    return { ...this.group, members: this.list() };
  }

  private list(): GroupMemberRecord[] {
    return [...this.members]
      .map(([login, role]) => ({ login, role }))
      .sort((a, b) => (a.login < b.login ? -1 : a.login > b.login ? 1 : 0));
  }

  async create(user: string, name: string, isPublic: boolean, members: string[]): Promise<GroupView> {
    if (this.parsed.kind !== 'group') throw new AppError('invalid_param', 'not a group chat');
    if (this.group) throw new AppError('invalid_param', 'group already exists');
    this.ensureWritable();
    const wanted = isPublic ? [] : [...new Set(members.filter((m) => m !== user))];
    // API.md bounds the `members` field (the creator comes on top), as the gateway checks it.
    if (wanted.length > MAX_GROUP_MEMBERS) {
      throw new AppError('invalid_field', `at most ${MAX_GROUP_MEMBERS} members`, 'members');
    }
    const profiles = await this.store.users.getProfiles([user, ...wanted]);
    const unknown = wanted.filter((m) => !profiles.has(m));
    if (unknown.length > 0) {
      throw new AppError(
        'unknown_member',
        `unknown member login: ${unknown.slice(0, 5).join(', ')}`,
        'members',
      );
    }
    const group: GroupRecord = {
      id: this.parsed.groupId!,
      name,
      isPublic,
      owner: user,
      createdAt: Date.now(),
    };
    const records: GroupMemberRecord[] = [
      { login: user, role: 'owner' },
      ...wanted.map((login) => ({ login, role: 'member' as const })),
    ];
    await this.store.groups.createGroup(group, records);
    this.group = group;
    for (const r of records) this.members.set(r.login, r.role);
    return this.view()!;
  }

  membersOf(user: string): GroupMemberRecord[] {
    this.requireGroupReader(user);
    return this.list();
  }

  async add(user: string, login: string): Promise<GroupMemberRecord[]> {
    const group = this.requireGroupReader(user);
    if (login !== user && group.owner !== user) {
      throw new AppError('owner_only', 'only the owner may add other members');
    }
    if (!group.isPublic && group.owner !== user)
      throw new AppError('owner_only', 'only the owner may add members');
    if (this.members.has(login)) return this.list();
    if (this.members.size >= MAX_GROUP_MEMBERS) {
      throw new AppError('invalid_field', `a group has at most ${MAX_GROUP_MEMBERS} members`, 'login');
    }
    const profiles = await this.store.users.getProfiles([login]);
    if (!profiles.has(login)) throw new AppError('user_not_found', 'no such user');
    this.ensureWritable();
    await this.store.groups.addMember(group.id, login, 'member');
    this.members.set(login, 'member');
    return this.list();
  }

  async remove(user: string, login: string): Promise<void> {
    const group = this.requireGroupReader(user);
    if (login !== user && group.owner !== user) {
      throw new AppError('owner_only', 'only the owner may remove other members');
    }
    if (!this.members.has(login)) throw new AppError('not_found', 'not a member of this group');
    if (login === group.owner && this.members.size > 1) {
      throw new AppError('owner_cannot_leave', 'the owner cannot leave while other members remain');
    }
    this.ensureWritable();
    await this.store.groups.removeMember(group.id, login);
    this.members.delete(login);
  }

  private requireGroupReader(user: string): GroupRecord {
    if (this.parsed.kind !== 'group') throw new AppError('not_found', 'not a group');
    this.requireRead(user);
    return this.group!;
  }
}
