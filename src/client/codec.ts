/**
 * The frame codec (docs/protocol.md) for clients, on Uint8Array and DataView only (no Buffer, no
 * node: modules), so the same code runs in browsers. The gateway's own codec lives in
 * src/protocol/ and is tuned for Buffers; test/unit/client-codec.test.ts and test/unit/protocol-vectors.test.ts check the two agree.
 */

import { FrameType, HEADER_BYTES, MIN_LENGTH } from '../protocol/frame-type.js';

export { FrameType, HEADER_BYTES };

export interface WireFrame {
  type: number;
  status: number;
  cmd: number;
  seq: number;
  body: Uint8Array;
}

/** A frame from the gateway that breaks the frame format: the connection cannot be trusted further. */
export class FrameError extends Error {
  override readonly name = 'FrameError';
}

const EMPTY = new Uint8Array(0);
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A body argument as bytes: strings are UTF-8, undefined is empty. */
export function toBytes(body?: string | Uint8Array): Uint8Array {
  if (body === undefined) return EMPTY;
  return typeof body === 'string' ? encoder.encode(body) : body;
}

/** UTF-8 text of a body. */
export function utf8(bytes: Uint8Array): string {
  return decoder.decode(bytes);
}

/** Encodes one frame into a new array. */
export function encodeFrame(
  type: FrameType,
  cmd: number,
  seq: number,
  body: Uint8Array = EMPTY,
  status = 0,
): Uint8Array {
  const out = new Uint8Array(HEADER_BYTES + body.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, MIN_LENGTH + body.length);
  out[4] = type;
  out[5] = 0;
  view.setUint16(6, status);
  view.setUint32(8, cmd >>> 0);
  view.setUint32(12, seq >>> 0);
  out.set(body, HEADER_BYTES);
  return out;
}

function readFrame(bytes: Uint8Array, off: number, length: number): WireFrame {
  const view = new DataView(bytes.buffer, bytes.byteOffset + off, HEADER_BYTES);
  if (bytes[off + 5] !== 0) throw new FrameError(`frame flags ${bytes[off + 5]} are not 0`);
  return {
    type: bytes[off + 4],
    status: view.getUint16(6),
    cmd: view.getUint32(8),
    seq: view.getUint32(12),
    body: bytes.subarray(off + HEADER_BYTES, off + 4 + length),
  };
}

/** Decodes a WebSocket message, which must hold exactly one frame. The body is a view. */
export function decodeFrame(message: Uint8Array): WireFrame {
  if (message.length < HEADER_BYTES)
    throw new FrameError(`a message of ${message.length} bytes holds no frame`);
  const length = new DataView(message.buffer, message.byteOffset, 4).getUint32(0);
  if (length < MIN_LENGTH || 4 + length !== message.length) {
    throw new FrameError(`frame length ${length} does not match a message of ${message.length} bytes`);
  }
  return readFrame(message, 0, length);
}

/**
 * Splits a byte stream (TCP) into frames, whatever the chunking. Bodies are views into
 * the chunks (or into the one buffer a frame split across chunks is assembled in, sized
 * once its length is known), and the reader never writes to them again.
 * `maxFrameBytes` guards the client's memory against a broken peer.
 */
export class FrameReader {
  /** A frame split across chunks, allocated at its full size. */
  private partial: Uint8Array | null = null;
  private filled = 0;
  /** Fewer than 4 bytes of a frame whose length is not known yet. */
  private tail: Uint8Array = EMPTY;

  constructor(private readonly maxFrameBytes: number) {}

  /** Calls `onFrame` for each complete frame; throws FrameError on a malformed stream. */
  push(chunk: Uint8Array, onFrame: (frame: WireFrame) => void): void {
    let bytes = chunk;
    let off = 0;
    if (this.tail.length > 0) {
      bytes = new Uint8Array(this.tail.length + chunk.length);
      bytes.set(this.tail, 0);
      bytes.set(chunk, this.tail.length);
      this.tail = EMPTY;
    }
    if (this.partial !== null) {
      const take = Math.min(this.partial.length - this.filled, bytes.length);
      this.partial.set(bytes.subarray(0, take), this.filled);
      this.filled += take;
      off = take;
      if (this.filled < this.partial.length) return;
      const whole = this.partial;
      this.partial = null;
      onFrame(readFrame(whole, 0, whole.length - 4));
    }
    while (bytes.length - off >= 4) {
      const length = new DataView(bytes.buffer, bytes.byteOffset + off, 4).getUint32(0);
      if (length < MIN_LENGTH) throw new FrameError(`frame length ${length} is under ${MIN_LENGTH}`);
      if (length > this.maxFrameBytes)
        throw new FrameError(`frame length ${length} is over ${this.maxFrameBytes}`);
      if (bytes.length - off < 4 + length) {
        this.partial = new Uint8Array(4 + length);
        this.partial.set(bytes.subarray(off), 0);
        this.filled = bytes.length - off;
        return;
      }
      onFrame(readFrame(bytes, off, length));
      off += 4 + length;
    }
    if (off < bytes.length) this.tail = bytes.slice(off);
  }
}
