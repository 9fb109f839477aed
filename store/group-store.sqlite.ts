import type Database from 'better-sqlite3';
import type { GroupStore } from './group-store.js';
import { storeTimer } from './sqlite/timer.js';
import type { GroupMemberRecord, GroupRecord, GroupRole } from './types.js';

interface GroupRow {
  id: string;
  name: string;
  isPublic: number;
  owner: string;
  createdAt: number;
}

const GROUP_COLUMNS = 'id, name, is_public AS isPublic, owner, created_at AS createdAt';

function toGroup(row: GroupRow): GroupRecord {
  return {
    id: row.id,
    name: row.name,
    isPublic: row.isPublic === 1,
    owner: row.owner,
    createdAt: row.createdAt,
  };
}

/**
 * Groups in SQLite: `groups` by id (a partial index lists the public ones),
 * `group_members` by (group, login), and the `groups_by_member` index for
 * the groups of a login.
 */
export class SqliteGroupStore implements GroupStore {
  private readonly insertGroup;
  private readonly insertMember;
  private readonly byId;
  private readonly byIds;
  private readonly members;
  private readonly upsertMember;
  private readonly deleteMember;
  private readonly ofMember;
  private readonly publicOnes;
  private readonly createTx;
  private readonly timeCreate = storeTimer('group_create');
  private readonly timeGet = storeTimer('group_get');
  private readonly timeGetMany = storeTimer('groups_get');
  private readonly timeMembers = storeTimer('group_members');
  private readonly timeAdd = storeTimer('group_member_add');
  private readonly timeRemove = storeTimer('group_member_remove');
  private readonly timeOfUser = storeTimer('groups_of_user');
  private readonly timePublic = storeTimer('groups_public');

  constructor(db: Database.Database) {
    this.insertGroup = db.prepare<[string, string, number, string, number]>(
      'INSERT INTO groups (id, name, is_public, owner, created_at) VALUES (?, ?, ?, ?, ?)',
    );
    this.insertMember = db.prepare<[string, string, GroupRole]>(
      'INSERT INTO group_members (group_id, login, role) VALUES (?, ?, ?)',
    );
    this.byId = db.prepare<[string], GroupRow>(`SELECT ${GROUP_COLUMNS} FROM groups WHERE id = ?`);
    this.byIds = db.prepare<[string], GroupRow>(
      `SELECT ${GROUP_COLUMNS} FROM groups WHERE id IN (SELECT value FROM json_each(?))`,
    );
    this.members = db.prepare<[string], GroupMemberRecord>(
      'SELECT login, role FROM group_members WHERE group_id = ? ORDER BY login',
    );
    // Changes nothing (0 changes) when the member already has exactly that role.
    this.upsertMember = db.prepare<[string, string, GroupRole]>(
      `INSERT INTO group_members (group_id, login, role) VALUES (?, ?, ?)
       ON CONFLICT (group_id, login) DO UPDATE SET role = excluded.role WHERE role <> excluded.role`,
    );
    this.deleteMember = db.prepare<[string, string]>(
      'DELETE FROM group_members WHERE group_id = ? AND login = ?',
    );
    this.ofMember = db.prepare<[string], { groupId: string }>(
      'SELECT group_id AS groupId FROM group_members WHERE login = ?',
    );
    this.publicOnes = db.prepare<[], GroupRow>(
      `SELECT ${GROUP_COLUMNS} FROM groups WHERE is_public = 1 ORDER BY id`,
    );
    this.createTx = db.transaction((group: GroupRecord, members: readonly GroupMemberRecord[]) => {
      this.insertGroup.run(group.id, group.name, group.isPublic ? 1 : 0, group.owner, group.createdAt);
      for (const m of members) this.insertMember.run(group.id, m.login, m.role);
    });
  }

  /** Group and members commit in one transaction; an existing group id or a repeated login rejects it whole. */
  async createGroup(group: GroupRecord, members: readonly GroupMemberRecord[]): Promise<void> {
    this.timeCreate(() => this.createTx.immediate(group, members));
  }

  async getGroup(id: string): Promise<GroupRecord | null> {
    const row = this.timeGet(() => this.byId.get(id));
    return row ? toGroup(row) : null;
  }

  async getGroups(ids: readonly string[]): Promise<Map<string, GroupRecord>> {
    if (ids.length === 0) return new Map();
    const rows = this.timeGetMany(() => this.byIds.all(JSON.stringify(ids)));
    return new Map(rows.map((row) => [row.id, toGroup(row)]));
  }

  async listMembers(groupId: string): Promise<GroupMemberRecord[]> {
    return this.timeMembers(() => this.members.all(groupId));
  }

  async addMember(groupId: string, login: string, role: GroupRole): Promise<boolean> {
    return this.timeAdd(() => this.upsertMember.run(groupId, login, role).changes > 0);
  }

  async removeMember(groupId: string, login: string): Promise<boolean> {
    return this.timeRemove(() => this.deleteMember.run(groupId, login).changes > 0);
  }

  async groupsOfUser(login: string): Promise<string[]> {
    return this.timeOfUser(() => this.ofMember.all(login).map((row) => row.groupId));
  }

  /** Public groups ordered by id. */
  async publicGroups(): Promise<GroupRecord[]> {
    return this.timePublic(() => this.publicOnes.all().map(toGroup));
  }
}
