import { utf8, type WireFrame } from './codec.js';
import { GatewayError, statusName } from './errors.js';
import type { Hello, Kick } from './types.js';

/**
 * A RESPONSE. A non-zero status resolves too (application codes from x-gateway-status
 * are answers, not failures): check `ok`, or use `expectOk()` / `client.call()`.
 */
export class Response {
  constructor(
    readonly cmd: number,
    readonly seq: number,
    readonly status: number,
    readonly body: Uint8Array,
  ) {}

  get ok(): boolean {
    return this.status === 0;
  }

  /** `OK`, a gateway status name (docs/errors.md), or `APP_<n>`. */
  get statusName(): string {
    return statusName(this.status);
  }

  text(): string {
    return utf8(this.body);
  }

  json<T = unknown>(): T {
    return JSON.parse(this.text()) as T;
  }

  /** The failure as a GatewayError, or null when `ok`. */
  error(): GatewayError | null {
    return this.ok ? null : GatewayError.fromFrame(this.status, this.body);
  }

  /** Returns this response when `ok`, throws its GatewayError otherwise. */
  expectOk(): this {
    const error = this.error();
    if (error !== null) throw error;
    return this;
  }
}

/** The HELLO body, or null when it is not the JSON docs/protocol.md describes. */
export function parseHello(body: Uint8Array): Hello | null {
  try {
    const h = JSON.parse(utf8(body)) as Hello;
    if (
      typeof h.sessionId !== 'string' ||
      typeof h.heartbeatMs !== 'number' ||
      typeof h.maxFrameBytes !== 'number'
    ) {
      return null;
    }
    return h;
  } catch {
    return null;
  }
}

/** A KICK frame's status and JSON body; a body that is not JSON keeps the status name. */
export function parseKick(frame: WireFrame): Kick {
  const fallback = { status: frame.status, error: statusName(frame.status), message: '' };
  try {
    const body = JSON.parse(utf8(frame.body)) as { error?: unknown; message?: unknown };
    return {
      status: frame.status,
      error: typeof body.error === 'string' ? body.error : fallback.error,
      message: typeof body.message === 'string' ? body.message : '',
    };
  } catch {
    return fallback;
  }
}
