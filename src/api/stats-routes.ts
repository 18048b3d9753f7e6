import type { Target } from '../backend/target.js';
import type { GatewayConfig } from '../config/schema.js';
import type { HistogramChild } from '../metrics/families.js';
import { cumulativeCounts, histogramQuantile } from '../metrics/histogram-quantile.js';
import { type GatewayMetrics, UNROUTED_LABEL } from '../metrics/metrics.js';
import type { NodeInfo } from '../players/engine.js';

/**
 * The JSON stats routes beside `GET /v1/stats` (docs/push-api.md, docs/console.md): per
 * cmd, per target, and the cluster's nodes. Every figure is read in-process from the
 * gateway's own metric objects and parts at the moment of the request, never from the
 * /metrics text. Counts are totals since start; a reader derives rates by differencing
 * two answers, and a latency quantile over a window from the difference of two answers'
 * bucket counts (histogramQuantile, src/metrics/histogram-quantile.ts).
 */

/** A latency histogram as the routes answer it: Prometheus' cumulative `le` counts. */
export interface Latency {
  /** Observations ≤ each of `bucketsSeconds`, then the +Inf count (= count). */
  buckets: number[];
  count: number;
  sumSeconds: number;
  /** The 99th percentile since start, interpolated like histogram_quantile(); null when empty. */
  p99Ms: number | null;
}

export interface RequestTotals {
  success: number;
  error: number;
  drop: number;
  latency: Latency;
}

export interface CmdRow extends RequestTotals {
  /** The cmd, or "unrouted": every cmd no route or plugin covers shares one row. */
  cmd: number | 'unrouted';
  /** The route target label ("" when none was chosen). */
  target: string;
}

/** What the stats routes read; the composition root hands them over. */
export interface StatsSources {
  config: GatewayConfig;
  metrics: GatewayMetrics;
  /** The backend targets (BackendClient.targets); absent: none. */
  targets?: ReadonlyMap<string, Target>;
  /** The nodes alive now (Players.nodes); absent: this node only. */
  nodes?(): Promise<NodeInfo[]>;
}

/** Sums histogram children (of one family: `bounds` are its) into one cumulative Latency; none: all zeros. */
function latencyOf(bounds: readonly number[], children: readonly HistogramChild[]): Latency {
  const counts = new Float64Array(bounds.length + 1);
  let sum = 0;
  for (const c of children) {
    for (let i = 0; i < counts.length; i++) counts[i] += c.counts[i];
    sum += c.sum;
  }
  const buckets = cumulativeCounts(counts);
  const p99 = histogramQuantile(0.99, bounds, buckets);
  return {
    buckets,
    count: buckets[bounds.length],
    sumSeconds: sum,
    p99Ms: p99 === null ? null : Math.round(p99 * 1e6) / 1e3,
  };
}

/** GET /v1/stats/cmds: requests by result and their latency, per (cmd, route target) and in total. */
export function cmdStats(metrics: GatewayMetrics): {
  bucketsSeconds: readonly number[];
  total: RequestTotals;
  cmds: CmdRow[];
} {
  interface Acc {
    cmd: string;
    target: string;
    success: number;
    error: number;
    drop: number;
    durations: HistogramChild[];
  }
  const rows = new Map<string, Acc>();
  const row = (cmd: string, target: string): Acc => {
    const key = `${cmd}\u0000${target}`;
    let r = rows.get(key);
    if (r === undefined) {
      r = { cmd, target, success: 0, error: 0, drop: 0, durations: [] };
      rows.set(key, r);
    }
    return r;
  };
  // gateway_requests_total: summed over player_id (a suspect's requests have series of their own).
  for (const c of metrics.requests.all()) {
    const r = row(c.labels.cmd, c.labels.route_target);
    const result = c.labels.result as 'success' | 'error' | 'drop';
    if (result in r) r[result] += c.value;
  }
  for (const h of metrics.requestDuration.all()) row(h.labels.cmd, h.labels.route_target).durations.push(h);
  const bounds = metrics.requestDuration.bounds;
  const all = [...rows.values()];
  const cmds: CmdRow[] = all
    .map((r) => ({
      cmd: r.cmd === UNROUTED_LABEL || !/^\d+$/.test(r.cmd) ? ('unrouted' as const) : Number(r.cmd),
      target: r.target,
      success: r.success,
      error: r.error,
      drop: r.drop,
      latency: latencyOf(bounds, r.durations),
    }))
    .sort((a, b) => order(a.cmd) - order(b.cmd) || (a.target < b.target ? -1 : a.target > b.target ? 1 : 0));
  const total: RequestTotals = {
    success: sumOf(all, 'success'),
    error: sumOf(all, 'error'),
    drop: sumOf(all, 'drop'),
    latency: latencyOf(
      bounds,
      all.flatMap((r) => r.durations),
    ),
  };
  return { bucketsSeconds: bounds, total, cmds };
}

/** GET /v1/stats/targets: each target's endpoints (pool, circuit), backend errors and latency. */
export function targetStats(sources: StatsSources): {
  bucketsSeconds: readonly number[];
  targets: unknown[];
} {
  const { config, metrics } = sources;
  const errors = new Map<string, Record<string, number>>();
  for (const c of metrics.backendErrors.all()) {
    const byType = errors.get(c.labels.target_service) ?? {};
    byType[c.labels.error_type] = (byType[c.labels.error_type] ?? 0) + c.value;
    errors.set(c.labels.target_service, byType);
  }
  const bounds = metrics.backendDuration.bounds;
  const durations = new Map<string, HistogramChild>();
  for (const h of metrics.backendDuration.all()) durations.set(h.labels.target_service, h);
  const targets = [...(sources.targets?.values() ?? [])].map((t) => {
    const tc = config.targets[t.name];
    const latency = latencyOf(bounds, durations.has(t.name) ? [durations.get(t.name)!] : []);
    return {
      name: t.name,
      discover: tc?.discover ?? null,
      timeoutMs: tc?.timeoutMs ?? null,
      calls: latency.count,
      errors: errors.get(t.name) ?? {},
      latency,
      endpoints: t.endpoints().map((e) => {
        const s = e.pool.stats;
        return {
          instance: e.instance,
          url: e.url,
          circuit: e.circuit === null ? 'off' : e.circuit.isOpen ? 'open' : 'closed',
          pool: {
            connections: tc?.connections ?? null,
            connected: s.connected,
            free: s.free,
            running: s.running,
            pending: s.pending,
          },
        };
      }),
    };
  });
  return { bucketsSeconds: bounds, targets };
}

/** GET /v1/nodes: the cluster's nodes alive now (this node only with the local engine). */
export async function nodeList(sources: StatsSources): Promise<{
  engine: 'local' | 'redis';
  self: string;
  nodes: Array<NodeInfo & { self: boolean }>;
}> {
  const self = sources.config.node.id;
  const nodes = (await sources.nodes?.()) ?? [{ id: self, instance: null, heartbeatAgeMs: 0 }];
  return {
    engine: sources.config.cluster.engine,
    self,
    nodes: nodes.map((n) => ({ ...n, self: n.id === self })),
  };
}

function order(cmd: number | 'unrouted'): number {
  return cmd === 'unrouted' ? Number.MAX_SAFE_INTEGER : cmd;
}

function sumOf(
  rows: ReadonlyArray<{ success: number; error: number; drop: number }>,
  k: 'success' | 'error' | 'drop',
): number {
  let n = 0;
  for (const r of rows) n += r[k];
  return n;
}
