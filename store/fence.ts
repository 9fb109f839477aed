/**
 * Fencing tokens for chat writers (DESIGN.md invariant 3). A lease in Redis
 * decides who should write a chat; the fence in the store makes sure a writer
 * that lost its lease without knowing (a paused process, a partition, a clock
 * that jumped) cannot change the chat any more. Each `claim` raises the chat's
 * fence in the store itself; writes carry the fence their writer claimed, and
 * the store refuses or outranks any write under an older one.
 */
import type { ChatState } from './types.js';

/**
 * What `MessageStore.claim` returns per chat: the writer's handle, passed back
 * with each of its writes. Adapters may keep their own bookkeeping on it.
 */
export interface Claim {
  /** The chat's new fence: higher than every fence claimed before, by any process. */
  fence: number;
  /** The chat's state as of the claim (no write under an older fence can change it afterwards); null when it has no messages. */
  state: ChatState | null;
}

/** A write refused because the chat was claimed again since the writer's claim. */
export class FencedError extends Error {
  readonly code = 'fenced';
  constructor(
    readonly chatId: string,
    detail = 'the chat was claimed by a newer writer',
  ) {
    super(`chat ${chatId}: ${detail}`);
    this.name = 'FencedError';
  }
}

/**
 * Rejection of an `append` that wrote some chats of the call but not others:
 * `chats` maps each chat that was not written to why. Every chat of the call
 * that it does not name was written durably.
 */
export class ChatWriteError extends Error {
  constructor(readonly chats: ReadonlyMap<string, Error>) {
    const [first] = chats.values();
    super(`append: ${chats.size} chat(s) not written${first ? ` (${first.message})` : ''}`);
    this.name = 'ChatWriteError';
  }
}
