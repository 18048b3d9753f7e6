import type { GatewayMetrics } from '../metrics/metrics.js';
import {
  encodeFrame,
  encodeHeader,
  errorBody,
  FrameType,
  HEADER_BYTES,
  MAX_PING_BODY_BYTES,
} from '../protocol/frame.js';
import { FrameDecoder } from '../protocol/frame-decoder.js';
import { Status, type StatusCode, statusLabel, statusRow } from '../protocol/status.js';
import type { Connection } from '../transport/connection.js';
import { currentTurn, type Flushable, flushAtEndOfTick } from './write-flusher.js';

export const SessionState = { CONNECTED: 'connected', AUTHED: 'authed', CLOSED: 'closed' } as const;
export type SessionState = (typeof SessionState)[keyof typeof SessionState];

/** The limits a session enforces itself; one shared object, so a session carries only a pointer. */
export interface SessionLimits {
  readonly maxFrameBytes: number;
  readonly maxWriteBufferBytes: number;
}

/** What a session needs from the node around it (one instance shared by all sessions). */
export interface SessionHost {
  readonly limits: SessionLimits;
  readonly metrics: GatewayMetrics;
  /** A REQUEST or NOTIFY frame arrived. `body` is a view into the read it came in; it stays valid. */
  onRequest(session: Session, type: number, cmd: number, seq: number, body: Buffer): void;
  /** The connection is gone (after a KICK or not). Called exactly once. */
  onClosed(session: Session): void;
}

/** How long a kicked connection may take to read its KICK before it is destroyed. */
const KICK_LINGER_MS = 2_000;

/**
 * One client connection: decodes its frames, answers PINGs, hands requests to the host,
 * and owns its write path (coalesced per event-loop turn, bounded by limits.maxWriteBufferBytes).
 * State: connected → authed (bound to a player) → closed. It holds no timers: the
 * SessionManager's single sweep judges heartbeats and auth timeouts for all sessions.
 */
export class Session implements Flushable {
  private currentState: SessionState = SessionState.CONNECTED;
  private boundPlayer: string | null = null;
  /** Last time (ms) a frame arrived from the client: the only liveness signal. */
  lastFrameAt: number;
  readonly connectedAt: number;
  private isClosing = false;

  private corked = false;
  /** The write turn of the last frame written (see write-flusher.ts). */
  private writeTurn = -1;
  private readonly decoder: FrameDecoder;
  private stateMap: Map<string, unknown> | null = null;

  constructor(
    readonly id: string,
    readonly connection: Connection,
    private readonly host: SessionHost,
  ) {
    const now = Date.now();
    this.lastFrameAt = now;
    this.connectedAt = now;
    this.decoder = new FrameDecoder(host.limits.maxFrameBytes, this.onFrame);
  }

  /** connected → authed (bound to a player) → closed; moved only by the SessionManager. */
  get state(): SessionState {
    return this.currentState;
  }

  /** The player this session is bound to; set only by the SessionManager's transitions. */
  get playerId(): string | null {
    return this.boundPlayer;
  }

  /**
   * True once a KICK was sent, the connection closed, or the peer closed its side (a
   * write would be lost): nothing more is read or written, and pushes for its player
   * are treated as for an offline one.
   */
  get closing(): boolean {
    return this.isClosing || !this.connection.writable;
  }

  /** For the SessionManager only: the state transition and the player it names. */
  moveTo(state: SessionState, playerId: string | null): void {
    this.currentState = state;
    this.boundPlayer = playerId;
  }

  get remoteAddress(): string {
    return this.connection.remoteAddress;
  }

  /** Per-session storage for plugins, created on first use so idle sessions stay small. */
  get data(): Map<string, unknown> {
    this.stateMap ??= new Map();
    return this.stateMap;
  }

  /**
   * Feeds bytes from the connection: a TCP chunk, or one WebSocket message (`isBinary`
   * is given by the WebSocket acceptor only). A WebSocket message must hold exactly one
   * binary frame (SPEC §3), so its checks live here, beside the decoder they extend.
   */
  readonly onData = (chunk: Buffer, isBinary?: boolean): void => {
    if (this.closing) return;
    this.host.metrics.bytesIn.value += chunk.length;
    if (this.connection.transport === 'ws') {
      this.onMessage(chunk, isBinary !== false);
      return;
    }
    const error = this.decoder.push(chunk);
    if (error !== null) this.kick(error);
  };

  /**
   * One WebSocket message: a text message is a PROTOCOL_ERROR; a message holding less or
   * more than one whole frame is a BAD_FRAME, and nothing in it is forwarded. Length,
   * type and flags errors of the frame itself are the decoder's, as on TCP.
   */
  private onMessage(message: Buffer, isBinary: boolean): void {
    if (!isBinary) {
      this.protocolError(Status.PROTOCOL_ERROR, 'text message: frames travel in binary messages');
      return;
    }
    // Checked before decoding, so a valid first frame is not forwarded ahead of the kick.
    if (message.length < 4 || message.length > 4 + message.readUInt32BE(0)) {
      this.protocolError(Status.BAD_FRAME, 'a WebSocket message must hold exactly one frame');
      return;
    }
    const error = this.decoder.push(message);
    if (error !== null) this.kick(error);
    else if (!this.decoder.idle)
      this.protocolError(Status.BAD_FRAME, 'a WebSocket message holds part of a frame');
  }

