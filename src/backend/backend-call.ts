import type { Dispatcher } from 'undici';
import type { BackendTarget } from './backend-target.js';
import type { DeadlineNode } from './deadline-list.js';

/**
 * How a backend call ended, as the forward stage needs it. BAD_RESPONSE: the backend
 * answered, but with what the gateway does not take (headers over the HTTP client's limit,
 * a malformed response, a body over limits.maxResponseBytes) — the backend's fault, never
 * a connect error, so it does not count toward the circuit breaker.
 */
export const CallOutcome = { RESPONSE: 0, TIMEOUT: 1, UNAVAILABLE: 2, BAD_RESPONSE: 3 } as const;
export type CallOutcome = (typeof CallOutcome)[keyof typeof CallOutcome];

/** The gateway directives a backend may set on a response (SPEC §4), read from its headers. */
export interface Directives {
  status: string | null;
  bind: string | null;
  unbind: string | null;
  join: string | null;
  leave: string | null;
  close: string | null;
  /** Any other x-gateway-* header, for plugins (e.g. x-gateway-map); empty when there is none. */
  extra: Record<string, string>;
}

/** Directives with nothing set: what an answer has before its first x-gateway-* header. */
function emptyDirectives(): Directives {
  return { status: null, bind: null, unbind: null, join: null, leave: null, close: null, extra: {} };
}

/** The directives of an answer without any x-gateway-* header (or of no answer): shared, frozen. */
export const NO_DIRECTIVES: Readonly<Directives> = Object.freeze({
  ...emptyDirectives(),
  extra: Object.freeze({}) as Record<string, string>,
});

export type CallDone = (call: BackendCall) => void;

const X_GATEWAY = 'x-gateway-';

/**
 * One HTTP POST to a backend, written as an undici dispatch handler so a forwarded
 * request costs no streams and no promise: undici calls these methods directly.
 * Calls are also nodes of their target's deadline list (oldest first), which a single
 * sweep walks to time out calls that waited too long, queued in the pool or not.
 */
export class BackendCall implements Dispatcher.DispatchHandler, DeadlineNode {
  outcome: CallOutcome = CallOutcome.RESPONSE;
  statusCode = 0;
  body: Buffer = EMPTY;
  directives: Directives | null = null;
  error: Error | null = null;
  readonly startedAt = performance.now();
  finishedAt = 0;

  /** Links of its endpoint's deadline list. */
  prev: DeadlineNode | null = null;
  next: DeadlineNode | null = null;
  readonly deadline: number;

  private chunks: Buffer[] | null = null;
  private abortFn: ((err: Error) => void) | null = null;
  private done = false;

  private received = 0;

  constructor(
    readonly target: BackendTarget,
    private readonly onDone: CallDone,
    /** limits.maxResponseBytes: a body over it is not read further. */
    private readonly maxBodyBytes: number,
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
      if (name.length === 14 && (name[0] | 0x20) === 0x63 && isContentLength(name)) {
        if (Number(rawHeaders[i + 1].toString('latin1')) > this.maxBodyBytes) {
          this.tooLarge();
          return false;
        }
      } else if (name.length > 10 && (name[0] | 0x20) === 0x78 && name[1] === 0x2d) {
        const lower = name.toString('latin1').toLowerCase();
        // Player ids and group names are UTF-8 (Go writes header bytes as they are).
        if (lower.startsWith(X_GATEWAY)) this.directive(lower, rawHeaders[i + 1].toString('utf8'));
      }
    }
    return true;
  }

  private directive(name: string, value: string): void {
    this.directives ??= emptyDirectives();
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
        d.extra[name] = value;
    }
  }

  onData(chunk: Buffer): boolean {
    if (this.done) return false;
    this.received += chunk.length;
    if (this.received > this.maxBodyBytes) {
      this.tooLarge();
      return false;
    }
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
    const code = (err as { code?: string }).code ?? '';
    if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT')
      this.finish(CallOutcome.TIMEOUT, err);
    else if (BAD_RESPONSE_CODES.has(code) || code.startsWith('HPE_'))
      this.finish(CallOutcome.BAD_RESPONSE, err);
    else this.finish(CallOutcome.UNAVAILABLE, err);
  }

  /** The answer is over limits.maxResponseBytes: answered now, and the connection is dropped (undici discards it on abort). */
  private tooLarge(): void {
    const abort = this.abortFn;
    this.chunks = null;
    this.body = EMPTY;
    this.finish(
      CallOutcome.BAD_RESPONSE,
      new ResponseTooLargeError(`answer over limits.maxResponseBytes (${this.maxBodyBytes} bytes)`),
    );
    abort?.(new Error('response too large'));
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

/** undici errors for a response it could not take (llhttp's own start with HPE_). */
const BAD_RESPONSE_CODES = new Set([
  'UND_ERR_HEADERS_OVERFLOW',
  'UND_ERR_RES_CONTENT_LENGTH_MISMATCH',
  'UND_ERR_INFO',
]);

const CONTENT_LENGTH = Buffer.from('content-length');

function isContentLength(name: Buffer): boolean {
  for (let i = 0; i < 14; i++) if ((name[i] | 0x20) !== CONTENT_LENGTH[i]) return false;
  return true;
}

/** The error of a call whose answer was over limits.maxResponseBytes. */
export class ResponseTooLargeError extends Error {
  override name = 'ResponseTooLargeError';
}

/** The error of a call refused because its target's circuit is open. */
export class CircuitOpenError extends Error {
  override name = 'CircuitOpenError';
  constructor(target: string) {
    super(
      `circuit open: ${target} failed to connect repeatedly; calls are refused until a probe gets through`,
    );
  }
}
