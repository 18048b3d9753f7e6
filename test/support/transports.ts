import WebSocket from 'ws';
import type { GatewayConfigInput } from '../../src/config/schema.js';
import { encodeFrame, type Frame, FrameType } from '../../src/protocol/frame.js';
import { FrameDecoder } from '../../src/protocol/frame-decoder.js';
import { type Running, startGateway } from './gateway-fixture.js';
import { RawClient } from './raw-client.js';

export type TransportKind = 'tcp' | 'ws';
export const TRANSPORTS: TransportKind[] = ['tcp', 'ws'];

/** What the shared protocol tests need from a bare client, whatever carries its frames. */
export interface RawPeer {
  readonly frames: Frame[];
  readonly closed: boolean;
  hello: { sessionId: string; node: string; heartbeatMs: number; maxFrameBytes: number };
  next(match?: (f: Frame) => boolean, timeoutMs?: number): Promise<Frame>;
  nextOfType(type: number, timeoutMs?: number): Promise<Frame>;
  /** TCP: bytes on the stream. WebSocket: one binary message. */
  writeRaw(bytes: Buffer): void;
  send(type: number, cmd: number, seq: number, body?: Buffer | string): void;
  request(cmd: number, body?: Buffer | string, timeoutMs?: number): Promise<Frame>;
  login(player: string): Promise<Frame>;
  waitClosed(timeoutMs?: number): Promise<void>;
  close(): void;
}

/**
 * A bare WebSocket client with RawClient's interface: one binary message per frame out,
 * each message in decoded as exactly one frame (a message that is not one whole frame
 * fails the test loudly). Nothing clever, like RawClient.
 */
export class RawWsClient implements RawPeer {
  readonly frames: Frame[] = [];
  closed = false;
  /** The close code and reason the gateway sent, once closed. */
  closeCode: number | null = null;
  /** Messages seen, with their size: a large frame must still arrive as one message. */
  readonly messageSizes: number[] = [];
  hello!: { sessionId: string; node: string; heartbeatMs: number; maxFrameBytes: number };
  private waiters: Array<{ match: (f: Frame) => boolean; resolve: (f: Frame) => void }> = [];
  private closeWaiters: Array<() => void> = [];
  private nextSeq = 1;

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (!isBinary) throw new Error('the gateway sent a text message');
      this.messageSizes.push(data.length);
      let frames = 0;
      const decoder = new FrameDecoder(64 * 1024 * 1024, (type, status, cmd, seq, body) => {
        frames++;
        this.deliver({ type, flags: 0, status, cmd, seq, body: Buffer.from(body) });
      });
      const error = decoder.push(data);
      if (error !== null || frames !== 1 || !decoder.idle)
        throw new Error('a message did not hold exactly one frame');
    });
    ws.on('error', () => {});
    ws.on('close', (code: number) => {
      this.closed = true;
      this.closeCode = code;
      for (const w of this.closeWaiters) w();
    });
  }

  static async connect(port: number, path = '/', host = '127.0.0.1'): Promise<RawWsClient> {
    const ws = new WebSocket(`ws://${host}:${port}${path}`, { perMessageDeflate: false });
    const client = new RawWsClient(ws);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
    });
    const hello = await client.next((f) => f.type === FrameType.HELLO);
    client.hello = JSON.parse(hello.body.toString());
    return client;
  }

  private deliver(frame: Frame): void {
    this.frames.push(frame);
    const i = this.waiters.findIndex((w) => w.match(frame));
    if (i >= 0) {
      const [w] = this.waiters.splice(i, 1);
      this.frames.splice(this.frames.indexOf(frame), 1);
      w.resolve(frame);
    }
  }

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
    this.ws.send(bytes, { binary: true });
  }

  sendText(text: string): void {
    this.ws.send(text, { binary: false });
  }

  send(type: number, cmd: number, seq: number, body: Buffer | string = ''): void {
    this.writeRaw(encodeFrame(type as FrameType, 0, cmd, seq, Buffer.from(body)));
  }

  async request(cmd: number, body: Buffer | string = '', timeoutMs?: number): Promise<Frame> {
    const seq = this.nextSeq++;
    this.send(FrameType.REQUEST, cmd, seq, body);
    return this.next((f) => f.type === FrameType.RESPONSE && f.seq === seq, timeoutMs);
  }

  login(player: string): Promise<Frame> {
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
    this.ws.terminate();
  }
}

/** A gateway listening on both TCP and WebSocket, with both ports at hand. */
export interface RunningBoth extends Running {
  wsPort: number;
  /** `tcp://…` or `ws://…/game` for the SDK. */
  url(kind: TransportKind): string;
  port(kind: TransportKind): number;
}

export async function startGatewayBoth(
  backendUrl: string | null,
  overrides: Partial<GatewayConfigInput> = {},
  level = 'debug',
): Promise<RunningBoth> {
  const running = await startGateway(
    backendUrl,
    { listen: { tcp: '127.0.0.1:0', ws: '127.0.0.1:0', api: '127.0.0.1:0' }, ...overrides },
    level,
  );
  const wsPort = Number(running.gateway.addresses!.ws!.split(':').pop());
  return {
    ...running,
    wsPort,
    port: (kind) => (kind === 'tcp' ? running.tcpPort : wsPort),
    url: (kind) => (kind === 'tcp' ? `tcp://127.0.0.1:${running.tcpPort}` : `ws://127.0.0.1:${wsPort}/game`),
  };
}

/** A raw client of either kind, connected and past HELLO. */
export function openRaw(gw: RunningBoth, kind: TransportKind): Promise<RawPeer> {
  return kind === 'tcp' ? RawClient.connect(gw.tcpPort) : RawWsClient.connect(gw.wsPort);
}

/** POSTs JSON to the gateway's API and returns the parsed answer. */
export async function api(gw: Running, path: string, body: unknown): Promise<Record<string, unknown>> {
  const res = await fetch(`${gw.apiUrl}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (res.status !== 200) throw new Error(`${path} answered ${res.status}: ${await res.text()}`);
  return (await res.json()) as Record<string, unknown>;
}

export async function getJson(
  gw: Running,
  path: string,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${gw.apiUrl}${path}`);
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}
