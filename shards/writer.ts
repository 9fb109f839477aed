/**
 * Group commit for the whole shard: messages and marks queued by any actor
 * while the previous write was in flight (or during one turn of the event loop
 * when idle) are written with one `append` and one `saveMarksBatch`, issued
 * together (the SQLite store commits both in one transaction), then every
 * waiter is resolved in queue order. Under load batches grow by themselves,
 * so throughput rises without adding latency when idle.
 */
import {
  ChatWriteError,
  FencedError,
  type Claim,
  type Marks,
  type Store,
  type StoredMessage,
} from '../store/index.js';
import { SerialTurn } from '../common/turn.js';

interface PendingMessage {
  message: StoredMessage;
  /** The claim of the actor that wrote it (store fencing). */
  claim: Claim | undefined;
  /** Still true when the write may go ahead (the actor did not lose its lease or break meanwhile). */
  valid: () => boolean;
  resolve: () => void;
  reject: (err: unknown) => void;
}

interface PendingMarks {
  marks: Map<string, Marks>;
  claim: Claim | undefined;
  waiters: { resolve: () => void; reject: (err: unknown) => void }[];
}

export class GroupWriter {
  private messages: PendingMessage[] = [];
  private marks = new Map<string, PendingMarks>();
  /** Waits for the write in flight, then takes everything queued meanwhile. */
  private readonly turn = new SerialTurn(() => this.flush());

  constructor(private readonly store: Store) {}

  /**
   * Resolves once the message is durable; rejects if its chat's write failed, its claim was fenced, or
   * `valid()` turned false before writing.
   */
  append(message: StoredMessage, valid: () => boolean, claim?: Claim): Promise<void> {
    return new Promise((resolve, reject) => {
      this.messages.push({ message, claim, valid, resolve, reject });
      this.turn.schedule();
    });
  }

  /** Raises marks (merged with other pending raises of the same chat and user); resolves once durable. */
  saveMarks(chatId: string, marks: Marks, claim?: Claim): Promise<void> {
    return new Promise((resolve, reject) => {
      let pending = this.marks.get(chatId);
      if (!pending) {
        pending = { marks: new Map(), claim, waiters: [] };
        this.marks.set(chatId, pending);
      }
      // The newest claim of the chat: an older one's raise is still safe under it (marks only rise).
      if (claim && (!pending.claim || claim.fence > pending.claim.fence)) pending.claim = claim;
      const prev = pending.marks.get(marks.login);
      pending.marks.set(
        marks.login,
        prev
          ? {
              login: marks.login,
              deliveredId: Math.max(prev.deliveredId, marks.deliveredId),
              readId: Math.max(prev.readId, marks.readId),
            }
          : { ...marks },
      );
      pending.waiters.push({ resolve, reject });
      this.turn.schedule();
    });
  }

  /** Resolves when everything queued so far has been written (or failed). */
  drain(): Promise<void> {
    return this.turn.drain(() => this.messages.length > 0 || this.marks.size > 0);
  }

  private async flush(): Promise<void> {
    const messages = this.messages;
    const marks = this.marks;
    this.messages = [];
    this.marks = new Map();

    const writable: PendingMessage[] = [];
    const claims = new Map<string, Claim>();
    for (const pending of messages) {
      if (!pending.valid()) {
        pending.reject(new Error('write no longer allowed'));
        continue;
      }
      const { chatId } = pending.message;
      const claim = pending.claim;
      const other = claims.get(chatId);
      if (claim && other && other !== claim) {
        // Two actors of one chat in one batch: only the newer claim may write.
        if (claim.fence < other.fence) {
          pending.reject(new FencedError(chatId));
          continue;
        }
        for (const p of writable) if (p.message.chatId === chatId) p.reject(new FencedError(chatId));
        writable.splice(0, writable.length, ...writable.filter((p) => p.message.chatId !== chatId));
      }
      if (claim) claims.set(chatId, claim);
      writable.push(pending);
    }
    // Issued together: the SQLite writer thread commits both in one transaction (one fsync).
    const waiters = [...marks.values()].flatMap((p) => p.waiters);
    await Promise.all([
      writable.length === 0
        ? undefined
        : this.store.messages
            .append(
              writable.map((p) => p.message),
              claims,
            )
            .then(
              () => {
                for (const p of writable) p.resolve();
              },
              (err: unknown) => {
                // Chats the store did not name were written.
                const failed = err instanceof ChatWriteError ? err.chats : null;
                for (const p of writable) {
                  if (!failed) p.reject(err);
                  else {
                    const reason = failed.get(p.message.chatId);
                    if (reason) p.reject(reason);
                    else p.resolve();
                  }
                }
              },
            ),
      marks.size === 0
        ? undefined
        : this.store.messages
            .saveMarksBatch(
              [...marks].map(([chatId, pending]) => ({
                chatId,
                marks: [...pending.marks.values()],
                ...(pending.claim ? { claim: pending.claim } : {}),
              })),
            )
            .then(
              () => {
                for (const w of waiters) w.resolve();
              },
              (err: unknown) => {
                for (const w of waiters) w.reject(err);
              },
            ),
    ]);
  }
}
