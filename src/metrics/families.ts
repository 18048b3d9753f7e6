/**
 * Counter and histogram families whose children are plain objects: the hot path does
 * `child.value += 1` or `child.observe(s)` with no label hashing, no validation and no
 * string building (prom-client hashes the label set on every call, even on a child).
 * The registry reads them at scrape time through `get()`, the shape prom-client expects.
 */

/** Prometheus' default buckets (client_golang DefBuckets), as the seed asks. */
export const DEFAULT_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10] as const;

interface MetricValue {
  labels: Record<string, string | number>;
  value: number;
  metricName?: string;
}

interface Snapshot {
  name: string;
  help: string;
  type: string;
  values: MetricValue[];
  aggregator: string;
}

export class CounterChild {
  value = 0;
  constructor(readonly labels: Record<string, string>) {}
  inc(n = 1): void {
    this.value += n;
  }
}

export class HistogramChild {
  /** counts[i] = observations ≤ bounds[i] (non-cumulative); the last slot is +Inf. */
  readonly counts: Float64Array;
  sum = 0;
  count = 0;
  constructor(
    readonly labels: Record<string, string>,
    private readonly bounds: readonly number[],
  ) {
    this.counts = new Float64Array(bounds.length + 1);
  }
  /** `times` observations of the same value (a batch that took `seconds` for each of its items). */
  observe(seconds: number, times = 1): void {
    const bounds = this.bounds;
    let i = 0;
    while (i < bounds.length && seconds > bounds[i]) i++;
    this.counts[i] += times;
    this.sum += seconds * times;
    this.count += times;
  }
}

abstract class Family<C> {
  protected readonly children = new Map<string, C>();
  readonly aggregator = 'sum';
  constructor(
    readonly name: string,
    readonly help: string,
    readonly labelNames: readonly string[],
    /** Children beyond this many share the overflow child, so no label can grow memory forever. */
    private readonly maxChildren = 10_000,
  ) {}

  /** The child for these label values, created once; callers on hot paths keep the result. */
  child(...values: string[]): C {
    let key = values.length === 1 ? values[0] : values.join('\u0000');
    let c = this.children.get(key);
    if (c === undefined) {
      if (this.children.size >= this.maxChildren) {
        // The shared overflow child is the one child created beyond the cap.
        const overflowKey = this.labelNames.map(() => 'overflow').join('\u0000');
        c = this.children.get(overflowKey);
        if (c !== undefined) return c;
        values = this.labelNames.map(() => 'overflow');
        key = overflowKey;
      }
      const labels: Record<string, string> = {};
      this.labelNames.forEach((n, i) => {
        labels[n] = values[i] ?? '';
      });
      c = this.create(labels);
      this.children.set(key, c);
    }
    return c;
  }

  protected abstract create(labels: Record<string, string>): C;

  /** Every child, in creation order (read by the JSON stats routes, src/api/stats-routes.ts). */
  all(): IterableIterator<C> {
    return this.children.values();
  }
}

export class CounterFamily extends Family<CounterChild> {
  readonly type = 'counter';
  protected create(labels: Record<string, string>): CounterChild {
    return new CounterChild(labels);
  }
  get(): Snapshot {
    const values: MetricValue[] = [];
    for (const c of this.children.values()) values.push({ labels: c.labels, value: c.value });
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator };
  }
  /** Sum over every child whose labels match `where` (for /v1/stats and tests). */
  total(where: Record<string, string> = {}): number {
    let sum = 0;
    for (const c of this.children.values()) {
      if (Object.entries(where).every(([k, v]) => c.labels[k] === v)) sum += c.value;
    }
    return sum;
  }
}

export class HistogramFamily extends Family<HistogramChild> {
  readonly type = 'histogram';
  constructor(
    name: string,
    help: string,
    labelNames: readonly string[],
    /** The finite upper bounds (seconds), ascending; children count one slot more (+Inf). */
    readonly bounds: readonly number[] = DEFAULT_BUCKETS,
  ) {
    super(name, help, labelNames);
  }
  protected create(labels: Record<string, string>): HistogramChild {
    return new HistogramChild(labels, this.bounds);
  }
  get(): Snapshot {
    const values: MetricValue[] = [];
    for (const c of this.children.values()) {
      let cumulative = 0;
      this.bounds.forEach((le, i) => {
        cumulative += c.counts[i];
        values.push({ labels: { ...c.labels, le }, value: cumulative, metricName: `${this.name}_bucket` });
      });
      values.push({ labels: { ...c.labels, le: '+Inf' }, value: c.count, metricName: `${this.name}_bucket` });
      values.push({ labels: c.labels, value: c.sum, metricName: `${this.name}_sum` });
      values.push({ labels: c.labels, value: c.count, metricName: `${this.name}_count` });
    }
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator };
  }
}
