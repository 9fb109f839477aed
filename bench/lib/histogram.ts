/**
 * A small log-linear latency histogram in the style of HdrHistogram.
 *
 * Values are non-negative integers in microseconds. Values below 256 are
 * counted exactly; above, every power-of-two range is split into 128 linear
 * sub-buckets, so a reported value is never more than 1/128 (< 0.8 %) above
 * the true one. Recording is O(1) and allocation-free; the whole histogram is
 * a few thousand counters, cheap to merge and to send between processes.
 */

const SUB_BITS = 7;
const SUB = 1 << SUB_BITS; // 128 sub-buckets per power of two
const EXACT = SUB * 2; // values below 256 get their own bucket
const MAX_EXPONENT = 40; // ~12.7 days in microseconds; larger values are clamped
const BUCKETS = EXACT + MAX_EXPONENT * SUB;

/** Index of the bucket holding `v` (an integer >= 0). */
export function bucketIndex(v: number): number {
  if (v < EXACT) return v;
  // s = number of low bits dropped so that the mantissa has 8 bits (128..255).
  let s: number;
  if (v < 2 ** 32) {
    s = 32 - Math.clz32(v) - (SUB_BITS + 1);
  } else {
    s = 32 - (SUB_BITS + 1);
    while (Math.floor(v / 2 ** s) >= EXACT) s += 1;
  }
  if (s > MAX_EXPONENT) return BUCKETS - 1;
  const mantissa = Math.floor(v / 2 ** s);
  return EXACT + (s - 1) * SUB + (mantissa - SUB);
}

/** Smallest value that falls in bucket `i`. */
export function bucketLow(i: number): number {
  if (i < EXACT) return i;
  const s = Math.floor((i - EXACT) / SUB) + 1;
  const mantissa = ((i - EXACT) % SUB) + SUB;
  return mantissa * 2 ** s;
}

/** Largest value that falls in bucket `i` ("highest equivalent value"). */
export function bucketHigh(i: number): number {
  if (i < EXACT) return i;
  const s = Math.floor((i - EXACT) / SUB) + 1;
  return bucketLow(i) + 2 ** s - 1;
}

/** Serializable form: sparse [bucket, count] pairs plus exact summary fields. */
export interface HistogramJSON {
  buckets: [number, number][];
  count: number;
  min: number;
  max: number;
  sum: number;
}

/** One point of a percentile distribution ("latency by percentile" plot). */
export interface PercentilePoint {
  percentile: number;
  valueUs: number;
}

export class Histogram {
  private readonly counts = new Float64Array(BUCKETS);
  count = 0;
  min = Number.POSITIVE_INFINITY;
  max = 0;
  sum = 0;

  /** Records `value` microseconds (rounded, negatives clamped to 0) `n` times. */
  record(valueUs: number, n = 1): void {
    const v = valueUs > 0 ? Math.round(valueUs) : 0;
    this.counts[bucketIndex(v)]! += n;
    this.count += n;
    this.sum += v * n;
    if (v < this.min) this.min = v;
    if (v > this.max) this.max = v;
  }

  /** Records a duration given in milliseconds (performance.now() differences). */
  recordMs(ms: number): void {
    this.record(ms * 1000);
  }

  /** Adds every count of `other` into this histogram. */
  merge(other: Histogram): this {
    for (let i = 0; i < BUCKETS; i++) {
      const c = other.counts[i]!;
      if (c !== 0) this.counts[i]! += c;
    }
    this.count += other.count;
    this.sum += other.sum;
    if (other.count > 0) {
      if (other.min < this.min) this.min = other.min;
      if (other.max > this.max) this.max = other.max;
    }
    return this;
  }

  /** Mean in microseconds (exact), 0 when empty. */
  mean(): number {
    return this.count === 0 ? 0 : this.sum / this.count;
  }

  /**
   * The value at percentile `p` (0–100) in microseconds: the highest value
   * equivalent to the bucket that holds the ceil(p% × count)-th smallest
   * sample, clamped to the exact recorded min/max; p = 0 is the exact min.
   * 0 when empty.
   */
  percentile(p: number): number {
    if (this.count === 0) return 0;
    if (p <= 0) return this.min;
    const rank = Math.max(1, Math.ceil((Math.min(100, Math.max(0, p)) / 100) * this.count));
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.counts[i]!;
      if (seen >= rank) return Math.min(this.max, Math.max(this.min, bucketHigh(i)));
    }
    return this.max;
  }

  /** Percentile in milliseconds. */
  percentileMs(p: number): number {
    return this.percentile(p) / 1000;
  }

  /**
   * HdrHistogram-style percentile distribution: points at percentiles that
   * halve the remaining distance to 100 (0, 50, 75, 87.5, ...), `ticksPerHalf`
   * points per halving, up to the last recorded value. Used for the
   * "latency by percentile" chart.
   */
  distribution(ticksPerHalf = 4): PercentilePoint[] {
    if (this.count === 0) return [];
    const points: PercentilePoint[] = [];
    const maxHalvings = Math.max(1, Math.ceil(Math.log2(this.count)) + 1);
    for (let h = 0; h < maxHalvings; h++) {
      const lo = 100 - 100 / 2 ** h;
      const hi = 100 - 100 / 2 ** (h + 1);
      for (let t = 0; t < ticksPerHalf; t++) {
        const p = lo + ((hi - lo) * t) / ticksPerHalf;
        points.push({ percentile: p, valueUs: this.percentile(p) });
      }
    }
    points.push({ percentile: 100, valueUs: this.max });
    return points;
  }

  /** A compact summary in milliseconds for reports. */
  summary(): LatencySummary {
    return {
      count: this.count,
      minMs: this.count === 0 ? 0 : this.min / 1000,
      meanMs: this.mean() / 1000,
      p50Ms: this.percentileMs(50),
      p90Ms: this.percentileMs(90),
      p95Ms: this.percentileMs(95),
      p99Ms: this.percentileMs(99),
      p999Ms: this.percentileMs(99.9),
      maxMs: this.max / 1000,
    };
  }

  toJSON(): HistogramJSON {
    const buckets: [number, number][] = [];
    for (let i = 0; i < BUCKETS; i++) {
      const c = this.counts[i]!;
      if (c !== 0) buckets.push([i, c]);
    }
    return { buckets, count: this.count, min: this.count === 0 ? 0 : this.min, max: this.max, sum: this.sum };
  }

  static fromJSON(json: HistogramJSON): Histogram {
    const h = new Histogram();
    for (const [i, c] of json.buckets) {
      if (i < 0 || i >= BUCKETS) throw new Error(`histogram bucket ${i} out of range`);
      h.counts[i] = c;
    }
    h.count = json.count;
    h.sum = json.sum;
    h.max = json.max;
    h.min = json.count === 0 ? Number.POSITIVE_INFINITY : json.min;
    return h;
  }
}

/** Latency percentiles in milliseconds. */
export interface LatencySummary {
  count: number;
  minMs: number;
  meanMs: number;
  p50Ms: number;
  p90Ms: number;
  p95Ms: number;
  p99Ms: number;
  p999Ms: number;
  maxMs: number;
}
