import { Status, type StatusCode, type StatusName } from '../protocol/status.js';
import type { MaybeReply } from './plugin-context.js';

/** A plugin's answer, checked and ready to write. */
export interface Reply {
  /** 0, an application code 1000–65535, or a gateway status. */
  readonly status: number;
  readonly body: Buffer;
  /** Set for gateway statuses: the RESPONSE carries the SPEC's JSON error body instead of `body`. */
  readonly error: StatusCode | null;
  readonly message: string | undefined;
}

const EMPTY = Buffer.alloc(0);
const OK: Reply = { status: Status.OK, body: EMPTY, error: null, message: undefined };
const GATEWAY_CODES = new Set<number>(Object.values(Status));

/**
 * Checks what a handler or hook returned. Throws a TypeError that says what is wrong, which
 * the pipeline turns into INTERNAL for the client and a plugin_error in the logs.
 */
export function toReply(value: MaybeReply): Reply {
  if (value === undefined) return OK;
  if (typeof value !== 'object' || value === null || Array.isArray(value) || value instanceof Uint8Array) {
    throw new TypeError(`returned ${describe(value)}; return { body?, status? } or nothing`);
  }
  const status = toStatus(value.status);
  const error = status !== Status.OK && GATEWAY_CODES.has(status) ? (status as StatusCode) : null;
  return { status, body: toBody(value.body), error, message: value.message };
}

/** A body as bytes, without copying a Buffer or a Uint8Array. */
export function toBody(body: unknown): Buffer {
  if (body === undefined) return EMPTY;
  if (typeof body === 'string') return Buffer.from(body, 'utf8');
  if (Buffer.isBuffer(body)) return body;
  if (body instanceof Uint8Array) return Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  throw new TypeError(`body is ${describe(body)}; expected a string or bytes`);
}

function toStatus(status: number | StatusName | undefined): number {
  if (status === undefined) return Status.OK;
  if (typeof status === 'string') {
    if (Object.hasOwn(Status, status)) return Status[status];
    throw new TypeError(`status "${status}" is not a status name of SPEC §6`);
  }
  if (Number.isInteger(status) && (GATEWAY_CODES.has(status) || (status >= 1000 && status <= 65535)))
    return status;
  throw new TypeError(`status ${status} is neither a gateway status nor an application code 1000–65535`);
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (value instanceof Uint8Array) return 'bytes';
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}
