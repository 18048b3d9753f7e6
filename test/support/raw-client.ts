import { connect, type Socket } from 'node:net';
import { encodeFrame, type Frame, FrameType } from '../../src/protocol/frame.js';
import { FrameDecoder } from '../../src/protocol/frame-decoder.js';

/**
 * A bare TCP client for tests: writes raw bytes or frames, decodes what comes back,
 * and lets a test await the next frame of a kind. Nothing here is clever on purpose.
 */
export class RawClient {
  readonly frames: Frame[] = [];
  closed = false;
  private waiters: Array<{ match: (f: Frame) => boolean; resolve: (f: Frame) => void }> = [];
  private closeWaiters: Array<() => void> = [];
  private nextSeq = 1;
  hello!: { sessionId: string; node: string; heartbeatMs: number; maxFrameBytes: number };

  private constructor(readonly socket: Socket) {
    const decoder = new FrameDecoder(64 * 1024 * 1024, (type, status, cmd, seq, body) => {
      const frame = { type, flags: 0, status, cmd, seq, body: Buffer.from(body) };
      this.frames.push(frame);
      const i = this.waiters.findIndex((w) => w.match(frame));
      if (i >= 0) {
        const [w] = this.waiters.splice(i, 1);
        this.frames.splice(this.frames.indexOf(frame), 1);
        w.resolve(frame);
      }
    });
    socket.on('data', (chunk) => decoder.push(chunk));
    socket.on('error', () => {});
    socket.on('close', () => {
      this.closed = true;
      for (const w of this.closeWaiters) w();
    });
  }

  static async connect(port: number, host = '127.0.0.1'): Promise<RawClient> {
    const socket = connect({ port, host });
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    const client = new RawClient(socket);
    const hello = await client.next((f) => f.type === FrameType.HELLO);
    client.hello = JSON.parse(hello.body.toString());
    return client;
  }

  /** Resolves with the first frame (already received or future) that matches. */
  next(match: (f: Frame) => boolean = () => true, timeoutMs = 5_000): Promise<Frame> {
    const i = this.frames.findIndex(match);
    if (i >= 0) return Promise.resolve(this.frames.splice(i, 1)[0]);
    return new Promise((resolve, reject) => {
      const waiter = { match, resolve };
      this.waiters.push(waiter);
      setTimeout(() => {
        const at = this.waiters.indexOf(waiter);
        if (at >= 0) {
          this.waiters.splice(at, 1);
          reject(new Error(`no matching frame within ${timeoutMs} ms`));
        }
      }, timeoutMs).unref();
    });
  }

  nextOfType(type: number, timeoutMs?: number): Promise<Frame> {
    return this.next((f) => f.type === type, timeoutMs);
  }

  writeRaw(bytes: Buffer): void {
    this.socket.write(bytes);
  }

  send(type: number, cmd: number, seq: number, body: Buffer | string = ''): void {
    this.socket.write(encodeFrame(type as FrameType, 0, cmd, seq, Buffer.from(body)));
  }

  /** Sends a REQUEST and waits for its RESPONSE. */
  async request(cmd: number, body: Buffer | string = '', timeoutMs?: number): Promise<Frame> {
    const seq = this.nextSeq++;
    this.send(FrameType.REQUEST, cmd, seq, body);
    return this.next((f) => f.type === FrameType.RESPONSE && f.seq === seq, timeoutMs);
  }

  /** Logs in as `player` through the test backend's cmd 1. */
  async login(player: string): Promise<Frame> {
    return this.request(1, player);
  }

  waitClosed(timeoutMs = 5_000): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.closeWaiters.push(resolve);
      setTimeout(() => reject(new Error('connection still open')), timeoutMs).unref();
    });
  }

  close(): void {
    this.socket.destroy();
  }
}

export function json(frame: Frame): Record<string, unknown> {
  return JSON.parse(frame.body.toString());
}
