import { encodeFrame, type Frame, FrameType } from '../../src/protocol/frame.js';
import { Cmd } from './cmds.js';

export interface Hello {
  sessionId: string;
  node: string;
  heartbeatMs: number;
  maxFrameBytes: number;
}

/**
 * What every bare test client shares, whatever carries its frames: received frames kept
 * until a test takes them, waits for the next matching frame, requests matched by seq,
 * and the close. Subclasses only move bytes (TCP stream or WebSocket messages).
 */
export abstract class RawPeer {
  readonly frames: Frame[] = [];
  closed = false;
  hello!: Hello;
  private waiters: Array<{ match: (f: Frame) => boolean; resolve: (f: Frame) => void }> = [];
  private closeWaiters: Array<() => void> = [];
  private nextSeq = 1;

  /** TCP: bytes on the stream. WebSocket: one binary message. */
  abstract writeRaw(bytes: Buffer): void;
  abstract close(): void;

  /** Called by the subclass for every decoded frame. */
  /** When each frame arrived (performance.now()). */
  readonly arrivedAt = new WeakMap<Frame, number>();

  protected deliver(frame: Frame): void {
    this.arrivedAt.set(frame, performance.now());
    const i = this.waiters.findIndex((w) => w.match(frame));
    if (i >= 0) this.waiters.splice(i, 1)[0].resolve(frame);
    else this.frames.push(frame);
  }

  /** Called by the subclass once the connection is gone. */
  protected closedNow(): void {
    this.closed = true;
    for (const w of this.closeWaiters) w();
  }

  /** Waits for HELLO and keeps its body; the first thing a subclass's connect() does. */
  protected async readHello(): Promise<void> {
    const hello = await this.nextOfType(FrameType.HELLO);
    this.hello = JSON.parse(hello.body.toString());
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

  send(type: number, cmd: number, seq: number, body: Buffer | string = ''): void {
    this.writeRaw(encodeFrame(type as FrameType, 0, cmd, seq, Buffer.from(body)));
  }

  /** Sends a REQUEST and waits for its RESPONSE. */
  request(cmd: number, body: Buffer | string = '', timeoutMs?: number): Promise<Frame> {
    const seq = this.nextSeq++;
    this.send(FrameType.REQUEST, cmd, seq, body);
    return this.next((f) => f.type === FrameType.RESPONSE && f.seq === seq, timeoutMs);
  }

  /** Logs in as `player` through the test backend's cmd 1. */
  login(player: string): Promise<Frame> {
    return this.request(Cmd.LOGIN, player);
  }

  waitClosed(timeoutMs = 5_000): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.closeWaiters.push(resolve);
      setTimeout(() => reject(new Error('connection still open')), timeoutMs).unref();
    });
  }
}

export function json(frame: Frame): Record<string, unknown> {
  return JSON.parse(frame.body.toString());
}
