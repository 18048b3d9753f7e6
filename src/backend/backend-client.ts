import type { Logger } from 'pino';
import type { GatewayConfig } from '../config/schema.js';
import type { Instance } from '../registry/records.js';
import { BackendCall, type CallDone, CallOutcome, CircuitOpenError } from './backend-call.js';
import { BackendTarget } from './backend-target.js';
import type { CircuitBreaker } from './circuit-breaker.js';
import { DiscoveredTarget, FixedTarget, type Target } from './target.js';

/** Fields of one forwarded request that become the SPEC §4 headers. */
export interface ForwardInfo {
  cmd: number;
  seq: number;
  kind: 'request' | 'notify' | 'event';
  sessionId: string;
  playerId: string | null;
  clientIp: string;
  requestId: string;
  /** Extra headers, e.g. x-gateway-event for lifecycle events. */
  extraHeaders?: string[];
}

/** How often the deadline sweep runs; a timeout fires at most this late. */
const SWEEP_MS = 50;

/** How long an endpoint that left the registry may take to finish the calls already sent to it. */
const RETIRE_GRACE_MS = 30_000;

/**
 * The targets and their endpoints' pools, and the one place that sends HTTP requests to
 * backends. Each endpoint keeps a deadline list (calls in start order; all calls of an
 * endpoint share its timeout, so the list is also in deadline order) swept by one timer.
 */
export class BackendClient {
  readonly targets = new Map<string, Target>();
  /** Every endpoint with calls that may be in flight: those in use and those retiring. */
  private readonly live = new Set<BackendTarget>();
  private readonly sweepTimer: NodeJS.Timeout;

  constructor(
    config: GatewayConfig['targets'],
    private readonly nodeId: string,
    private readonly log: Logger,
    /** limits.maxResponseBytes: how much of an answer body is read. */
    private readonly maxResponseBytes: number,
  ) {
    for (const [name, t] of Object.entries(config)) {
      if (t.url === undefined) {
        this.targets.set(name, new DiscoveredTarget(name, t));
        continue;
      }
      const endpoint = new BackendTarget(name, { ...t, url: t.url });
      this.targets.set(name, new FixedTarget(name, endpoint));
      this.live.add(endpoint);
    }
    this.sweepTimer = setInterval(() => this.sweep(), SWEEP_MS);
    this.sweepTimer.unref();
  }

  /**
   * POSTs `body` to `target`; `onDone` is called exactly once, with the response, a
   * timeout (target.timeoutMs, counted from now, queueing included) or a connect error.
   */
  call(target: BackendTarget, info: ForwardInfo, body: Buffer, onDone: CallDone): BackendCall {
    const call = new BackendCall(
      target,
      (c) => {
        target.deadlines.remove(c);
        if (target.circuit !== null) this.record(target.circuit, c);
        onDone(c);
      },
      this.maxResponseBytes,
    );
    target.deadlines.push(call);

    const headers = [
      'content-type',
      'application/octet-stream',
      'x-gateway-cmd',
      String(info.cmd),
      'x-gateway-seq',
      String(info.seq),
      'x-gateway-kind',
      info.kind,
      'x-gateway-session',
      info.sessionId,
      'x-gateway-node',
      this.nodeId,
      'x-gateway-client-ip',
      info.clientIp,
      'x-request-id',
      info.requestId,
    ];
    if (info.playerId !== null) headers.push('x-gateway-player', headerBytes(info.playerId));
    if (info.extraHeaders) headers.push(...info.extraHeaders);
    if (target.circuit !== null && !target.circuit.allow(Date.now())) {
      call.refuse();
      return call;
    }
    try {
      target.pool.dispatch({ method: 'POST', path: target.path(info.cmd), headers, body }, call);
    } catch (err) {
      call.onError(err as Error);
    }
    return call;
  }

  /** Feeds a finished call's outcome to its target's circuit breaker; logs when it flips. */
  private record(circuit: CircuitBreaker, call: BackendCall): void {
    if (call.error instanceof CircuitOpenError) return;
    const target = call.target.name;
    // An answer the gateway refused (too large, malformed) still came from a backend that is up.
    if (call.outcome === CallOutcome.RESPONSE || call.outcome === CallOutcome.BAD_RESPONSE) {
      if (circuit.reached()) this.log.warn({ target }, 'circuit closed: the backend answers again');
      return;
    }
    const opened =
      call.outcome === CallOutcome.UNAVAILABLE ? circuit.failed(Date.now()) : circuit.timedOut(Date.now());
    if (opened) {
      this.log.error(
        { target, err: call.error?.message },
        'circuit open: refusing calls until a probe connects',
      );
    }
  }

  private sweep(): void {
    const now = Date.now();
    for (const endpoint of this.live) endpoint.deadlines.expireUntil(now);
  }

  /**
   * A discovered target's instances changed (the registry's new list): new instances get
   * an endpoint at once; those that left get no new request and are closed once the calls
   * already sent to them finish (at most RETIRE_GRACE_MS).
   */
  updateInstances(name: string, instances: readonly Instance[]): void {
    const target = this.targets.get(name);
    if (!(target instanceof DiscoveredTarget)) return;
    const retired = target.update(instances);
    for (const e of target.endpoints()) this.live.add(e);
    for (const e of retired) {
      this.log.info({ target: name, instance: e.instance, url: e.url }, 'instance left: draining its pool');
      e.close(RETIRE_GRACE_MS).finally(() => this.live.delete(e));
    }
  }

  /** Pool use per target, summed over its endpoints (gateway_backend_pool_*). */
  poolStats(): Array<{ target: string; pending: number; connected: number }> {
    return [...this.targets.values()].map((t) => {
      let pending = 0;
      let connected = 0;
      for (const e of t.endpoints()) {
        const s = e.stats();
        pending += s.pending;
        connected += s.connected;
      }
      return { target: t.name, pending, connected };
    });
  }

  /**
   * Closes every pool: calls already sent get up to `graceMs` to finish, then what is
   * left is abandoned (shutdown has already waited shutdown.drainMs for client requests).
   */
  async close(graceMs: number): Promise<void> {
    clearInterval(this.sweepTimer);
    await Promise.all([...this.live].map((e) => e.close(graceMs)));
  }
}

/**
 * A header value as its UTF-8 bytes. undici writes header strings as latin1, one byte per
 * char, so a UTF-8 player id is handed over as the latin1 string of its UTF-8 bytes.
 */
function headerBytes(value: string): string {
  // Only a non-ASCII string takes more UTF-8 bytes than it has chars.
  return Buffer.byteLength(value, 'utf8') === value.length
    ? value
    : Buffer.from(value, 'utf8').toString('latin1');
}
