import { constants } from 'node:buffer';
import { HEADER_BYTES, MIN_LENGTH } from './frame.js';
import { Status, type StatusCode } from './status.js';

/**
 * Called once per complete frame. `body` is a view into the socket's chunk whenever the
 * frame arrived whole (no copy); it stays valid because Node never reuses read chunks.
 */
/**
 * The largest `limits.maxFrameBytes` the config accepts (16 MiB): the length field is a
 * u32, and a bound the schema enforces keeps every length the decoder accepts far below
 * what a Buffer can hold.
 */
export const MAX_FRAME_BYTES = 16 * 1024 * 1024;

export type FrameHandler = (type: number, status: number, cmd: number, seq: number, body: Buffer) => void;

/**
 * Streaming decoder for the SPEC §3 byte stream: frames split across reads, many frames
 * in one read, any mix. A length outside [12, maxFrameBytes] is refused as soon as its
 * four bytes are in, before any body is buffered. A frame split across reads is held as
 * the chunks received and joined once complete, so what the decoder holds is what the
 * client actually sent, never what its length field claims. After the first error the
 * decoder is dead and ignores everything.
 */
export class FrameDecoder {
  /** The chunks of the frame being assembled across reads, and its size once whole. */
  private partial: Buffer[] | null = null;
  private partialSize = 0;
  private partialFilled = 0;
  /** Fewer than 4 bytes of a frame whose length is not yet known. */
  private tail: Buffer | null = null;
  private failed: StatusCode | null = null;

  constructor(
    private readonly maxFrameBytes: number,
    private readonly onFrame: FrameHandler,
  ) {
    // The gateway's sessions get at most MAX_FRAME_BYTES (the schema's bound); a client
    // decoding the gateway's answers may allow more, never more than one Buffer can hold.
    // Node 20 caps a Buffer at 2^32 bytes, Node 22+ at 2^53 - 1: the bound is the smaller
    // of the two, so the same maximum is accepted or refused on every supported Node (the
    // length field is a u32 anyway).
    const most = Math.min(constants.MAX_LENGTH, 2 ** 32) - 4;
    if (!Number.isInteger(maxFrameBytes) || maxFrameBytes < MIN_LENGTH || maxFrameBytes > most) {
      throw new RangeError(`maxFrameBytes must be an integer from ${MIN_LENGTH} to ${most}`);
    }
  }

  /** Bytes held for a frame not yet complete (what the client sent, not what it announced). */
  get buffered(): number {
    return this.partialFilled + (this.tail?.length ?? 0);
  }

  /** The status that stopped the decoder, or null while it is healthy. */
  get error(): StatusCode | null {
    return this.failed;
  }

  /** True when no partial frame is held. */
  get idle(): boolean {
    return this.partial === null && this.tail === null;
  }

  /**
   * Feeds one chunk. Returns null when all is well, or the status code of the protocol
   * error (BAD_FRAME, FRAME_TOO_LARGE, PROTOCOL_ERROR) that ends the connection.
   * Frames before the bad one in the same chunk are delivered first.
   */
  push(chunk: Buffer): StatusCode | null {
    if (this.failed !== null) return this.failed;
    let buf = chunk;
    let off = 0;

    if (this.tail !== null) {
      buf = Buffer.concat([this.tail, chunk]);
      this.tail = null;
    }

    if (this.partial !== null) {
      const take = Math.min(this.partialSize - this.partialFilled, buf.length);
      this.partial.push(take === buf.length ? buf : buf.subarray(0, take));
      this.partialFilled += take;
      off = take;
      if (this.partialFilled < this.partialSize) return null;
      const whole = Buffer.concat(this.partial, this.partialSize);
      this.partial = null;
      this.partialFilled = 0;
      const err = this.emit(whole, 0, whole.length - 4);
      if (err !== null) return err;
    }

    while (buf.length - off >= 4) {
      const length = buf.readUInt32BE(off);
      const err = this.check(length);
      if (err !== null) return err;
      const frameBytes = 4 + length;
      if (buf.length - off < frameBytes) {
        // Copied: the rest of this chunk may be small while the chunk itself is large.
        this.partial = [Buffer.from(buf.subarray(off))];
        this.partialSize = frameBytes;
        this.partialFilled = buf.length - off;
        return null;
      }
      const emitErr = this.emit(buf, off, length);
      if (emitErr !== null) return emitErr;
      off += frameBytes;
    }
    if (off < buf.length) this.tail = Buffer.from(buf.subarray(off));
    return null;
  }

  private check(length: number): StatusCode | null {
    if (length < MIN_LENGTH) return this.fail(Status.BAD_FRAME);
    if (length > this.maxFrameBytes) return this.fail(Status.FRAME_TOO_LARGE);
    return null;
  }

  private emit(buf: Buffer, off: number, length: number): StatusCode | null {
    if (buf[off + 5] !== 0) return this.fail(Status.PROTOCOL_ERROR);
    this.onFrame(
      buf[off + 4],
      buf.readUInt16BE(off + 6),
      buf.readUInt32BE(off + 8),
      buf.readUInt32BE(off + 12),
      buf.subarray(off + HEADER_BYTES, off + 4 + length),
    );
    // The handler may have killed the connection (e.g. a wrong frame type).
    return this.failed;
  }

  /** Marks the decoder dead; also used by the session when a decoded frame is illegal. */
  fail(status: StatusCode): StatusCode {
    this.failed ??= status;
    this.partial = null;
    this.partialFilled = 0;
    this.tail = null;
    return this.failed;
  }
}
