/**
 * Open-loop send schedule for fixed-rate load.
 *
 * Message k (0-based, across all senders) is due at `start + k * 1000 / rate`
 * milliseconds and belongs to sender `k % senders`, so every sender runs at
 * rate/senders with evenly spread phases. The driver never waits for replies:
 * if the system (or the generator itself) falls behind, messages are sent late
 * and their latency is still measured from the scheduled time, which is what
 * avoids coordinated omission.
 */

export class OpenLoopSchedule {
  readonly intervalMs: number;

  /**
   * @param ratePerSec total messages per second across all senders
   * @param startMs    scheduled time of message 0 (same clock as `now` passed later)
   * @param durationMs messages are scheduled in [start, start + duration)
   */
  constructor(
    readonly ratePerSec: number,
    readonly startMs: number,
    readonly durationMs: number,
  ) {
    if (!(ratePerSec > 0)) throw new Error('rate must be > 0');
    this.intervalMs = 1000 / ratePerSec;
  }

  /** Total number of messages in the schedule. */
  get total(): number {
    return Math.ceil((this.durationMs * this.ratePerSec) / 1000);
  }

  /** Scheduled send time of message `k`. */
  timeOf(k: number): number {
    return this.startMs + k * this.intervalMs;
  }

  /** How many messages are due by `nowMs` (i.e. k with timeOf(k) <= now), capped by the total. */
  dueBy(nowMs: number): number {
    if (nowMs < this.startMs) return 0;
    const n = Math.floor((nowMs - this.startMs) / this.intervalMs) + 1;
    return Math.min(n, this.total);
  }

  /** Sender that owns message `k`. */
  static senderOf(k: number, senders: number): number {
    return k % senders;
  }
}

/** The clock the drivers use: monotonic milliseconds. */
export type Clock = () => number;

export interface DriveOptions {
  /** Called once per due message, in order, with its scheduled time. */
  send: (k: number, scheduledMs: number) => void;
  clock: Clock;
  /** Stops early (remaining messages are not sent). */
  signal?: AbortSignal;
  /** Largest sleep between checks; keeps the loop responsive. @default 5 */
  maxSleepMs?: number;
}

/** Statistics of one schedule run: how late the generator itself was. */
export interface DriveResult {
  sent: number;
  /** Largest (actual send time − scheduled time) in ms: the generator's own lag. */
  maxLagMs: number;
}

/**
 * Sends every message of `schedule` at (or as soon as possible after) its
 * scheduled time, sleeping with timers in between. Resolves once all are sent.
 */
export function driveSchedule(schedule: OpenLoopSchedule, opts: DriveOptions): Promise<DriveResult> {
  const maxSleep = opts.maxSleepMs ?? 5;
  let next = 0;
  let maxLagMs = 0;
  return new Promise((resolve) => {
    const tick = (): void => {
      const now = opts.clock();
      const due = opts.signal?.aborted ? next : schedule.dueBy(now);
      for (; next < due; next++) {
        const at = schedule.timeOf(next);
        const lag = now - at;
        if (lag > maxLagMs) maxLagMs = lag;
        opts.send(next, at);
      }
      if (next >= schedule.total || opts.signal?.aborted) {
        resolve({ sent: next, maxLagMs });
        return;
      }
      const wait = Math.min(maxSleep, Math.max(0, schedule.timeOf(next) - opts.clock()));
      setTimeout(tick, wait);
    };
    tick();
  });
}

/**
 * Milliseconds since the epoch with sub-millisecond resolution, monotonic
 * within a process and comparable across processes on one machine.
 */
export const nowMs: Clock = () => performance.timeOrigin + performance.now();
