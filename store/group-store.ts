import type { GroupMemberRecord, GroupRecord, GroupRole } from './types.js';

/**
 * Groups and their members. The owning shard actor is the only writer of a
 * group's member list; reads may come from anywhere.
 */
export interface GroupStore {
  /** Creates the group with its members (the owner included, role owner) atomically enough that a reader never sees a group without its owner. */
  createGroup(group: GroupRecord, members: readonly GroupMemberRecord[]): Promise<void>;
  /** The group, or null when no group has that id. */
  getGroup(id: string): Promise<GroupRecord | null>;
  /** Groups by id; unknown ids are absent from the map. */
  getGroups(ids: readonly string[]): Promise<Map<string, GroupRecord>>;
  /** Members ordered by login; empty for an unknown group. */
  listMembers(groupId: string): Promise<GroupMemberRecord[]>;
  /** Adds or re-roles a member; returns false when the login already had exactly that role. */
  addMember(groupId: string, login: string, role: GroupRole): Promise<boolean>;
  /** Removes a member; returns false when the login was not a member. */
  removeMember(groupId: string, login: string): Promise<boolean>;
  /** Ids of the groups the login is a member of (any order). */
  groupsOfUser(login: string): Promise<string[]>;
  /** Every public group. */
  publicGroups(): Promise<GroupRecord[]>;
}
