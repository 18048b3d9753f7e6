import type { Dispatcher } from 'undici';
import type { BackendTarget } from './backend-target.js';

/** How a backend call ended, as the forwarder needs it. */
export const CallOutcome = { RESPONSE: 0, TIMEOUT: 1, UNAVAILABLE: 2 } as const;
export type CallOutcome = (typeof CallOutcome)[keyof typeof CallOutcome];

/** The gateway directives a backend may set on a response (SPEC §4), read from its headers. */
export interface Directives {
  status: string | null;
  bind: string | null;
  unbind: string | null;
  join: string | null;
  leave: string | null;
  close: string | null;
  /** Any other x-gateway-* header, for plugins (e.g. x-gateway-map). */
  extra: Record<string, string> | null;
}

export type CallDone = (call: BackendCall) => void;

const X_GATEWAY = 'x-gateway-';

/**
 * One HTTP POST to a backend, written as an undici dispatch handler so a forwarded
 * request costs no streams and no promise: undici calls these methods directly.
 * Calls are also nodes of their target's deadline list (oldest first), which a single
 * sweep walks to time out calls that waited too long, queued in the pool or not.
 */
export class BackendCall implements Dispatcher.DispatchHandler {
  outcome: CallOutcome = CallOutcome.RESPONSE;
  statusCode = 0;
  body: Buffer = EMPTY;
  directives: Directives | null = null;
  error: Error | null = null;
  readonly startedAt = performance.now();
  finishedAt = 0;

  /** Deadline list links, owned by BackendClient. */
  prev: BackendCall | null = null;
  next: BackendCall | null = null;
  readonly deadline: number;

  private chunks: Buffer[] | null = null;
  private abortFn: ((err: Error) => void) | null = null;
  private done = false;

  constructor(
    readonly target: BackendTarget,
    private readonly onDone: CallDone,
  ) {
    this.deadline = Date.now() + target.timeoutMs;
  }

  get finished(): boolean {
    return this.done;
  }

  onConnect(abort: (err?: Error) => void): void {
    if (this.done) abort(new Error('timed out before sending'));
    else this.abortFn = abort;
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[]): boolean {
    this.statusCode = statusCode;
    for (let i = 0; i < rawHeaders.length; i += 2) {
      const name = rawHeaders[i];
      // Cheap pre-check on the first bytes: most headers are not ours.
      if (name.length > 10 && (name[0] | 0x20) === 0x78 && name[1] === 0x2d) {
        const lower = name.toString('latin1').toLowerCase();
        if (lower.startsWith(X_GATEWAY)) this.directive(lower, rawHeaders[i + 1].toString('latin1'));
      }
    }
    return true;
  }

  private directive(name: string, value: string): void {
    this.directives ??= {
      status: null,
      bind: null,
      unbind: null,
      join: null,
      leave: null,
      close: null,
      extra: null,
    };
    const d = this.directives;
    switch (name) {
      case 'x-gateway-status':
        d.status = value;
        break;
      case 'x-gateway-bind':
        d.bind = value;
        break;
      case 'x-gateway-unbind':
        d.unbind = value;
        break;
      case 'x-gateway-join':
        d.join = value;
        break;
      case 'x-gateway-leave':
        d.leave = value;
        break;
      case 'x-gateway-close':
        d.close = value;
        break;
      default:
        d.extra ??= {};
        d.extra[name] = value;
    }
  }

  onData(chunk: Buffer): boolean {
    if (this.body === EMPTY) this.body = chunk;
    else {
      this.chunks ??= [this.body];
      this.chunks.push(chunk);
    }
    return true;
  }

  onComplete(): void {
    if (this.chunks !== null) this.body = Buffer.concat(this.chunks);
    this.chunks = null;
    this.finish(CallOutcome.RESPONSE, null);
  }

  onError(err: Error): void {
    const code = (err as { code?: string }).code;
    const timedOut = code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT';
    this.finish(timedOut ? CallOutcome.TIMEOUT : CallOutcome.UNAVAILABLE, err);
  }

  /** Refuses the call before it is sent: its target's circuit is open. */
  refuse(): void {
    this.finish(CallOutcome.UNAVAILABLE, new CircuitOpenError(this.target.name));
  }

  /** Called by the deadline sweep: answers now; aborts the HTTP request if it started. */
  expire(): void {
    if (this.done) return;
    this.finish(CallOutcome.TIMEOUT, null);
    this.abortFn?.(new Error('deadline passed'));
  }

  private finish(outcome: CallOutcome, err: Error | null): void {
    if (this.done) return;
    this.done = true;
    this.outcome = outcome;
    this.error = err;
    this.finishedAt = performance.now();
    this.abortFn = null;
    this.onDone(this);
  }
}

const EMPTY = Buffer.alloc(0);

/** The error of a call refused because its target's circuit is open. */
export class CircuitOpenError extends Error {
  override name = 'CircuitOpenError';
  constructor(target: string) {
    super(
      `circuit open: ${target} failed to connect repeatedly; calls are refused until a probe gets through`,
    );
  }
}
