import type { ChatState, HistoryQuery, Marks, StoredMessage } from './types.js';

/**
 * Chat history, per-chat state and per-user marks. Only the chat's owning
 * actor writes a chat, so adapters need no cross-writer locking; they must
 * make each `append` durable before resolving (the sender is acknowledged
 * right after).
 */
export interface MessageStore {
  /**
   * Durably appends messages (possibly of several chats; ids given by the
   * caller, increasing per chat) and advances each chat's state to its newest
   * message. Writing an id that already exists in the chat fails and rejects
   * (the fencing backstop for two writers); adapters may apply the batch
   * partially only per chat, never reorder ids within a chat.
   * A dialog's first message also indexes the dialog for both participants
   * (see `dialogsOfUser`).
   */
  append(messages: readonly StoredMessage[]): Promise<void>;
  /**
   * Messages of a chat in ascending id order: the newest `limit` below
   * `before` (or overall when neither bound is set), or the oldest `limit`
   * above `after`. Empty for an unknown chat.
   */
  history(chatId: string, query: HistoryQuery): Promise<StoredMessage[]>;
  /** The chat's state; a chat without messages has none (null). */
  chatStates(chatIds: readonly string[]): Promise<Map<string, ChatState>>;
  /** Marks of every user of a chat that has any (order unspecified). */
  marks(chatId: string): Promise<Marks[]>;
  /** Marks of one user in several chats; chats where the user has none are absent. */
  marksOfUser(login: string, chatIds: readonly string[]): Promise<Map<string, Marks>>;
  /**
   * Raises marks: each stored value becomes max(stored, given), and readId is
   * kept ≤ deliveredId by raising deliveredId. Never lowers anything.
   */
  saveMarks(chatId: string, marks: readonly Marks[]): Promise<void>;
  /**
   * `saveMarks` for several chats in one durable write where the backend can
   * (one transaction in SQLite): the shard's group commit saves every mark
   * raised during a tick with one call.
   */
  saveMarksBatch(batch: readonly { chatId: string; marks: readonly Marks[] }[]): Promise<void>;
  /** Dialog chat ids that have at least one message and include the login. */
  dialogsOfUser(login: string): Promise<string[]>;
}
