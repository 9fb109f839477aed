/**
 * A chat's receipts: every member's delivered/read marks (invariant 5: never
 * backwards, read implies delivered), the status of a message as its sender
 * sees it, and which `message_status` events a raise of marks causes. Status
 * changes come back as values (`StatusChange`) for the actor to publish.
 *
 * A dialog's status is the peer's mark. A group's is the highest mark of any
 * other member, so only the two highest marks held by distinct users matter
 * (`TopTwo`): senders other than the top holder see the top mark, the top
 * holder sees the second.
 */
import type { MessageStatus } from '../common/api.js';
import { dialogPeer } from '../common/ids.js';
import type { Marks, StoredMessage } from '../store/index.js';
import type { RecentWindow } from './recent.js';

export type Status = MessageStatus;

/** A raise of one user's marks. */
export interface MarkUpdate {
  user: string;
  deliveredId: number;
  readId: number;
}

/** One `message_status` event: the messages up to `id` reached `status` for `users` ('*': all followers). */
export interface StatusChange {
  users: string[] | '*';
  id: number;
  status: 'delivered' | 'read';
  /** With '*': the one user who does not see it (the holder of the mark). */
  except?: string;
}

/** What the receipts need to know of the chat's members. */
export interface Audience {
  /** Users who should receive events of this chat ('*' for public groups). */
  audience(): string[] | '*';
  /** Whether `login` hears the group's events. */
  hears(login: string): boolean;
}

interface Top {
  login: string;
  id: number;
}

/** The two highest marks held by distinct users, for "read by at least one other member". */
class TopTwo {
  first: Top | null = null;
  second: Top | null = null;

  raise(login: string, id: number): void {
    if (this.first?.login === login) {
      this.first.id = Math.max(this.first.id, id);
    } else if (this.second?.login === login) {
      this.second.id = Math.max(this.second.id, id);
    } else if (!this.second || id > this.second.id) {
      this.second = { login, id };
    } else {
      return;
    }
    if (this.second && (!this.first || this.second.id > this.first.id)) {
      [this.first, this.second] = [this.second, this.first];
    }
  }

  /** Highest mark among users other than `login`. */
  excluding(login: string): number {
    if (this.first && this.first.login !== login) return this.first.id;
    return this.second?.id ?? 0;
  }

  snapshot(): { first: Top | null; second: number } {
    return { first: this.first ? { ...this.first } : null, second: this.second?.id ?? 0 };
  }
}

type Snapshot = { delivered: ReturnType<TopTwo['snapshot']>; read: ReturnType<TopTwo['snapshot']> };

/** The marks a batch of raises changes, and the group's top marks before it. */
export interface Raise {
  changed: { user: string; prev: Marks; next: Marks }[];
  before: Snapshot | null;
}

export class Receipts {
  private readonly marks = new Map<string, Marks>();
  private readonly topDelivered = new TopTwo();
  private readonly topRead = new TopTwo();
  private readonly dialog: boolean;

  constructor(
    private readonly chatId: string,
    private readonly recent: RecentWindow,
    private readonly members: Audience,
  ) {
    this.dialog = chatId.startsWith('d:');
  }

  /** Merges stored or raised marks; returns whether anything rose. */
  apply(m: Marks): boolean {
    const prev = this.marks.get(m.login);
    const deliveredId = Math.max(prev?.deliveredId ?? 0, m.deliveredId, m.readId);
    const readId = Math.max(prev?.readId ?? 0, m.readId);
    this.marks.set(m.login, { login: m.login, deliveredId, readId });
    this.topDelivered.raise(m.login, deliveredId);
    this.topRead.raise(m.login, readId);
    return deliveredId !== prev?.deliveredId || readId !== prev?.readId;
  }

  of(user: string): Marks {
    return this.marks.get(user) ?? { login: user, deliveredId: 0, readId: 0 };
  }

