import { createServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import type { Address } from '../config/schema.js';
import type { AcceptHandler, Connection, ConnectionEvents, Transport } from './connection.js';
import { type BoundAddress, listen } from './listen.js';
import type { ListenerTls } from './listener-tls.js';

const KEEPALIVE_INITIAL_DELAY_MS = 30_000;

class TcpConnection implements Connection {
  readonly transport = 'tcp';
  readonly remoteAddress: string;
  constructor(private readonly socket: Socket) {
    this.remoteAddress = socket.remoteAddress ?? '';
  }
  get bufferedBytes(): number {
    return this.socket.writableLength;
  }
  /** A FIN from the peer ends this side too (allowHalfOpen is off): writes after it are lost. */
  get writable(): boolean {
    return this.socket.writable;
  }
  write(frame: Buffer): void {
    this.socket.write(frame);
  }
  cork(): void {
    this.socket.cork();
  }
  uncork(): void {
    this.socket.uncork();
  }
  end(): void {
    this.socket.end();
  }
  destroy(): void {
    this.socket.destroy();
  }
}

/**
 * The TCP acceptor: frames back to back on a byte stream; no-delay and keep-alive on.
 * With `tls`, the stream is TLS over TCP and a connection is accepted once its handshake
 * is done (a TLSSocket is a Socket: the connection and the session are the same).
 */
export class TcpTransport implements Transport {
  readonly name = 'tcp';
  private readonly server: Server;

  constructor(
    private readonly address: Address,
    onAccept: AcceptHandler,
    tls: ListenerTls | null = null,
  ) {
    const options = { noDelay: true, keepAlive: true, keepAliveInitialDelay: KEEPALIVE_INITIAL_DELAY_MS };
    this.server =
      tls === null
        ? createServer(options)
        : tls.serve((secure) => createTlsServer({ ...options, ...secure }));
    this.server.on(tls === null ? 'connection' : 'secureConnection', (socket: Socket) => {
      // A reset from the peer arrives as 'error' then 'close'; the session acts on 'close'.
      socket.on('error', noop);
      const connection = new TcpConnection(socket);
      onAccept(connection, (events: ConnectionEvents) => {
        socket.on('data', events.data);
        socket.on('close', events.close);
      });
    });
  }

  listen(): Promise<BoundAddress> {
    return listen(this.server, this.address);
  }

  /** Stops accepting at once. (server.close's callback would wait for every open connection.) */
  async close(): Promise<void> {
    if (this.server.listening) this.server.close();
  }
}

function noop(): void {}
