import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { PluginMetrics } from './plugin.js';

/** Metric factories that register on `registry` (the gateway's: what GET /metrics serves). */
export function pluginMetrics(registry: Registry): PluginMetrics {
  return {
    registry,
    counter: (c) => new Counter({ ...c, registers: [registry] }),
    gauge: (c) => new Gauge({ ...c, registers: [registry] }),
    histogram: (c) => new Histogram({ ...c, registers: [registry] }),
  };
}