  /** Status of a message from its sender's point of view. */
  statusOf(message: StoredMessage): Status {
    let delivered: number;
    let read: number;
    if (this.dialog) {
      const peer = this.marks.get(dialogPeer(this.chatId, message.sender));
      delivered = peer?.deliveredId ?? 0;
      read = peer?.readId ?? 0;
    } else {
      delivered = this.topDelivered.excluding(message.sender);
      read = this.topRead.excluding(message.sender);
    }
    if (read >= message.id) return 'read';
    if (delivered >= message.id) return 'delivered';
    return 'sent';
  }

  /** The marks `updates` would raise (null when none): apply them with `apply`, then ask `statusChanges`. */
  plan(updates: readonly MarkUpdate[]): Raise | null {
    // Only group statuses compare against the top marks before the batch.
    const before = this.dialog
      ? null
      : { delivered: this.topDelivered.snapshot(), read: this.topRead.snapshot() };
    const changed: Raise['changed'] = [];
    for (const u of updates) {
      const prev = this.of(u.user);
      const next = {
        login: u.user,
        deliveredId: Math.max(prev.deliveredId, u.deliveredId, u.readId),
        readId: Math.max(prev.readId, u.readId),
      };
      if (next.deliveredId === prev.deliveredId && next.readId === prev.readId) continue;
      changed.push({ user: u.user, prev, next });
    }
    return changed.length === 0 ? null : { changed, before };
  }

  /** The status events a raise causes, once its marks are applied and durable. */
  statusChanges(raise: Raise): StatusChange[] {
    const out: StatusChange[] = [];
    const relevant = raise.changed.filter((c) =>
      this.recent.othersWroteBetween(c.user, Math.min(c.prev.deliveredId, c.prev.readId), c.next.deliveredId),
    );
    if (this.dialog || !raise.before) {
      for (const c of relevant) this.dialogChanges(out, c.user, c.prev, c.next);
    } else if (relevant.length > 0) {
      // Group statuses depend only on the top marks, compared once against the state before the batch.
      this.groupChanges(out, raise.before);
    }
    return out;
  }

  private dialogChanges(out: StatusChange[], user: string, prev: Marks, next: Marks): void {
    const peer = dialogPeer(this.chatId, user);
    if (next.deliveredId > prev.deliveredId && next.deliveredId > next.readId) {
      push(out, [peer], next.deliveredId, 'delivered');
    }
    if (next.readId > prev.readId) push(out, [peer], next.readId, 'read');
  }

  /**
   * A status goes only to members with a message of their own whose status it changes (as for dialogs):
   * a member who sent nothing in the range learns nothing from it.
   */
  private groupChanges(out: StatusChange[], before: Snapshot): void {
    for (const [top, was, status] of [
      [this.topDelivered, before.delivered, 'delivered'],
      [this.topRead, before.read, 'read'],
    ] as const) {
      const first = top.first;
      if (!first) continue;
      if (!was.first || first.id > was.first.id || first.login !== was.first.login) {
        // Everyone but the previous top holder saw was.first; the previous holder saw was.second.
        const wasFirstId = was.first?.id ?? 0;
        const senders = this.recent.sendersBetween(wasFirstId, first.id);
        const previousTop = was.first && was.first.login !== first.login ? was.first.login : null;
        const previousTopConcerned =
          previousTop !== null && this.recent.sentBetween(previousTop, was.second, first.id);
        if (senders === null) {
          const others = this.members.audience();
          if (others === '*') out.push({ users: '*', id: first.id, status, except: first.login });
          else
            push(
              out,
              others.filter((u) => u !== first.login),
              first.id,
              status,
            );
        } else {
          if (previousTopConcerned) senders.add(previousTop);
          senders.delete(first.login);
          push(
            out,
            [...senders].filter((u) => this.members.hears(u)),
            first.id,
            status,
          );
        }
      }
      const second = top.second?.id ?? 0;
      if (second > was.second) {
        // The top holder saw was.first (someone else's) or was.second (when it held the top already).
        const seen = was.first && was.first.login !== first.login ? was.first.id : was.second;
        if (this.recent.sentBetween(first.login, seen, second)) push(out, [first.login], second, status);
      }
    }
  }
}

function push(out: StatusChange[], users: string[], id: number, status: 'delivered' | 'read'): void {
  if (users.length > 0 && id > 0) out.push({ users, id, status });
}
