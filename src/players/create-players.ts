import type { GatewayConfig } from '../config/schema.js';
import type { Logger } from '../logger.js';
import type { GatewayMetrics } from '../metrics/metrics.js';
import type { SessionManager } from '../session/session-manager.js';
import type { Engine, LifecycleListener } from './engine.js';
import { PlayerManager } from './memory-engine.js';
import { RedisEngine } from './redis/redis-engine.js';

/** The engine `cluster.engine` names: `local` (in memory, the default) or `redis`. */
export function createEngine(
  config: GatewayConfig,
  sessions: SessionManager,
  metrics: GatewayMetrics,
  log: Logger,
  lifecycle: LifecycleListener,
): Engine {
  return config.cluster.engine === 'redis'
    ? new RedisEngine(config, sessions, metrics, log, lifecycle)
    : new PlayerManager(config, sessions, metrics, lifecycle);
}
