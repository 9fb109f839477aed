/** One WebSocket as the gateway keeps it (uWS user data), and the frames written to it. */
import type { WebSocket } from 'uWebSockets.js';

/** One WebSocket text frame: a JSON event, as a string or as its UTF-8 bytes (shared by many sockets). */
export type Frame = string | Buffer;

/** Per-socket state (uWS user data). */
export interface Conn {
  id: string;
  login: string;
  tokenHash: string;
  /** What the socket follows: one dialog, one group, or all the user's chats. */
  kind: 'dialog' | 'group' | 'all';
  chatId: string | null;
  peer: string | null;
  cursors: Map<string, number>;
  /** Frames held back per chat until the gap before them closes (created on first use: most sockets never need it). */
  holdback: Map<string, Map<number, Frame>> | null;
  /** Chats whose gap is being repaired from history (created on first use). */
  repairing: Set<string> | null;
  ws: WebSocket<Conn> | null;
  closed: boolean;
  errors: number;
  errorWindowStart: number;
  /** Last typing event forwarded per chat (created on first use). */
  typingAt: Map<string, number> | null;
  /** Frames queued for this socket during the current batch (null when none). */
  outbox: Frame[] | null;
  /**
   * Settles when the sends of this socket that wait for the rate limiter have been handed on (null when
   * none waits): later sends queue behind it, so the chat stores a socket's messages in the order sent.
   */
  sendGate: Promise<void> | null;
}

/** A socket's state before it follows anything (no chat, no cursors, not yet open). */
export function newConn(id: string, login: string, tokenHash: string, kind: Conn['kind']): Conn {
  return {
    id,
    login,
    tokenHash,
    kind,
    chatId: null,
    peer: null,
    cursors: new Map(),
    holdback: null,
    repairing: null,
    ws: null,
    closed: false,
    errors: 0,
    errorWindowStart: Date.now(),
    typingAt: null,
    outbox: null,
    sendGate: null,
  };
}
