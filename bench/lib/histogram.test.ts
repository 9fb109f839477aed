import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Histogram, bucketHigh, bucketIndex, bucketLow } from './histogram.js';

function exactPercentile(sorted: number[], p: number): number {
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[rank - 1]!;
}

test('every value lies inside its bucket and buckets are contiguous', () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 2 ** 45 }), (v) => {
      const i = bucketIndex(v);
      if (v < 2 ** 47) {
        assert.ok(bucketLow(i) <= v && v <= bucketHigh(i), `${v} not in bucket ${i}`);
      }
    }),
  );
  for (let i = 0; i < 2000; i++) assert.equal(bucketHigh(i) + 1, bucketLow(i + 1));
});

test('values below 256 are exact, larger ones within 1/128', () => {
  for (let v = 0; v < 256; v++) assert.equal(bucketHigh(bucketIndex(v)), v);
  fc.assert(
    fc.property(fc.integer({ min: 256, max: 2 ** 40 }), (v) => {
      const hi = bucketHigh(bucketIndex(v));
      assert.ok(hi >= v && (hi - v) / v <= 1 / 128, `${v} -> ${hi}`);
    }),
  );
});

test('percentiles match the exact order statistic within the bucket precision', () => {
  fc.assert(
    fc.property(
      fc.array(fc.integer({ min: 0, max: 10_000_000 }), { minLength: 1, maxLength: 500 }),
      fc.double({ min: 0, max: 100, noNaN: true }),
      (values, p) => {
        const h = new Histogram();
        for (const v of values) h.record(v);
        const sorted = [...values].sort((a, b) => a - b);
        const exact = exactPercentile(sorted, p);
        const got = h.percentile(p);
        assert.ok(got >= exact, `p${p}: ${got} < ${exact}`);
        assert.ok(got - exact <= Math.max(0, exact / 128), `p${p}: ${got} too far from ${exact}`);
        assert.equal(h.percentile(100), sorted[sorted.length - 1]);
        assert.equal(h.percentile(0), sorted[0]);
      },
    ),
  );
});

test('summary fields are exact for count, min, max and mean', () => {
  const h = new Histogram();
  for (const v of [1000, 2000, 3000, 250_000]) h.record(v);
  const s = h.summary();
  assert.equal(s.count, 4);
  assert.equal(s.minMs, 1);
  assert.equal(s.maxMs, 250);
  assert.equal(s.meanMs, 64);
  h.recordMs(0.5);
  assert.equal(h.min, 500);
});

test('merge equals recording everything into one histogram', () => {
  fc.assert(
    fc.property(
      fc.array(fc.integer({ min: 0, max: 1e9 })),
      fc.array(fc.integer({ min: 0, max: 1e9 })),
      (a, b) => {
        const ha = new Histogram();
        const hb = new Histogram();
        const all = new Histogram();
        a.forEach((v) => (ha.record(v), all.record(v)));
        b.forEach((v) => (hb.record(v), all.record(v)));
        ha.merge(hb);
        assert.deepEqual(ha.toJSON(), all.toJSON());
      },
    ),
  );
});

test('JSON round trip keeps every count', () => {
  const h = new Histogram();
  for (let i = 0; i < 1000; i++) h.record(i * 37 + (i % 7) * 100_000);
  const back = Histogram.fromJSON(JSON.parse(JSON.stringify(h.toJSON())));
  assert.deepEqual(back.toJSON(), h.toJSON());
  assert.equal(back.percentile(99), h.percentile(99));
  assert.equal(Histogram.fromJSON(new Histogram().toJSON()).percentile(50), 0);
});

test('negative and fractional values are clamped and rounded', () => {
  const h = new Histogram();
  h.record(-5);
  h.record(1.6);
  assert.equal(h.min, 0);
  assert.equal(h.max, 2);
});

test('distribution rises monotonically and ends at the max', () => {
  const h = new Histogram();
  for (let i = 1; i <= 10_000; i++) h.record(i);
  const d = h.distribution();
  for (let i = 1; i < d.length; i++) {
    assert.ok(d[i]!.percentile >= d[i - 1]!.percentile);
    assert.ok(d[i]!.valueUs >= d[i - 1]!.valueUs);
  }
  assert.deepEqual(d[d.length - 1], { percentile: 100, valueUs: 10_000 });
  assert.deepEqual(new Histogram().distribution(), []);
});
