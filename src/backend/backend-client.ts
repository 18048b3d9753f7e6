import type { Logger } from 'pino';
import type { GatewayConfig } from '../config/schema.js';
import { BackendCall, type CallDone, CallOutcome, CircuitOpenError } from './backend-call.js';
import { BackendTarget } from './backend-target.js';
import type { CircuitBreaker } from './circuit-breaker.js';

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

/**
 * The targets and their pools, and the one place that sends HTTP requests to backends.
 * Owns a deadline list per target (calls in start order; all calls of a target share
 * its timeout, so the list is also in deadline order) swept by one timer.
 */
export class BackendClient {
  readonly targets = new Map<string, BackendTarget>();
  private readonly heads = new Map<BackendTarget, { head: BackendCall | null; tail: BackendCall | null }>();
  private readonly sweepTimer: NodeJS.Timeout;

  constructor(
    config: GatewayConfig['targets'],
    private readonly nodeId: string,
    private readonly log: Logger,
    /** limits.maxResponseBytes: how much of an answer body is read. */
    private readonly maxResponseBytes: number,
  ) {
    for (const [name, t] of Object.entries(config)) {
      const target = new BackendTarget(name, t);
      this.targets.set(name, target);
      this.heads.set(target, { head: null, tail: null });
    }
    this.sweepTimer = setInterval(() => this.sweep(), SWEEP_MS);
    this.sweepTimer.unref();
  }

  /**
   * POSTs `body` to `target`; `onDone` is called exactly once, with the response, a
   * timeout (target.timeoutMs, counted from now, queueing included) or a connect error.
   */
  call(target: BackendTarget, info: ForwardInfo, body: Buffer, onDone: CallDone): BackendCall {
    const list = this.heads.get(target)!;
    const call = new BackendCall(
      target,
      (c) => {
        this.unlink(list, c);
        if (target.circuit !== null) this.record(target.circuit, c);
        onDone(c);
      },
      this.maxResponseBytes,
    );
    // Link at the tail: calls of one target share its timeout, so the list stays sorted.
    call.prev = list.tail;
    if (list.tail) list.tail.next = call;
    else list.head = call;
    list.tail = call;

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

  private unlink(list: { head: BackendCall | null; tail: BackendCall | null }, c: BackendCall): void {
    if (c.prev) c.prev.next = c.next;
    else if (list.head === c) list.head = c.next;
    if (c.next) c.next.prev = c.prev;
    else if (list.tail === c) list.tail = c.prev;
    c.prev = c.next = null;
  }

  private sweep(): void {
    const now = Date.now();
    for (const list of this.heads.values()) {
      while (list.head !== null && list.head.deadline <= now) list.head.expire();
    }
  }

  /**
   * Closes every pool: calls already sent get up to `graceMs` to finish, then what is
   * left is abandoned (shutdown has already waited shutdown.drainMs for client requests).
   */
  async close(graceMs: number): Promise<void> {
    clearInterval(this.sweepTimer);
    await Promise.all([...this.targets.values()].map((t) => t.close(graceMs)));
  }
}

const NON_ASCII = /[^\x00-\x7f]/;

/**
 * A header value as its UTF-8 bytes. undici writes header strings as latin1, one byte per
 * char, so a UTF-8 player id is handed over as the latin1 string of its UTF-8 bytes.
 */
function headerBytes(value: string): string {
  return NON_ASCII.test(value) ? Buffer.from(value, 'utf8').toString('latin1') : value;
}
