import type { StatusCode } from './status.js';

/** Frame types of SPEC.md §3. */
export const FrameType = {
  HELLO: 1,
  REQUEST: 2,
  RESPONSE: 3,
  NOTIFY: 4,
  PUSH: 5,
  PING: 6,
  PONG: 7,
  KICK: 8,
} as const;
export type FrameType = (typeof FrameType)[keyof typeof FrameType];

/** Bytes before the body: length u32, type u8, flags u8, status u16, cmd u32, seq u32. */
export const HEADER_BYTES = 16;
/** The smallest legal value of the length field: the 12 header bytes after it. */
export const MIN_LENGTH = 12;
/** A PING body may carry at most this many bytes (echoed in the PONG). */
export const MAX_PING_BODY_BYTES = 64;

export interface Frame {
  type: number;
  flags: number;
  status: number;
  cmd: number;
  seq: number;
  body: Buffer;
}

const EMPTY = Buffer.alloc(0);

/** Writes a 16-byte frame header into `target` at `offset`. */
export function writeHeader(
  target: Buffer,
  offset: number,
  type: FrameType,
  status: number,
  cmd: number,
  seq: number,
  bodyLength: number,
): void {
  target.writeUInt32BE(MIN_LENGTH + bodyLength, offset);
  target[offset + 4] = type;
  target[offset + 5] = 0;
  target.writeUInt16BE(status, offset + 6);
  target.writeUInt32BE(cmd >>> 0, offset + 8);
  target.writeUInt32BE(seq >>> 0, offset + 12);
}

/** Encodes a whole frame into one buffer (used when the same bytes go to many sessions). */
export function encodeFrame(
  type: FrameType,
  status: number,
  cmd: number,
  seq: number,
  body: Uint8Array = EMPTY,
): Buffer {
  const out = Buffer.allocUnsafe(HEADER_BYTES + body.length);
  writeHeader(out, 0, type, status, cmd, seq, body.length);
  if (body.length > 0) out.set(body, HEADER_BYTES);
  return out;
}

/** Encodes only the header, so a large body can be written after it without a copy. */
export function encodeHeader(
  type: FrameType,
  status: number,
  cmd: number,
  seq: number,
  bodyLength: number,
): Buffer {
  const out = Buffer.allocUnsafe(HEADER_BYTES);
  writeHeader(out, 0, type, status, cmd, seq, bodyLength);
  return out;
}

/** The JSON body of an error RESPONSE or a KICK: `{"error": name, "message": ...}`. */
export function errorBody(name: string, message: string, httpStatus?: number): Buffer {
  const payload: Record<string, unknown> = { error: name, message };
  if (httpStatus !== undefined) payload.httpStatus = httpStatus;
  return Buffer.from(JSON.stringify(payload));
}

export type { StatusCode };
