/**
 * The in-memory window of one chat's messages: sorted by id, deduplicated by id,
 * bounded in size, plus the caller's own unacknowledged sends.
 */
import { maxStatus, type ChatRef, type Message, type MessageStatus } from './types.ts';

export type PendingState = 'sending' | 'failed';

/** One row of the message list. */
export interface Row {
  /** Stable across the pending → acknowledged transition: the client_id when there was one, else `#id`. */
  key: string;
  /** 0 while pending. */
  id: number;
  sender: string;
  text: string;
  time: string;
  status: MessageStatus;
  clientId?: string;
  pending?: PendingState;
  error?: string;
  /** When a pending send was (re)sent, for its acknowledgement timeout. */
  sentAt?: number;
}

/**
 * Rows kept while the reader follows the live end; older rows are dropped
 * (and reloaded with `before=` when scrolled to). While the reader is up in the
 * history the window may grow to {@link HARD_LIMIT}, then the far end is dropped.
 * @default 1500 and 3000
 */
export const SOFT_LIMIT = 1500;
export const HARD_LIMIT = 3000;

export class ChatMessages {
  /** Acknowledged messages, strictly increasing ids. */
  readonly items: Row[] = [];
  /** Own sends not yet acknowledged, in send order; shown after `items`. */
  readonly pending: Row[] = [];
  /** More messages exist before `items[0]`. */
  hasOlder = false;
  /** Messages after the last item exist on the server but are not held (the window was cut at its end). */
  hasNewer = false;
  loaded = false;
  loadingOlder = false;
  /** Highest id this client reported as read (sent or queued). */
  readSent = 0;
  /** The furthest `message_status` marks seen for the caller's own messages. */
  private marks = { delivered: 0, read: 0 };
  /** Bumped on every change; views compare it to skip work. */
  version = 0;

  constructor(
    readonly chat: ChatRef,
    readonly me: string,
  ) {}

  get lastId(): number {
    return this.items.length ? this.items[this.items.length - 1]!.id : 0;
  }

  get firstId(): number {
    return this.items.length ? this.items[0]!.id : 0;
  }

  /** Rows in display order (a fresh array only when pending sends exist). */
  rows(): Row[] {
    return this.pending.length ? this.items.concat(this.pending) : this.items;
  }

  /**
   * Inserts messages (any order, duplicates allowed); a message already held
   * only has its status advanced. Returns how many were new.
   */
  merge(messages: readonly Message[], clientId?: string): number {
    let added = 0;
    for (const m of messages) {
      if (this.insert(m, clientId)) added++;
    }
    if (messages.length) this.version++;
    return added;
  }

  private insert(m: Message, clientId?: string): boolean {
    const status = this.effectiveStatus(m);
    const items = this.items;
    let pendingRow: Row | undefined;
    if (clientId) {
      const i = this.pending.findIndex((p) => p.clientId === clientId);
      if (i >= 0) pendingRow = this.pending.splice(i, 1)[0];
    }
    const row: Row = {
      key: pendingRow?.key ?? (clientId ? 'c:' + clientId : '#' + m.id),
      id: m.id,
      sender: m.sender,
      text: m.text,
      time: m.time,
      status,
      clientId,
    };
    // Fast path: the live end.
    if (!items.length || m.id > items[items.length - 1]!.id) {
      if (this.hasNewer) return false;
      items.push(row);
      return true;
    }
    let lo = 0;
    let hi = items.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (items[mid]!.id < m.id) lo = mid + 1;
      else hi = mid;
    }
    const at = items[lo];
    if (at && at.id === m.id) {
      at.status = maxStatus(at.status, status);
      return false;
    }
    // Before the window start while older ones are not loaded: a gap would form; the next page brings it.
    if (lo === 0 && this.hasOlder) return false;
    items.splice(lo, 0, row);
    return true;
  }

  private effectiveStatus(m: Message): MessageStatus {
    if (m.sender !== this.me) return m.status;
    let s = m.status;
    if (m.id <= this.marks.delivered) s = maxStatus(s, 'delivered');
    if (m.id <= this.marks.read) s = maxStatus(s, 'read');
    return s;
  }

  /** Applies `message_status`: every own message with id ≤ `id` reaches at least `status`. */
  applyStatus(id: number, status: MessageStatus): void {
    if (status === 'sent') return;
    const mark = status === 'read' ? 'read' : 'delivered';
    if (this.marks[mark] >= id) return;
    this.marks[mark] = id;
    if (mark === 'read' && this.marks.delivered < id) this.marks.delivered = id;
    let changed = false;
    for (let i = this.items.length - 1; i >= 0; i--) {
      const r = this.items[i]!;
      if (r.id > id || r.sender !== this.me) continue;
      if (maxStatus(r.status, status) === r.status) {
        // Marks only move forward, so everything older already has this status.
        break;
      }
      r.status = status;
      changed = true;
    }
    if (changed) this.version++;
  }

  addPending(row: Row): void {
    this.pending.push(row);
    this.version++;
  }

  setPendingState(clientId: string, state: PendingState, error?: string): Row | undefined {
    const row = this.pending.find((p) => p.clientId === clientId);
    if (!row) return undefined;
    row.pending = state;
    row.error = error;
    this.version++;
    return row;
  }

  /** Drops the rows at the end away from the reader so the window stays bounded. */
  trim(readerAtEnd: boolean): void {
    const n = this.items.length;
    if (readerAtEnd) {
      if (n > SOFT_LIMIT) {
        this.items.splice(0, n - SOFT_LIMIT);
        this.hasOlder = true;
        this.version++;
      }
    } else if (n > HARD_LIMIT) {
      this.items.splice(HARD_LIMIT);
      this.hasNewer = true;
      this.version++;
    }
  }

  /** Drops messages after `id` and records that newer ones exist on the server. */
  cutAfter(id: number): void {
    let n = this.items.length;
    while (n > 0 && this.items[n - 1]!.id > id) n--;
    this.items.length = n;
    this.hasNewer = true;
    this.version++;
  }

  /** Others' messages after `readId` among those held (the unread count when the live end is held). */
  unreadAfter(readId: number): number {
    let n = 0;
    for (let i = this.items.length - 1; i >= 0; i--) {
      const r = this.items[i]!;
      if (r.id <= readId) break;
      if (r.sender !== this.me) n++;
    }
    return n;
  }

  /** Highest id of a message by someone else at or before index `index` of {@link rows}. */
  lastOthersIdUpTo(index: number): number {
    for (let i = Math.min(index, this.items.length - 1); i >= 0; i--) {
      const r = this.items[i]!;
      if (r.sender !== this.me) return r.id;
    }
    return 0;
  }
}
