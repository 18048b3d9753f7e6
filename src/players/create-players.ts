import type { GatewayConfig } from '../config/schema.js';
import type { Logger } from '../logger.js';
import type { GatewayMetrics } from '../metrics/metrics.js';
import type { SessionManager } from '../session/session-manager.js';
import { LocalHub } from './local-hub.js';
import { MemoryEngine } from './memory-engine.js';
import { Players } from './players.js';
import { RedisEngine } from './redis/redis-engine.js';

/** This node's players: the hub of its sessions, and the engine `cluster.engine` names (`local` or `redis`). */
export function createPlayers(
  config: GatewayConfig,
  sessions: SessionManager,
  metrics: GatewayMetrics,
  log: Logger,
): Players {
  const hub = new LocalHub(sessions, metrics);
  const engine =
    config.cluster.engine === 'redis'
      ? new RedisEngine(config, hub, metrics, log)
      : new MemoryEngine(config, hub, metrics);
  return new Players(hub, engine, metrics);
}
