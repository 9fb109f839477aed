/** Live progress of a running scenario, polled by the progress bar. */
export interface Live {
  /** What it is doing now: connecting, warm-up, saturate, draining, ... */
  phase: string;
  done: number;
  total: number;
  /** A short running figure, e.g. "12034 delivered". */
  note?: string;
}

export function newLive(): Live {
  return { phase: 'starting', done: 0, total: 1 };
}

/** Starts a new phase: resets the counter; `total` when the phase has a known size. */
export function setPhase(live: Live | undefined, phase: string, total?: number, note?: string): void {
  if (!live) return;
  live.phase = phase;
  live.done = 0;
  if (total !== undefined) live.total = total;
  live.note = note;
}
