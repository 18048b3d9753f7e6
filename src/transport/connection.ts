/**
 * One client connection as the session layer sees it, whatever carries it (TCP or
 * WebSocket). The acceptors adapt their sockets to this; sessions never touch a socket.
 */
export interface Connection {
  readonly transport: 'tcp' | 'ws';
  readonly remoteAddress: string;
  /** Bytes accepted by write() and not yet handed to the kernel. */
  readonly bufferedBytes: number;
  /**
   * False once nothing more written would reach the peer: it closed its side (a TCP FIN,
   * a WebSocket close frame: the connection then ends once what is queued is sent), or
   * end() / destroy() was called. What was queued before still goes out.
   */
  readonly writable: boolean;
  /**
   * Queues bytes of the frame being written: a whole frame, or its header then its body
   * in two calls (a large body is not copied). On a stream transport frames go back to
   * back; the WebSocket connection sends the parts of one frame as one message.
   */
  write(frame: Buffer): void;
  /** Holds writes until uncork(), so one tick's frames leave in one syscall. */
  cork(): void;
  uncork(): void;
  /** Flushes what is queued, then closes. */
  end(): void;
  /** Closes now, dropping what is queued. */
  destroy(): void;
}

/** What a connection reports to its session. Whole frames on WS, arbitrary chunks on TCP. */
export interface ConnectionEvents {
  /** `isBinary` is false for a WebSocket text message (a protocol error); TCP never sets it. */
  data(chunk: Buffer, isBinary?: boolean): void;
  close(): void;
}

/** An acceptor: listens on one address and hands each new connection to `onConnection`. */
export interface Transport {
  readonly name: 'tcp' | 'ws';
  /** Binds and resolves with the address actually bound (port 0 picks one). */
  listen(): Promise<{ host: string; port: number }>;
  /** Stops accepting; open connections stay until their sessions close them. */
  close(): Promise<void>;
}

export type AcceptHandler = (connection: Connection, bind: (events: ConnectionEvents) => void) => void;
