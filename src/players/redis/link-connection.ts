import type { Socket } from 'node:net';

/** The version both ends of a node link must speak; a HELLO of another one is refused. */
export const LINK_VERSION = 1;
/** Frame types: HELLO (version, node id, token one way; version, node id back), MESSAGE. */
export const LinkFrame = { HELLO: 1, MESSAGE: 2 } as const;
/** Largest frame taken in; a peer sending more is cut off (a DIRECT message is ≤ ~300 KiB). */
export const LINK_MAX_FRAME_BYTES = 8 * 1024 * 1024;
/** Largest frame taken before the HELLOs are through (a HELLO is some 60 bytes). */
const MAX_HELLO_BYTES = 512;
/** Output queued on a link past which it takes no more messages (they go over Redis). */
export const LINK_MAX_BUFFERED_BYTES = 4 * 1024 * 1024;

/** Frame: u32 length of what follows, u8 type, payload. MESSAGE payload: f64 deadline, cluster message. */
const HEADER_BYTES = 5;
const DEADLINE_BYTES = 8;

export interface LinkHandlers {
  hello(conn: LinkConnection, text: string): void;
  /** A cluster message; `deadline` (Redis' clock, ms; 0: none) past which it must not be applied. */
  message(conn: LinkConnection, deadline: number, message: Buffer): void;
  /** The connection closed; `wasReady`: after its HELLOs were through. */
  close(conn: LinkConnection, wasReady: boolean): void;
}

/**
 * One TCP connection of a node link (node-links.ts), either end: length-prefixed frames
 * in and out. `peer` is the node at the other end once the HELLOs are through, and only
 * then `ready`. A frame over LINK_MAX_FRAME_BYTES or of an unknown type ends it.
 */
export class LinkConnection {
  peer = '';
  ready = false;
  /** Input not yet a whole frame, and how many bytes the next one needs. */
  private chunks: Buffer[] = [];
  private buffered = 0;
  private needed = HEADER_BYTES;

  constructor(
    readonly socket: Socket,
    /** True for a connection this node accepted (the peer dialed it). */
    readonly incoming: boolean,
    private readonly handlers: LinkHandlers,
  ) {
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.read(chunk));
    socket.on('error', () => socket.destroy());
    socket.on('close', () => {
      const wasReady = this.ready;
      this.ready = false;
      handlers.close(this, wasReady);
    });
  }

  /** Ready, open, and not holding more than LINK_MAX_BUFFERED_BYTES of unsent output. */
  get usable(): boolean {
    return this.ready && !this.socket.destroyed && this.socket.writableLength < LINK_MAX_BUFFERED_BYTES;
  }

  hello(text: string): void {
    const payload = Buffer.from(text);
    const head = Buffer.allocUnsafe(HEADER_BYTES);
    head.writeUInt32BE(1 + payload.length, 0);
    head[4] = LinkFrame.HELLO;
    this.socket.write(Buffer.concat([head, payload]));
  }

  send(deadline: number, message: Buffer): void {
    // One buffer, one write (and over TLS one record): copying the message is cheaper than
    // a second write.
    const frame = Buffer.allocUnsafe(HEADER_BYTES + DEADLINE_BYTES + message.length);
    frame.writeUInt32BE(1 + DEADLINE_BYTES + message.length, 0);
    frame[4] = LinkFrame.MESSAGE;
    frame.writeDoubleBE(deadline, HEADER_BYTES);
    message.copy(frame, HEADER_BYTES + DEADLINE_BYTES);
    this.socket.write(frame);
  }

  close(): void {
    this.socket.destroy();
  }

  private read(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    // A frame arriving in many chunks is joined once, when it is whole.
    if (this.buffered < this.needed) return;
    let buf = this.chunks.length === 1 ? chunk : Buffer.concat(this.chunks, this.buffered);
    this.chunks = [];
    this.buffered = 0;
    this.needed = HEADER_BYTES;
    while (buf.length >= HEADER_BYTES) {
      const length = buf.readUInt32BE(0);
      // Before the HELLOs only a HELLO fits: a dialer that has not proved itself buffers little.
      if (length < 1 || length > (this.ready ? LINK_MAX_FRAME_BYTES : MAX_HELLO_BYTES)) {
        this.socket.destroy();
        return;
      }
      if (buf.length < 4 + length) {
        this.needed = 4 + length;
        break;
      }
      const type = buf[4];
      const payload = buf.subarray(HEADER_BYTES, 4 + length);
      buf = buf.subarray(4 + length);
      if (type === LinkFrame.HELLO) this.handlers.hello(this, payload.toString());
      else if (type === LinkFrame.MESSAGE && this.ready && payload.length > DEADLINE_BYTES)
        this.handlers.message(this, payload.readDoubleBE(0), payload.subarray(DEADLINE_BYTES));
      else {
        // A message before the HELLOs, or a type this version does not know.
        this.socket.destroy();
        return;
      }
      if (this.socket.destroyed) return;
    }
    if (buf.length > 0) {
      this.chunks.push(buf);
      this.buffered = buf.length;
    }
  }
}
