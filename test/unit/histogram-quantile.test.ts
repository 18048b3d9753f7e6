import { describe, expect, it } from 'vitest';
import { HistogramChild } from '../../src/metrics/families.js';
import { cumulativeCounts, histogramQuantile } from '../../src/metrics/histogram-quantile.js';

const BOUNDS = [0.005, 0.01, 0.025, 0.05, 0.1];

/** The cumulative `le` counts of these observations (seconds). */
function observed(...seconds: number[]): number[] {
  const h = new HistogramChild({}, BOUNDS);
  for (const s of seconds) h.observe(s);
  return cumulativeCounts(h.counts);
}

describe('histogramQuantile (as Prometheus histogram_quantile interpolates)', () => {
  it('is null for an empty histogram', () => {
    expect(histogramQuantile(0.99, BOUNDS, observed())).toBeNull();
  });

  it('interpolates linearly inside the bucket that holds the rank', () => {
    // 100 observations in (0.01, 0.025]: rank 99 of 100 → 0.01 + 0.015 × 0.99.
    const all = observed(...Array.from({ length: 100 }, () => 0.02));
    expect(histogramQuantile(0.99, BOUNDS, all)).toBeCloseTo(0.02485, 10);
    expect(histogramQuantile(0.5, BOUNDS, all)).toBeCloseTo(0.0175, 10);
  });

  it('starts the first bucket at 0', () => {
    expect(histogramQuantile(0.5, BOUNDS, observed(0.001, 0.002))).toBeCloseTo(0.0025, 10);
  });

  it('finds the bucket by the cumulative count', () => {
    // 98 fast, 2 slow in (0.05, 0.1]: rank 99 is the first slow one, halfway into its bucket.
    const counts = observed(...Array.from({ length: 98 }, () => 0.001), 0.07, 0.08);
    expect(histogramQuantile(0.99, BOUNDS, counts)).toBeCloseTo(0.075, 10);
    expect(histogramQuantile(0.5, BOUNDS, counts)).toBeLessThanOrEqual(0.005);
  });

  it('answers the highest finite bound when the rank is in +Inf', () => {
    expect(histogramQuantile(0.99, BOUNDS, observed(3, 4))).toBe(0.1);
  });

  it('cumulativeCounts sums the per-bucket slots into le counts, +Inf last', () => {
    expect(cumulativeCounts([1, 0, 2, 0, 0, 3])).toEqual([1, 1, 3, 3, 3, 6]);
    expect(observed(0.001, 0.02, 7)).toEqual([1, 1, 2, 2, 2, 3]);
  });
});
