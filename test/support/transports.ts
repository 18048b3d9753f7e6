import WebSocket from 'ws';
import type { GatewayConfigInput } from '../../src/config/schema.js';
import { FrameDecoder } from '../../src/protocol/frame-decoder.js';
import { type Running, startGateway } from './gateway-fixture.js';
import { api } from './push-api.js';
import { RawClient } from './raw-client.js';
import { RawPeer } from './raw-peer.js';

export { RawPeer };

export type TransportKind = 'tcp' | 'ws';
export const TRANSPORTS: TransportKind[] = ['tcp', 'ws'];

/**
 * A bare WebSocket client with RawClient's interface: one binary message per frame out,
 * each message in decoded as exactly one frame (a message that is not one whole frame
 * fails the test loudly). Nothing clever, like RawClient.
 */
export class RawWsClient extends RawPeer {
  /** The close code the gateway sent, once closed. */
  closeCode: number | null = null;
  /** Messages seen, with their size: a large frame must still arrive as one message. */
  readonly messageSizes: number[] = [];

  private constructor(readonly ws: WebSocket) {
    super();
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
      this.closeCode = code;
      this.closedNow();
    });
  }

  static async connect(port: number, path = '/', host = '127.0.0.1'): Promise<RawWsClient> {
    const ws = new WebSocket(`ws://${host}:${port}${path}`, { perMessageDeflate: false });
    const client = new RawWsClient(ws);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
    });
    await client.readHello();
    return client;
  }

  writeRaw(bytes: Buffer): void {
    this.ws.send(bytes, { binary: true });
  }

  sendText(text: string): void {
    this.ws.send(text, { binary: false });
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

/** POSTs JSON to the gateway's API and returns the parsed answer; anything but 200 throws. */
export async function postOk(gw: Running, path: string, body: unknown): Promise<Record<string, unknown>> {
  const r = await api(gw, 'POST', path, body);
  if (r.status !== 200) throw new Error(`${path} answered ${r.status}: ${JSON.stringify(r.body)}`);
  return r.body as Record<string, unknown>;
}