  private readonly onFrame = (
    type: number,
    _status: number,
    cmd: number,
    seq: number,
    body: Buffer,
  ): void => {
    if (this.closing) return;
    this.lastFrameAt = Date.now();
    switch (type) {
      case FrameType.REQUEST:
      case FrameType.NOTIFY:
        this.host.onRequest(this, type, cmd, seq, body);
        return;
      case FrameType.PING:
        if (body.length > MAX_PING_BODY_BYTES) {
          this.protocolError(Status.BAD_FRAME, `PING body over ${MAX_PING_BODY_BYTES} bytes`);
          return;
        }
        this.send(encodeFrame(FrameType.PONG, 0, cmd, seq, body));
        return;
      default:
        this.protocolError(Status.PROTOCOL_ERROR, `frame type ${type} may not be sent by a client`);
    }
  };

  private protocolError(status: StatusCode, message: string): void {
    this.decoder.fail(status);
    this.kick(status, message);
  }

  /**
   * Queues a whole frame. Returns false when the session is closing, or when the
   * unsent output would exceed limits.maxWriteBufferBytes — then the session is kicked
   * with SLOW_CONSUMER, so one slow reader never grows the gateway's memory.
   */
  send(frame: Buffer): boolean {
    if (!this.admits(frame.length)) return false;
    this.write(frame);
    return true;
  }

  /**
   * Queues a frame without the limits.maxWriteBufferBytes check. Only for the offline
   * replay at bind (the players' hub): it moves bytes the gateway already holds from the
   * player's queue to the socket (bounded by players.offline.maxBytes and maxMessages), so
   * it cannot grow memory, and a session that has had no chance to read yet is not a slow
   * consumer. Later writes are checked against everything still unsent, the replay included.
   */
  sendUnbounded(type: FrameType, cmd: number, seq: number, body: Buffer): boolean {
    if (this.closing) return false;
    this.writeParts(type, 0, cmd, seq, body);
    return true;
  }

  /** Queues a frame whose header and body are separate buffers (no copy of a large body). */
  sendParts(type: FrameType, status: number, cmd: number, seq: number, body: Buffer): boolean {
    if (!this.admits(HEADER_BYTES + body.length)) return false;
    this.writeParts(type, status, cmd, seq, body);
    return true;
  }

  /** A small frame is copied into one buffer; a large body is written as it is, after its header. */
  private writeParts(type: FrameType, status: number, cmd: number, seq: number, body: Buffer): void {
    if (body.length < 1024) {
      this.write(encodeFrame(type, status, cmd, seq, body));
      return;
    }
    this.writeTurn = currentTurn();
    this.cork();
    this.connection.write(encodeHeader(type, status, cmd, seq, body.length));
    this.connection.write(body);
    this.host.metrics.bytesOut.value += HEADER_BYTES + body.length;
  }

  /** Answers a request with an error status and the SPEC's JSON body. */
  sendError(cmd: number, seq: number, status: StatusCode, message?: string, httpStatus?: number): boolean {
    const row = statusRow(status);
    return this.send(
      encodeFrame(
        FrameType.RESPONSE,
        status,
        cmd,
        seq,
        errorBody(row.name, message ?? row.message, httpStatus),
      ),
    );
  }

  /** False when closing, or when `bytes` more would pass the write bound (then: KICK SLOW_CONSUMER). */
  private admits(bytes: number): boolean {
    if (this.closing) return false;
    if (this.connection.bufferedBytes + bytes <= this.host.limits.maxWriteBufferBytes) return true;
    this.kick(Status.SLOW_CONSUMER);
    return false;
  }

  /** The first frame of a turn goes out at once; later ones are corked until the turn ends. */
  private write(frame: Buffer): void {
    const turn = currentTurn();
    if (this.writeTurn === turn) this.cork();
    else this.writeTurn = turn;
    this.connection.write(frame);
    this.host.metrics.bytesOut.value += frame.length;
  }

  private cork(): void {
    if (this.corked) return;
    this.corked = true;
    this.connection.cork();
    flushAtEndOfTick(this);
  }

  flushWrites(): void {
    this.corked = false;
    this.connection.uncork();
  }

  /**
   * Sends KICK with `status`, flushes it and closes. Idempotent: the first reason wins.
   * Nothing is read or written after it.
   */
  kick(status: StatusCode, message?: string): void {
    if (this.closing) return;
    const row = statusRow(status);
    const frame = encodeFrame(FrameType.KICK, status, 0, 0, errorBody(row.name, message ?? row.message));
    this.isClosing = true;
    this.decoder.fail(status);
    this.host.metrics.kicks.child(statusLabel(status)).inc();
    // A frame that cannot be decoded (BAD_FRAME, FRAME_TOO_LARGE, PROTOCOL_ERROR) is an error too.
    if (row.errorType === 'decode_failed') this.host.metrics.error('decode_failed');
    this.connection.write(frame);
    this.host.metrics.bytesOut.value += frame.length;
    this.connection.end();
    const { connection } = this;
    setTimeout(() => connection.destroy(), KICK_LINGER_MS).unref();
  }

  /** Called once by the transport when the connection is gone. */
  readonly onClose = (): void => {
    if (this.state === SessionState.CLOSED) return;
    // The host's SessionManager.remove() moves the state to closed.
    this.isClosing = true;
    this.host.onClosed(this);
  };
}
