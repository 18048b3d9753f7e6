import { HEADER_BYTES, MIN_LENGTH } from './frame.js';
import { Status, type StatusCode } from './status.js';

/**
 * Called once per complete frame. `body` is a view into the socket's chunk whenever the
 * frame arrived whole (no copy); it stays valid because Node never reuses read chunks.
 */
export type FrameHandler = (type: number, status: number, cmd: number, seq: number, body: Buffer) => void;

/**
 * Streaming decoder for the SPEC §3 byte stream: frames split across reads, many frames
 * in one read, any mix. A length outside [12, maxFrameBytes] is refused as soon as its
 * four bytes are in, before any body is buffered, so a hostile length cannot make the
 * gateway allocate. After the first error the decoder is dead and ignores everything.
 */
export class FrameDecoder {
  /** The frame being assembled across reads (exact size, allocated once its length is known). */
  private partial: Buffer | null = null;
  private partialFilled = 0;
  /** Fewer than 4 bytes of a frame whose length is not yet known. */
  private tail: Buffer | null = null;
  private failed: StatusCode | null = null;

  constructor(
    private readonly maxFrameBytes: number,
    private readonly onFrame: FrameHandler,
  ) {}

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
      const want = this.partial.length - this.partialFilled;
      const take = Math.min(want, buf.length);
      buf.copy(this.partial, this.partialFilled, 0, take);
      this.partialFilled += take;
      off = take;
      if (this.partialFilled < this.partial.length) return null;
      const whole = this.partial;
      this.partial = null;
      const err = this.emit(whole, 0, whole.length - 4);
      if (err !== null) return err;
    }

    while (buf.length - off >= 4) {
      const length = buf.readUInt32BE(off);
      const err = this.check(length);
      if (err !== null) return err;
      const frameBytes = 4 + length;
      if (buf.length - off < frameBytes) {
        this.partial = Buffer.allocUnsafe(frameBytes);
        this.partialFilled = buf.copy(this.partial, 0, off);
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
    this.tail = null;
    return this.failed;
  }
}
