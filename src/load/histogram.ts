/** Values below this are counted exactly (one bucket per microsecond). */
const LINEAR = 128;
/** Buckets per power of two above LINEAR: a relative error under 1/64 (~1.6 %). */
const SUB_BITS = 6;
const SUB = 1 << SUB_BITS;
const MAX_US = 2 ** 31 - 1;
const BUCKETS = (31 - SUB_BITS) * SUB + LINEAR;

/**
 * Latency histogram in microseconds with log-linear buckets (HDR-style, two significant
 * digits): fixed memory (~14 KB) however many samples, so a long run cannot grow it.
 */
export class LatencyHistogram {
  private readonly counts = new Float64Array(BUCKETS);
  count = 0;
  private sum = 0;
  private min = Number.POSITIVE_INFINITY;
  private max = 0;

  /** Records one latency in milliseconds. */
  record(ms: number): void {
    const us = Math.min(MAX_US, Math.max(0, Math.round(ms * 1000)));
    this.counts[bucketOf(us)]++;
    this.count++;
    this.sum += us;
    if (us < this.min) this.min = us;
    if (us > this.max) this.max = us;
  }

  /** The latency (ms) under which a fraction `q` (0–1) of samples fall; 0 when empty. */
  quantile(q: number): number {
    if (this.count === 0) return 0;
    if (q >= 1) return this.max / 1000;
    const rank = Math.max(1, Math.ceil(q * this.count));
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.counts[i];
      if (seen >= rank) return Math.min(this.max, Math.max(this.min, bucketValue(i))) / 1000;
    }
    return this.max / 1000;
  }

  get meanMs(): number {
    return this.count === 0 ? 0 : this.sum / this.count / 1000;
  }

  get maxMs(): number {
    return this.max / 1000;
  }

  reset(): void {
    this.counts.fill(0);
    this.count = 0;
    this.sum = 0;
    this.min = Number.POSITIVE_INFINITY;
    this.max = 0;
  }
}

function bucketOf(us: number): number {
  if (us < LINEAR) return us;
  const shift = 31 - Math.clz32(us) - SUB_BITS;
  return shift * SUB + (us >>> shift);
}

/** The middle of bucket `i`, in microseconds. */
function bucketValue(i: number): number {
  if (i < LINEAR) return i;
  const shift = Math.floor(i / SUB) - 1;
  const mantissa = i - shift * SUB;
  return mantissa * 2 ** shift + 2 ** (shift - 1);
}
