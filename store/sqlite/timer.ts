import { storeSeconds } from '../../common/metrics.js';

/**
 * Runs a synchronous store operation, observing its duration in `gm_store_operation_duration_seconds{op}`;
 * `observe` records a duration measured elsewhere (a commit on the writer thread).
 */
export interface StoreTimer {
  <T>(fn: () => T): T;
  observe(ms: number): void;
}

/** A timer bound to one `op` label (the histogram child is resolved once, not per call). */
export function storeTimer(op: string): StoreTimer {
  const histogram = storeSeconds.labels({ op });
  const timer = <T>(fn: () => T): T => {
    const start = performance.now();
    try {
      return fn();
    } finally {
      histogram.observe((performance.now() - start) / 1000);
    }
  };
  return Object.assign(timer, { observe: (ms: number) => histogram.observe(ms / 1000) });
}
