/** Records shared by the store ports. Times are milliseconds since the epoch. */

export interface UserProfile {
  /** Canonical lower-case login, 3–32 chars of [a-z0-9_.-]. */
  login: string;
  username: string;
}

export interface UserRecord extends UserProfile {
  /** argon2id PHC string. */
  passwordHash: string;
  createdAt: number;
}

export interface StoredMessage {
  chatId: string;
  /** Positive, dense and strictly increasing within the chat (1, 2, 3, ...). */
  id: number;
  sender: string;
  text: string;
  time: number;
  /** Client idempotency key, or null when the client sent none. */
  clientId: string | null;
}

export interface ChatState {
  chatId: string;
  /** Id of the newest message; 0 for a chat without messages. */
  lastId: number;
  lastText: string | null;
  lastSender: string | null;
  lastTime: number | null;
}

export interface Marks {
  login: string;
  /** Highest message id that reached one of the user's clients. */
  deliveredId: number;
  /** Highest message id the user read; never above deliveredId. */
  readId: number;
}

export type GroupRole = 'owner' | 'member';

export interface GroupRecord {
  /** Opaque URL-safe id; the chat id is `g:<id>`. */
  id: string;
  name: string;
  isPublic: boolean;
  owner: string;
  createdAt: number;
}

export interface GroupMemberRecord {
  login: string;
  role: GroupRole;
}

/** Paging of history; at most one of before/after is set. */
export interface HistoryQuery {
  /** Only ids below this. */
  before?: number;
  /** Only ids above this. */
  after?: number;
  limit: number;
}
