/**
 * Event counts per fixed time slot (throughput over time), relative to a start.
 * Slots grow on demand; events before the start are ignored.
 */
export class Timeline {
  private slots: number[] = [];

  constructor(
    readonly startMs: number,
    readonly slotMs = 1000,
  ) {}

  add(nowMs: number, n = 1): void {
    const i = Math.floor((nowMs - this.startMs) / this.slotMs);
    if (i < 0) return;
    while (this.slots.length <= i) this.slots.push(0);
    this.slots[i]! += n;
  }

  /** Counts per slot. */
  counts(): number[] {
    return [...this.slots];
  }

  /** Events per second for each slot. */
  rates(): number[] {
    return this.slots.map((c) => (c * 1000) / this.slotMs);
  }

  /** Element-wise sum of several timelines' counts (same slot size). */
  static sumCounts(all: number[][]): number[] {
    const out: number[] = [];
    for (const counts of all) {
      counts.forEach((c, i) => {
        out[i] = (out[i] ?? 0) + c;
      });
    }
    return out;
  }
}
