/** The shapes the client SDK hands to the game: HELLO, pushes, kicks, events, options. */
import type { WebSocketConstructor } from './socket.js';

/** A frame body: strings are sent as UTF-8. */
export type Body = string | Uint8Array;

/** The HELLO the gateway sends first on every connection (docs/protocol.md). */
export interface Hello {
  sessionId: string;
  node: string;
  heartbeatMs: number;
  maxFrameBytes: number;
}

/** A PUSH: `seq` is the player's push sequence (1, 2, 3, …), 0 for an unbound session. */
export interface Push {
  cmd: number;
  seq: number;
  body: Uint8Array;
}

/** A KICK: the gateway closes the connection right after it. */
export interface Kick {
  status: number;
  /** The status name, e.g. `KICKED`, `REPLACED`, `IDLE_TIMEOUT`. */
  error: string;
  message: string;
}

/** Push sequence numbers skipped (or restarted): some pushes were lost, e.g. an offline queue overflowed. */
export interface Gap {
  expected: number;
  got: number;
}

/** Why a connection ended: the KICK before the close, and/or the socket failure. */
export interface DisconnectCause {
  kick: Kick | null;
  error: Error | null;
}

export interface DisconnectInfo extends DisconnectCause {
  /** True when the client will try to reconnect. */
  reconnecting: boolean;
}

export type CloseInfo = DisconnectCause;

export interface ClientEvents {
  push: (push: Push) => void;
  kick: (kick: Kick) => void;
  /** Emitted before the `push` whose seq is not the one expected. */
  gap: (gap: Gap) => void;
  /** Every time a connection ends (then `reconnecting` or `close` follows). */
  disconnect: (info: DisconnectInfo) => void;
  /** A reconnect attempt is scheduled in `delayMs`. */
  reconnecting: (info: { attempt: number; delayMs: number }) => void;
  /** Connected again, and `onReconnect` finished. */
  reconnect: (info: { attempt: number; hello: Hello }) => void;
  /** The client is finished: close() was called, or the connection ended without a reconnect. */
  close: (info: CloseInfo) => void;
  /** An `onReconnect` callback failed (the client then tries again). */
  error: (err: Error) => void;
}

export interface ReconnectOptions {
  /** First delay, doubled per failed attempt up to maxMs, with jitter (a random half of it). */
  minMs?: number;
  maxMs?: number;
  /** Attempts per disconnection before giving up (then `close`). Default: no limit. */
  maxAttempts?: number;
  /**
   * Whether to reconnect after this disconnection. Default: `shouldReconnectByDefault`
   * (docs/client.md): after network loss and the KICKs that end a healthy session
   * (IDLE_TIMEOUT, SERVER_SHUTDOWN, SLOW_CONSUMER, AUTH_TIMEOUT), never after a decision
   * (KICKED, REPLACED, auth failures) or a protocol error.
   */
  shouldReconnect?: (info: DisconnectCause) => boolean;
}

/** The options of connect(), for a client type `Client` (GatewayClient: see ConnectOptions in client.ts). */
export interface ClientOptions<Client> {
  /** Socket open + HELLO; default 10 000. */
  connectTimeoutMs?: number;
  /** A request without RESPONSE by then rejects with REQUEST_TIMEOUT; default 30 000, 0 = never. */
  requestTimeoutMs?: number;
  /** Send PING after HELLO.heartbeatMs without sending anything; default true. */
  heartbeat?: boolean;
  /** No frame from the gateway for this long (PONGs included) → the connection is dropped. Default 3 × heartbeatMs, 0 = never. */
  deadAfterMs?: number;
  /** Reconnect when the connection is lost: true for the defaults (minMs 500, maxMs 30 000). */
  reconnect?: ReconnectOptions | boolean;
  /** Runs after every reconnect, before `reconnect` is emitted: log in again here. A rejection drops the connection and retries. */
  onReconnect?: (client: Client) => unknown;
  /** The last push seq the app handled (e.g. persisted), so a gap is seen from the first push. */
  lastPushSeq?: number;
  /** A WebSocket implementation for ws://; default: the global one, else the `ws` package. */
  WebSocket?: WebSocketConstructor;
  /** Largest frame accepted from the gateway on tcp://; default 64 MiB. */
  maxIncomingFrameBytes?: number;
  /**
   * tls:// and wss:// in Node: the CA certificate(s), PEM, that the gateway's certificate
   * must chain to (a private CA); default: Node's list. Browsers use the system's.
   */
  ca?: string | Uint8Array;
  /** tls:// and wss:// in Node: a client certificate and its key, PEM, for a gateway that requires one (listen.tls.ca). */
  cert?: string | Uint8Array;
  key?: string | Uint8Array;
}

export type ClientState = 'connecting' | 'open' | 'reconnecting' | 'closed';
