import { storeSeconds } from '../../common/metrics.js';

/** Runs a synchronous store operation, observing its duration in `gm_store_operation_duration_seconds{op}`. */
export type StoreTimer = <T>(fn: () => T) => T;

/** A timer bound to one `op` label (the histogram child is resolved once, not per call). */
export function storeTimer(op: string): StoreTimer {
  const histogram = storeSeconds.labels({ op });
  return <T>(fn: () => T): T => {
    const start = performance.now();
    try {
      return fn();
    } finally {
      histogram.observe((performance.now() - start) / 1000);
    }
  };
}
