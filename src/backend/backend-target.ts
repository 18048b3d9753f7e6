import { Pool } from 'undici';
import type { TargetConfig } from '../config/schema.js';
import { CircuitBreaker } from './circuit-breaker.js';
import { DeadlineList } from './deadline-list.js';

/** The pool and timing settings of a target, with the URL of one of its endpoints. */
export type EndpointConfig = Pick<
  TargetConfig,
  'timeoutMs' | 'connections' | 'keepAliveMs' | 'circuitBreaker'
> & {
  readonly url: string;
};

/**
 * One endpoint of a named backend service — its fixed URL, or one discovered instance
 * (`instance` is its registry id): the URL with the `{cmd}` placeholder split out once,
 * the timeout, its own undici connection pool, its circuit breaker, and the deadline list
 * of its calls in flight (oldest first; all share the timeout, so also deadline order).
 */
export class BackendTarget {
  readonly pool: Pool;
  /** The calls in flight, for the deadline sweep (BackendClient). */
  readonly deadlines = new DeadlineList();
  /** Null when targets.<name>.circuitBreaker.failures is 0. */
  readonly circuit: CircuitBreaker | null;
  readonly timeoutMs: number;
  readonly url: string;
  private readonly pathHead: string;
  private readonly pathTail: string | null;

  constructor(
    readonly name: string,
    config: EndpointConfig,
    readonly instance: string | null = null,
  ) {
    this.url = config.url;
    const url = new URL(config.url.replaceAll('{cmd}', '__CMD__'));
    const path = url.pathname + url.search;
    const at = path.indexOf('__CMD__');
    this.pathHead = at < 0 ? path : path.slice(0, at);
    this.pathTail = at < 0 ? null : path.slice(at + 7).replaceAll('__CMD__', '{cmd}');
    this.timeoutMs = config.timeoutMs;
    const { failures, openMs } = config.circuitBreaker;
    this.circuit = failures > 0 ? new CircuitBreaker(failures, openMs) : null;
    this.pool = new Pool(url.origin, {
      connections: config.connections,
      keepAliveTimeout: config.keepAliveMs,
      // Our own deadline (timeoutMs) covers queueing too; these only back it up.
      headersTimeout: config.timeoutMs + 1_000,
      bodyTimeout: config.timeoutMs + 1_000,
      // Well under timeoutMs, so an unreachable host is a connect error (which the circuit
      // breaker counts) rather than a timeout. A healthy connect takes milliseconds.
      connectTimeout: Math.min(config.timeoutMs, 1_000),
    });
  }

  /** What a balancer tells endpoints apart by: the instance id (the target name for a fixed URL). */
  get id(): string {
    return this.instance ?? this.name;
  }

  /** The request path for `cmd`: the configured path with `{cmd}` replaced. */
  path(cmd: number): string {
    if (this.pathTail === null) return this.pathHead;
    return this.pathHead + cmd + this.pathTail.replaceAll('{cmd}', String(cmd));
  }

  stats(): { pending: number; connected: number } {
    const s = this.pool.stats;
    return { pending: s.pending, connected: s.connected };
  }

  /**
   * Lets calls already sent finish for up to `graceMs` (the offline events of sessions
   * closed at shutdown, say), then destroys the pool, abandoning what is left.
   */
  async close(graceMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const grace = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, graceMs);
    });
    await Promise.race([this.pool.close(), grace]);
    clearTimeout(timer);
    await this.pool.destroy();
  }
}
