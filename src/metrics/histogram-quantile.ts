/**
 * The q-quantile of a histogram from its bucket counts, the way Prometheus'
 * `histogram_quantile()` computes it, so the JSON stats routes and a PromQL panel agree:
 * the first bucket whose cumulative count reaches q × total holds the quantile, and it is
 * interpolated linearly inside that bucket (from the bucket below's bound, or 0, to its
 * own bound). A quantile that falls in the +Inf bucket is the highest finite bound, as in
 * Prometheus. The console (console/console.js) does the same over a window, from the
 * differences of two snapshots' counts.
 *
 * `bounds`: the finite upper bounds, ascending (seconds). `cumulative`: one count per
 * bound, then the +Inf count (the total), each counting observations ≤ its bound.
 * Returns null when the histogram is empty.
 */
export function histogramQuantile(
  q: number,
  bounds: readonly number[],
  cumulative: ArrayLike<number>,
): number | null {
  const total = cumulative[bounds.length];
  if (!(total > 0)) return null;
  const rank = q * total;
  let below = 0;
  for (let i = 0; i < bounds.length; i++) {
    const upTo = cumulative[i];
    if (upTo >= rank) {
      const lower = i === 0 ? 0 : bounds[i - 1];
      const inBucket = upTo - below;
      return inBucket === 0 ? bounds[i] : lower + (bounds[i] - lower) * ((rank - below) / inBucket);
    }
    below = upTo;
  }
  return bounds.length === 0 ? null : bounds[bounds.length - 1];
}

/** Non-cumulative counts (HistogramChild.counts: one slot per bound, then +Inf) summed up, Prometheus' `le` form. */
export function cumulativeCounts(counts: ArrayLike<number>): number[] {
  const out: number[] = new Array(counts.length);
  let sum = 0;
  for (let i = 0; i < counts.length; i++) {
    sum += counts[i];
    out[i] = sum;
  }
  return out;
}
