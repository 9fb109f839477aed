import type { Claim } from './fence.js';
import type { ChatState, HistoryQuery, Marks, StoredMessage } from './types.js';

/**
 * Chat history, per-chat state and per-user marks. Only the chat's owning
 * actor writes a chat, so adapters need no cross-writer locking; they must
 * make each `append` durable before resolving (the sender is acknowledged
 * right after).
 */
/** The marks of one chat to raise, with the claim of the chat's writer (see `append`). */
export interface MarksWrite {
  chatId: string;
  marks: readonly Marks[];
  claim?: Claim;
}

export interface MessageStore {
  /**
   * Makes the caller the one writer of each chat (call it after taking the
   * chat's lease, before trusting anything read from the store): raises the
   * chat's fence above every fence claimed before, by any process, and returns
   * it with the chat's state as of the claim. From then on every write of the
   * chat made under an older fence is refused (appends) or outranked (marks),
   * so a previous owner that was paused or cut off cannot change the chat
   * behind the new one's back, whatever the clocks say.
   */
  claim(chatIds: readonly string[]): Promise<Map<string, Claim>>;
  /**
   * Durably appends messages (possibly of several chats; ids given by the
   * caller, increasing per chat) and advances each chat's state to its newest
   * message. `claims` gives, per chat, the claim its writer holds: a chat
   * whose fence has been raised since is refused as a whole with a
   * `FencedError` and left untouched, and so is every later append under a
   * claim whose append failed (its writer must claim again). A chat missing
   * from `claims` is claimed by this store instance on its first write (tools
   * and tests; the shard always claims). Writing an id that already exists in the chat fails and
   * changes nothing in that chat. When some chats of the call are written and
   * others not, the call rejects with a `ChatWriteError` naming the chats not
   * written; adapters never reorder ids within a chat.
   * A dialog's first message also indexes the dialog for both participants
   * (see `dialogsOfUser`).
   */
  append(messages: readonly StoredMessage[], claims?: ReadonlyMap<string, Claim>): Promise<void>;
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
   * kept ≤ deliveredId by raising deliveredId. Never lowers anything, also
   * when a writer under an older claim writes after a newer one (`claim` as
   * in `append`).
   */
  saveMarks(chatId: string, marks: readonly Marks[], claim?: Claim): Promise<void>;
  /**
   * `saveMarks` for several chats in one durable write where the backend can
   * (one transaction in SQLite): the shard's group commit saves every mark
   * raised during a tick with one call.
   */
  saveMarksBatch(batch: readonly MarksWrite[]): Promise<void>;
  /** Dialog chat ids that have at least one message and include the login. */
  dialogsOfUser(login: string): Promise<string[]>;
}
