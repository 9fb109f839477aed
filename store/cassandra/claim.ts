/**
 * The Cassandra adapter's claims (store/fence.ts): the fence a writer holds,
 * the committed last id it knows, and the write timestamps of its rows. See
 * message-store.cassandra.ts for how they fence a stale writer.
 */
import { types } from 'cassandra-driver';
import { FencedError, type Claim } from '../fence.js';
import type { ChatState } from '../types.js';

/** Fenced write timestamps start here, above any wall-clock microsecond timestamp (see the header). */
export const FENCED_TIMESTAMP_BASE = types.Long.ONE.shiftLeft(61);

/** The adapter's side of a claim: the committed last id it knows, and the write sequence for timestamps. */
export class CassandraClaim implements Claim {
  /** Raised by each write under this claim; the low 32 bits of its write timestamps. */
  private seq = 0;
  /** Set when an append under this claim failed: its last id is no longer certain. */
  broken = false;

  constructor(
    readonly chatId: string,
    readonly fence: number,
    readonly state: ChatState | null,
    /** The chat's committed last id as this writer knows it. */
    public lastId: number,
  ) {
    if (!Number.isSafeInteger(fence) || fence < 1 || fence >= 2 ** 29) {
      throw new Error(`cassandra store: fence ${fence} of chat ${chatId} is out of range`);
    }
  }

  /** The next write timestamp: the fence above the sequence, so any newer claim's writes outrank these. */
  nextTimestamp(): types.Long {
    this.seq++;
    if (this.seq >= 2 ** 32) {
      throw new FencedError(this.chatId, 'claim exhausted its write sequence; claim again');
    }
    return FENCED_TIMESTAMP_BASE.add(types.Long.fromNumber(this.fence).shiftLeft(32)).add(
      types.Long.fromNumber(this.seq),
    );
  }
}

export function isCassandraClaim(claim: Claim | undefined): claim is CassandraClaim {
  return claim instanceof CassandraClaim;
}
