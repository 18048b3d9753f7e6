import { Redis, type RedisOptions } from 'ioredis';
import type { GatewayConfig } from '../../config/schema.js';
import type { Logger } from '../../logger.js';
import type { GatewayMetrics } from '../../metrics/metrics.js';
import { EngineUnavailableError } from '../engine-unavailable.js';
import { RedisKeys } from './redis-keys.js';
import { defineScripts, type ScriptCommands } from './redis-scripts.js';

/**
 * The two Redis connections of one node: `cmd` for commands and scripts (every command
 * bounded by commandTimeoutMs, no offline buffer, no retries, auto-pipelined) and `sub`
 * for this node's channel and the broadcast channel (resubscribed after every reconnect).
 * Also the one place Redis failures are counted and logged.
 */
export class RedisConnection {
  readonly cmd: Redis & ScriptCommands;
  readonly sub: Redis;
  readonly keys: RedisKeys;
  readonly nodeId: string;
  /** cluster.redis.url with its password masked, for logs. */
  readonly target: string;
  stopping = false;
  private lastErrorLogAt = 0;
  /** Redis' clock minus this process's (ms), measured by syncClock(). */
  private clockOffsetMs = 0;

  constructor(
    config: GatewayConfig,
    private readonly metrics: GatewayMetrics,
    readonly log: Logger,
  ) {
    const { redis } = config.cluster;
    this.nodeId = config.node.id;
    this.keys = new RedisKeys(redis.keyPrefix);
    this.target = masked(redis.url);
    const common: RedisOptions = {
      lazyConnect: true,
      connectTimeout: Math.max(1_000, 2 * redis.commandTimeoutMs),
      retryStrategy: (times) => Math.min(100 * times, 1_000),
      connectionName: `gateway:${this.nodeId}`,
    };
    this.cmd = defineScripts(
      new Redis(redis.url, {
        ...common,
        commandTimeout: redis.commandTimeoutMs,
        enableOfflineQueue: false,
        maxRetriesPerRequest: 0,
        enableAutoPipelining: true,
      }),
    );
    this.sub = new Redis(redis.url, { ...common, autoResubscribe: true, maxRetriesPerRequest: null });
    for (const client of [this.cmd, this.sub])
      client.on('error', (err: Error) => this.failed('connection', err));
  }

  /** The command connection is up (commands can be sent). */
  get connected(): boolean {
    return this.cmd.status === 'ready';
  }

  /** Both connections are up. */
  get up(): boolean {
    return this.cmd.status === 'ready' && this.sub.status === 'ready';
  }

  connect(): Promise<unknown> {
    return Promise.allSettled([this.cmd.connect(), this.sub.connect()]);
  }

  disconnect(): void {
    this.sub.disconnect();
    this.cmd.disconnect();
  }

  /**
   * Measures Redis' clock against this process's (TIME, halfway through the round trip),
   * so a deadline can be handed to a script in Redis' time. Called at every heartbeat.
   */
  async syncClock(): Promise<void> {
    const before = Date.now();
    const [seconds, micros] = await this.cmd.time();
    const after = Date.now();
    this.clockOffsetMs = Number(seconds) * 1000 + Math.floor(Number(micros) / 1000) - (before + after) / 2;
  }

  /** A time of this process (Date.now() scale) on Redis' clock. */
  redisTime(localMs: number): number {
    return Math.round(localMs + this.clockOffsetMs);
  }

  unavailable(op: string): EngineUnavailableError {
    return new EngineUnavailableError(`cluster engine: Redis is unavailable (${op})`);
  }

  /** Counts a failed Redis operation under `op`; logs at most one per second. */
  failed(op: string, err: unknown): void {
    if (op !== 'connection') this.metrics.clusterRedisErrors.child(op).inc();
    const now = Date.now();
    if (now - this.lastErrorLogAt < 1_000 || this.stopping) return;
    this.lastErrorLogAt = now;
    this.log.warn({ node: this.nodeId, op, err: (err as Error)?.message }, 'cluster engine: Redis error');
  }
}

/** The URL without its password (`redis://user:***@host:6379/2`). */
function masked(url: string): string {
  const u = new URL(url);
  if (u.password !== '') u.password = '***';
  return u.toString();
}
