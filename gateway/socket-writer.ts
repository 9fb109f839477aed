/**
 * Corked write batching. Within a batch, frames are queued per socket and
 * each socket then gets all of its frames in one corked write: one syscall per
 * socket per batch instead of one per frame. `turn` keeps the batch open until
 * the end of the event-loop turn, so the sender's acks (gRPC replies) and
 * inbox deliveries (Redis reads) handled in one turn share each socket's
 * write. A socket's frames go out in the order they were written; closing a
 * socket (`end`) first sends what is queued for it. A client that cannot keep
 * up is dropped rather than buffered without bound.
 */
import type { WebSocket } from 'uWebSockets.js';
import type { Logger } from '../common/logger.js';
import { wsDropped } from '../common/metrics.js';
import { OneTurn } from '../common/turn.js';
import type { Conn, Frame } from './conn.js';

export class SocketWriter {
  private batching = false;
  /** Sockets with queued frames in the current batch, in the order of their first frame. */
  private queued: Conn[] = [];
  /** Ends the batch opened by `turn` at the end of the event-loop turn. */
  private readonly endOfTurn = new OneTurn(() => {
    this.batching = false;
    this.flushQueued();
  });

  constructor(private readonly logger: Logger) {}

  /** Sends a frame (queued until the end of the batch, if one runs). */
  write(conn: Conn, frame: Frame): void {
    if (conn.closed || !conn.ws) return;
    if (!this.batching) {
      this.sendNow(conn, conn.ws, frame);
      return;
    }
    if (conn.outbox) {
      conn.outbox.push(frame);
    } else {
      conn.outbox = [frame];
      this.queued.push(conn);
    }
  }

  /**
   * Runs `fn` with writes queued per socket, then sends each socket its frames
   * in order, corked into one write. Nested calls join the outer batch.
   */
  batch(fn: () => void): void {
    if (this.batching) {
      fn();
      return;
    }
    this.batching = true;
    try {
      fn();
    } finally {
      this.batching = false;
      this.flushQueued();
    }
  }

  /**
   * Runs `fn` with writes queued per socket until the end of this event-loop turn (setImmediate), joining
   * a batch already open. Frames written by other callbacks of the same turn join the same corked writes.
   */
  turn(fn: () => void): void {
    if (!this.batching) {
      this.batching = true;
      this.endOfTurn.schedule();
    }
    fn();
  }

  /** Closes a socket after sending the frames queued for it. */
  end(conn: Conn, code: number, reason: string): void {
    const ws = conn.ws;
    if (conn.closed || !ws) return;
    if (conn.outbox) this.flushOne(conn);
    if (conn.closed) return;
    conn.closed = true;
    ws.end(code, reason);
  }

  private flushQueued(): void {
    const conns = this.queued;
    this.queued = [];
    for (const conn of conns) this.flushOne(conn);
  }

  private flushOne(conn: Conn): void {
    try {
      this.flush(conn);
    } catch (err) {
      conn.outbox = null;
      this.logger.warn({ err, conn: conn.id }, 'socket write failed');
    }
  }

  private flush(conn: Conn): void {
    const frames = conn.outbox;
    // Already sent (a socket closed with `end` mid-batch).
    if (!frames) return;
    conn.outbox = null;
    const ws = conn.ws;
    if (conn.closed || !ws) return;
    if (frames.length === 1) {
      this.sendNow(conn, ws, frames[0]!);
      return;
    }
    let tooSlow = false;
    ws.cork(() => {
      for (const frame of frames) {
        // A failed write may close the socket under us.
        if (conn.closed) break;
        if (ws.send(frame, false) === 2) {
          tooSlow = true;
          break;
        }
      }
    });
    if (tooSlow) this.drop(conn, ws);
  }

  /** Sends a frame; a client that cannot keep up is dropped rather than buffered without bound. */
  private sendNow(conn: Conn, ws: WebSocket<Conn>, frame: Frame): void {
    if (ws.send(frame, false) === 2) this.drop(conn, ws);
  }

  private drop(conn: Conn, ws: WebSocket<Conn>): void {
    wsDropped.inc({ reason: 'backpressure' });
    conn.closed = true;
    ws.end(1013, 'client too slow');
  }
}
