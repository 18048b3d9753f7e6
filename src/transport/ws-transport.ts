import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { type RawData, type WebSocket, WebSocketServer } from 'ws';
import type { Address } from '../config/schema.js';
import type { AcceptHandler, Connection, ConnectionEvents, Transport } from './connection.js';
import { type BoundAddress, listen } from './listen.js';
import type { ListenerTls } from './listener-tls.js';

const KEEPALIVE_INITIAL_DELAY_MS = 30_000;
/** The SPEC §3 length field: the frame is this many bytes plus the field itself. */
const LENGTH_FIELD_BYTES = 4;

export interface WsTransportOptions {
  /** limits.maxFrameBytes: a message may hold one frame of at most this length (+4 bytes). */
  maxFrameBytes: number;
  /** A TCP connection that has not completed the upgrade by then is destroyed (with TLS: counted from the TLS handshake's end). */
  handshakeTimeoutMs?: number;
  /** wss: the upgrade is read from TLS connections once their handshake is done. */
  tls?: ListenerTls | null;
}

export const DEFAULT_HANDSHAKE_TIMEOUT_MS = 10_000;

/**
 * A WebSocket as the session layer sees it: one SPEC §3 frame per binary message.
 *
 * Sessions write a frame either whole or as pieces (header, then body: `sendParts`), so
 * write() tracks where the current frame ends from its length field and sends the pieces
 * as fragments of one message (`fin` on the last) — no copy, and one frame per message.
 */
class WsConnection implements Connection {
  readonly transport = 'ws';
  /** Bytes of the current frame still to come from later write() calls. */
  private frameRemaining = 0;

  constructor(
    private readonly ws: WebSocket,
    private readonly socket: Duplex,
    readonly remoteAddress: string,
  ) {}

  get bufferedBytes(): number {
    return this.ws.bufferedAmount;
  }
  /** After the peer's close frame (or ours) ws drops what is sent: only an open socket takes more. */
  get writable(): boolean {
    return this.ws.readyState === this.ws.OPEN;
  }

  write(data: Buffer): void {
    let off = 0;
    while (off < data.length) {
      if (this.frameRemaining === 0) {
        // Sessions always write a frame's header in one piece, so its length field is here.
        this.frameRemaining = LENGTH_FIELD_BYTES + data.readUInt32BE(off);
      }
      const take = Math.min(this.frameRemaining, data.length - off);
      this.frameRemaining -= take;
      const piece = off === 0 && take === data.length ? data : data.subarray(off, off + take);
      this.ws.send(piece, { binary: true, fin: this.frameRemaining === 0 });
      off += take;
    }
  }

  // ws writes each WebSocket frame as header + payload with its own cork; ours wraps a
  // whole tick's frames, so they leave in one syscall as on TCP.
  cork(): void {
    this.socket.cork();
  }

  uncork(): void {
    this.socket.uncork();
  }

  end(): void {
    this.ws.close(1000);
  }

  destroy(): void {
    this.ws.terminate();
  }
}

/**
 * The WebSocket acceptor on `listen.ws`: any path is accepted, permessage-deflate is
 * off, and a message over limits.maxFrameBytes + 4 bytes is refused by ws itself (close
 * 1009, before it is buffered). Each message goes to the same Session as a TCP chunk
 * would; the session enforces one frame per message. Plain HTTP requests get 426.
 */
export class WsTransport implements Transport {
  readonly name = 'ws';
  private readonly server: Server;
  private readonly wss: WebSocketServer;
  /** Sockets not yet upgraded, each with the timer that destroys it. */
  private readonly pending = new Map<Socket, NodeJS.Timeout>();

  constructor(
    private readonly address: Address,
    onAccept: AcceptHandler,
    options: WsTransportOptions,
  ) {
    const handshakeTimeoutMs = options.handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS;
    this.wss = new WebSocketServer({
      noServer: true,
      perMessageDeflate: false,
      maxPayload: options.maxFrameBytes + LENGTH_FIELD_BYTES,
      clientTracking: false,
    });
    const tls = options.tls ?? null;
    this.server =
      tls === null
        ? createServer(upgradeRequired)
        : (tls.serve((secure) => createHttpsServer(secure, upgradeRequired)) as unknown as Server);
    this.server.on(tls === null ? 'connection' : 'secureConnection', (socket: Socket) => {
      socket.setNoDelay(true);
      socket.setKeepAlive(true, KEEPALIVE_INITIAL_DELAY_MS);
      const timer = setTimeout(() => socket.destroy(), handshakeTimeoutMs);
      timer.unref();
      this.pending.set(socket, timer);
      socket.once('close', () => this.settle(socket));
    });
    this.server.on('clientError', (_err: Error, socket: Duplex) => socket.destroy());
    this.server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      this.wss.handleUpgrade(req, socket, head, (ws) => {
        this.settle(socket as Socket);
        const connection = new WsConnection(ws, socket, req.socket.remoteAddress ?? '');
        // Errors (a bad frame from the peer, a reset) are followed by 'close'; the session acts on that.
        ws.on('error', noop);
        onAccept(connection, (events: ConnectionEvents) => {
          // The session takes `isBinary` as its second argument (one frame per binary message).
          const feed: (chunk: Buffer, isBinary: boolean) => void = events.data;
          ws.on('message', (data: RawData, isBinary: boolean) => feed(data as Buffer, isBinary));
          ws.on('close', events.close);
        });
      });
    });
  }

  private settle(socket: Socket): void {
    const timer = this.pending.get(socket);
    if (timer === undefined) return;
    clearTimeout(timer);
    this.pending.delete(socket);
  }

  listen(): Promise<BoundAddress> {
    return listen(this.server, this.address);
  }

  /**
   * Stops accepting and drops connections still in the handshake. Upgraded connections
   * stay until their sessions close them, so this does not wait for them.
   */
  close(): Promise<void> {
    if (this.server.listening) this.server.close();
    for (const [socket, timer] of this.pending) {
      clearTimeout(timer);
      socket.destroy();
    }
    this.pending.clear();
    return Promise.resolve();
  }
}

function upgradeRequired(_req: IncomingMessage, res: ServerResponse): void {
  res.writeHead(426, { connection: 'close', upgrade: 'websocket', 'content-type': 'text/plain' });
  res.end('this port speaks WebSocket only\n');
}

function noop(): void {}
