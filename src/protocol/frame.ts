import { type FrameType, HEADER_BYTES, MIN_LENGTH } from './frame-type.js';
import type { StatusCode } from './status.js';

export { FrameType, HEADER_BYTES, MAX_PING_BODY_BYTES, MIN_LENGTH } from './frame-type.js';

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
