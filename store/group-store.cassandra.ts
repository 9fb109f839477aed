/**
 * GroupStore on Cassandra (tables: groups, group_members, groups_by_member,
 * public_groups; see cassandra/migrations.ts).
 *
 * createGroup writes the member rows first and the `groups` row last, so a
 * reader that finds the group also finds its owner (at QUORUM-style
 * consistency; at ONE a lagging replica may still answer either read). The
 * member list of a group is one partition, written as unlogged batches.
 * Member changes read the current role first: the group's actor is its only
 * writer, so the read-then-write needs no Paxos.
 */
import type { GroupStore } from './group-store.js';
import type { GroupMemberRecord, GroupRecord, GroupRole } from './types.js';
import { PUBLIC_GROUP_SHARDS, publicGroupShard } from './cassandra/layout.js';
import { FANOUT, mapLimit, settleAll } from './cassandra/parallel.js';
import { bool, millis, text, type CqlSession } from './cassandra/session.js';
import type { types } from 'cassandra-driver';

/** Statements per unlogged batch of member rows (one partition). */
const MEMBER_BATCH = 100;

/** Every statement of the groups adapter (exported for the schema cross-check in cassandra/schema.test.ts). */
export function groupQueries(ks: string) {
  return {
    insertGroup: `INSERT INTO ${ks}.groups (id, name, is_public, owner, created_at) VALUES (?, ?, ?, ?, ?)`,
    insertPublic: `INSERT INTO ${ks}.public_groups (shard, id, name, owner, created_at) VALUES (?, ?, ?, ?, ?)`,
    group: `SELECT id, name, is_public, owner, created_at FROM ${ks}.groups WHERE id = ?`,
    publicShard: `SELECT id, name, owner, created_at FROM ${ks}.public_groups WHERE shard = ?`,
    insertMember: `INSERT INTO ${ks}.group_members (group_id, login, role) VALUES (?, ?, ?)`,
    insertByMember: `INSERT INTO ${ks}.groups_by_member (login, group_id, role) VALUES (?, ?, ?)`,
    deleteMember: `DELETE FROM ${ks}.group_members WHERE group_id = ? AND login = ?`,
    deleteByMember: `DELETE FROM ${ks}.groups_by_member WHERE login = ? AND group_id = ?`,
    role: `SELECT role FROM ${ks}.group_members WHERE group_id = ? AND login = ?`,
    members: `SELECT login, role FROM ${ks}.group_members WHERE group_id = ?`,
    groupsOf: `SELECT group_id FROM ${ks}.groups_by_member WHERE login = ?`,
  };
}

function role(row: types.Row): GroupRole {
  const value = text(row, 'role');
  if (value !== 'owner' && value !== 'member')
    throw new Error(`cassandra store: unknown group role "${value}"`);
  return value;
}

function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

export class CassandraGroupStore implements GroupStore {
  private readonly q: ReturnType<typeof groupQueries>;

  constructor(
    private readonly db: CqlSession,
    ks: string,
  ) {
    this.q = groupQueries(ks);
  }

  createGroup(group: GroupRecord, members: readonly GroupMemberRecord[]): Promise<void> {
    return this.db.op('group_create', async () => {
      await settleAll([
        mapLimit(chunks(members, MEMBER_BATCH), FANOUT, (chunk) =>
          this.db.partitionBatch(
            chunk.map((m) => ({ query: this.q.insertMember, params: [group.id, m.login, m.role] })),
          ),
        ),
        mapLimit(members, FANOUT, (m) => this.db.write(this.q.insertByMember, [m.login, group.id, m.role])),
      ]);
      const writes = [
        this.db.write(this.q.insertGroup, [
          group.id,
          group.name,
          group.isPublic,
          group.owner,
          group.createdAt,
        ]),
      ];
      if (group.isPublic) {
        writes.push(
          this.db.write(this.q.insertPublic, [
            publicGroupShard(group.id),
            group.id,
            group.name,
            group.owner,
            group.createdAt,
          ]),
        );
      }
      await settleAll(writes);
    });
  }

  getGroup(id: string): Promise<GroupRecord | null> {
    return this.db.op('group_get', () => this.readGroup(id));
  }

  getGroups(ids: readonly string[]): Promise<Map<string, GroupRecord>> {
    return this.db.op('groups_get', async () => {
      const groups = await mapLimit([...new Set(ids)], FANOUT, (id) => this.readGroup(id));
      const out = new Map<string, GroupRecord>();
      for (const g of groups) if (g) out.set(g.id, g);
      return out;
    });
  }

  private async readGroup(id: string): Promise<GroupRecord | null> {
    const row = await this.db.first(this.q.group, [id]);
    if (!row) return null;
    return {
      id: text(row, 'id'),
      name: text(row, 'name'),
      isPublic: bool(row, 'is_public'),
      owner: text(row, 'owner'),
      createdAt: millis(row, 'created_at'),
    };
  }

  listMembers(groupId: string): Promise<GroupMemberRecord[]> {
    return this.db.op('group_members', async () => {
      const rows = await this.db.all(this.q.members, [groupId]);
      return rows.map((row) => ({ login: text(row, 'login'), role: role(row) }));
    });
  }

  addMember(groupId: string, login: string, newRole: GroupRole): Promise<boolean> {
    return this.db.op('group_member_add', async () => {
      const row = await this.db.first(this.q.role, [groupId, login]);
      if (row && role(row) === newRole) return false;
      await settleAll([
        this.db.write(this.q.insertMember, [groupId, login, newRole]),
        this.db.write(this.q.insertByMember, [login, groupId, newRole]),
      ]);
      return true;
    });
  }

  removeMember(groupId: string, login: string): Promise<boolean> {
    return this.db.op('group_member_remove', async () => {
      const row = await this.db.first(this.q.role, [groupId, login]);
      if (!row) return false;
      await settleAll([
        this.db.write(this.q.deleteMember, [groupId, login]),
        this.db.write(this.q.deleteByMember, [login, groupId]),
      ]);
      return true;
    });
  }

  groupsOfUser(login: string): Promise<string[]> {
    return this.db.op('groups_of_user', async () => {
      const rows = await this.db.all(this.q.groupsOf, [login]);
      return rows.map((row) => text(row, 'group_id'));
    });
  }

  publicGroups(): Promise<GroupRecord[]> {
    return this.db.op('groups_public', async () => {
      const shards = Array.from({ length: PUBLIC_GROUP_SHARDS }, (_, i) => i);
      const pages = await Promise.all(shards.map((shard) => this.db.all(this.q.publicShard, [shard])));
      return pages
        .flat()
        .map((row) => ({
          id: text(row, 'id'),
          name: text(row, 'name'),
          isPublic: true,
          owner: text(row, 'owner'),
          createdAt: millis(row, 'created_at'),
        }))
        .sort((a, b) => a.createdAt - b.createdAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    });
  }
}
