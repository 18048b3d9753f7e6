import { Status } from '../protocol/status.js';
import { encodeFrame, FrameType, toBytes, type WireFrame } from './codec.js';
import { Emitter } from './emitter.js';
import { ClientStatus, GatewayError } from './errors.js';
import { Heartbeat } from './heartbeat.js';
import {
  allowsReconnect,
  type ReconnectPolicy,
  reconnectDelayMs,
  reconnectPolicy,
} from './reconnect-policy.js';
import { RequestTracker } from './request-tracker.js';
import { parseHello, parseKick, type Response } from './response.js';
import { type FrameSocket, openSocket } from './socket.js';
import type { Body, ClientEvents, ClientOptions, ClientState, CloseInfo, Hello, Kick } from './types.js';
import { WakeableDelay } from './wakeable-delay.js';

const DEFAULTS = {
  connectTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  maxIncomingFrameBytes: 64 * 1024 * 1024,
} as const;
const EMPTY = new Uint8Array(0);

/**
 * A connection to the gateway (docs/protocol.md): requests matched by seq, notifies, pushes with
 * gap detection, kicks, a PING when idle for HELLO.heartbeatMs, and optional reconnects
 * with jittered exponential backoff. Create it with `connect()`.
 */
export class GatewayClient extends Emitter<ClientEvents> {
  /** The HELLO of the current (or last) connection. */
  hello!: Hello;
  state: ClientState = 'connecting';
  /** The last push seq seen (0: none yet). Kept across reconnects, so gaps across them are seen. */
  lastPushSeq: number;

  private socket: FrameSocket | null = null;
  /** Bumped per connection; events of older connections are ignored. */
  private generation = 0;
  private readonly requests = new RequestTracker();
  /** The current connection's heartbeat; null when off or not connected. */
  private heartbeat: Heartbeat | null = null;
  /** The KICK received on the current connection. */
  private kick: Kick | null = null;
  private inReconnectLoop = false;
  /** Ends a reconnect delay early (close()). */
  private readonly backoff = new WakeableDelay();
  private readonly closed: Promise<void>;
  private resolveClosed!: () => void;
  private readonly reconnect: ReconnectPolicy | null;

  private constructor(
    readonly url: URL,
    private readonly options: ConnectOptions,
  ) {
    super();
    this.lastPushSeq = options.lastPushSeq ?? 0;
    this.closed = new Promise((resolve) => {
      this.resolveClosed = resolve;
    });
    this.reconnect = reconnectPolicy(options.reconnect);
  }

  /** Connects and resolves after HELLO; rejects with a GatewayError CONNECT_FAILED. */
  static async connect(url: string | URL, options: ConnectOptions = {}): Promise<GatewayClient> {
    const client = new GatewayClient(new URL(url), options);
    await client.open();
    client.state = 'open';
    return client;
  }

  get connected(): boolean {
    return this.socket !== null;
  }

  /** Requests sent and not yet answered. */
  get inFlight(): number {
    return this.requests.size;
  }

  /**
   * Sends a REQUEST and resolves with its RESPONSE, whatever its status. Rejects with a
   * GatewayError: the KICK's status if kicked, or CONNECTION_CLOSED, REQUEST_TIMEOUT,
   * NOT_CONNECTED, CLIENT_CLOSED, or FRAME_TOO_LARGE (checked here, never sent).
   */
  request(cmd: number, body?: Body, options: { timeoutMs?: number } = {}): Promise<Response> {
    const bytes = toBytes(body);
    const refused = this.refuse(bytes);
    if (refused !== null) return Promise.reject(refused);
    const seq = this.requests.takeSeq();
    const timeoutMs = options.timeoutMs ?? this.options.requestTimeoutMs ?? DEFAULTS.requestTimeoutMs;
    const answered = this.requests.track(seq, cmd, timeoutMs);
    this.send(FrameType.REQUEST, cmd, seq, bytes);
    return answered;
  }

  /** Like request(), but resolves with the body only, and rejects on any status ≠ 0. */
  async call(cmd: number, body?: Body, options?: { timeoutMs?: number }): Promise<Uint8Array> {
    return (await this.request(cmd, body, options)).expectOk().body;
  }

  /**
   * Sends a NOTIFY (forwarded, never answered). Returns false when not connected; throws
   * FRAME_TOO_LARGE for a body the gateway would refuse.
   */
  notify(cmd: number, body?: Body): boolean {
    const bytes = toBytes(body);
    const refused = this.refuse(bytes);
    if (refused?.status === ClientStatus.NOT_CONNECTED) return false;
    if (refused !== null) throw refused;
    this.send(FrameType.NOTIFY, cmd, this.requests.takeSeq(), bytes);
    return true;
  }

  /** Forgets the push sequence (after logging in as another player). */
  resetPushSeq(lastPushSeq = 0): void {
    this.lastPushSeq = lastPushSeq;
  }

  /**
   * Closes for good: pending requests reject with CLIENT_CLOSED, no reconnect. Resolves
   * once the connection is closed.
   */
  close(): Promise<void> {
    if (this.state === 'closed') return this.closed;
    this.state = 'closed';
    this.stopHeartbeat();
    this.backoff.wake();
    this.requests.rejectAll(new GatewayError(ClientStatus.CLIENT_CLOSED, 'close() was called'));
    if (this.socket === null) this.finish({ kick: null, error: null });
    else this.socket.close();
    return this.closed;
  }

  private refuse(bytes: Uint8Array): GatewayError | null {
    if (this.socket === null)
      return new GatewayError(ClientStatus.NOT_CONNECTED, `not connected (${this.state})`);
    if (12 + bytes.length > this.hello.maxFrameBytes) {
      return new GatewayError(
        Status.FRAME_TOO_LARGE,
        `a body of ${bytes.length} bytes is over the gateway's maxFrameBytes (${this.hello.maxFrameBytes}) minus 12`,
      );
    }
    return null;
  }

  private send(type: FrameType, cmd: number, seq: number, body: Uint8Array): void {
    this.socket!.send(encodeFrame(type, cmd, seq, body));
    this.heartbeat?.sent();
  }

  /** Opens one connection and resolves after its HELLO. */
  private open(): Promise<void> {
    const generation = ++this.generation;
    const timeoutMs = this.options.connectTimeoutMs ?? DEFAULTS.connectTimeoutMs;
    const abort = new AbortController();
    return new Promise<void>((resolve, reject) => {
      let socket: FrameSocket | null = null;
      let hello: Hello | null = null;
      let settled = false;
      // Frames that follow HELLO before the caller of connect() can listen: replayed, in
      // order, on a later turn (frames arriving meanwhile queue behind them).
      let early: WireFrame[] | null = [];
      const fail = (message: string, cause?: Error) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.generation++;
        abort.abort();
        reject(new GatewayError(ClientStatus.CONNECT_FAILED, message, { cause }));
      };
      const ready = () => {
        if (settled || socket === null || hello === null) return;
        settled = true;
        clearTimeout(timer);
        this.socket = socket;
        this.hello = hello;
        this.kick = null;
        this.startHeartbeat();
        resolve();
        setTimeout(flushEarly, 0);
      };
      const flushEarly = () => {
        if (early === null) return;
        const frames = early;
        early = null;
        for (const frame of frames) if (generation === this.generation) this.onFrame(frame);
      };
      const timer = setTimeout(
        () => fail(`no HELLO from ${this.url.href} within ${timeoutMs} ms`),
        timeoutMs,
      );
      openSocket(
        this.url,
        {
          frame: (frame) => {
            if (generation !== this.generation) return;
            if (early === null) {
              this.onFrame(frame);
              return;
            }
            if (hello !== null) {
              early.push(frame);
              return;
            }
            if (frame.type === FrameType.KICK) fail(`kicked before HELLO: ${parseKick(frame).message}`);
            if (frame.type !== FrameType.HELLO) return;
            hello = parseHello(frame.body);
            if (hello === null) fail('the HELLO is not the JSON of docs/protocol.md');
            else ready();
          },
          closed: (error) => {
            if (generation !== this.generation) return;
            if (settled) {
              flushEarly();
              if (generation === this.generation) this.onLost(error);
            } else {
              fail(
                `the connection closed before HELLO${error === null ? '' : `: ${error.message}`}`,
                error ?? undefined,
              );
            }
          },
        },
        {
          WebSocket: this.options.WebSocket,
          maxIncomingFrameBytes: this.options.maxIncomingFrameBytes ?? DEFAULTS.maxIncomingFrameBytes,
          signal: abort.signal,
          ca: this.options.ca,
          cert: this.options.cert,
          key: this.options.key,
        },
      ).then(
        (s) => {
          socket = s;
          ready();
        },
        (err: Error) => fail(`cannot connect to ${this.url.href}: ${err.message}`, err),
      );
    });
  }

  private onFrame(frame: WireFrame): void {
    this.heartbeat?.received();
    switch (frame.type) {
      case FrameType.RESPONSE:
        this.requests.answer(frame); // false: timed out already
        return;
      case FrameType.PUSH:
        this.onPush(frame);
        return;
      case FrameType.KICK:
        this.kick = parseKick(frame);
        this.emit('kick', this.kick);
        return;
      default:
      // PONG only proves liveness (heartbeat.received); a second HELLO or an unknown type is ignored.
    }
  }

  private onPush(frame: WireFrame): void {
    const { seq } = frame;
    // seq 0: the session is not bound to a player, so there is no sequence to follow.
    if (seq !== 0) {
      const expected = this.lastPushSeq + 1;
      if (this.lastPushSeq !== 0 && seq !== expected) this.emit('gap', { expected, got: seq });
      this.lastPushSeq = seq;
    }
    this.emit('push', { cmd: frame.cmd, seq, body: frame.body });
  }

  private startHeartbeat(): void {
    this.stopHeartbeat();
    const intervalMs = this.hello.heartbeatMs;
    if (this.options.heartbeat === false || !(intervalMs > 0)) return;
    this.heartbeat = new Heartbeat(
      intervalMs,
      this.options.deadAfterMs ?? 3 * intervalMs,
      () => this.send(FrameType.PING, 0, this.requests.takeSeq(), EMPTY),
      (silentMs) => this.drop(new Error(`no frame from the gateway for ${silentMs} ms`)),
    );
    this.heartbeat.start();
  }

  private stopHeartbeat(): void {
    this.heartbeat?.stop();
    this.heartbeat = null;
  }

  /** Ends the current connection now, as if lost; its late events are ignored. */
  private drop(error: Error): void {
    const socket = this.socket;
    if (socket === null) return;
    this.generation++;
    socket.destroy();
    this.onLost(error);
  }

  private onLost(error: Error | null): void {
    this.stopHeartbeat();
    this.socket = null;
    const kick = this.kick;
    this.requests.rejectAll(
      kick !== null
        ? new GatewayError(kick.status, kick.message)
        : new GatewayError(ClientStatus.CONNECTION_CLOSED, error?.message ?? 'the connection closed'),
    );
    if (this.state === 'closed') {
      this.finish({ kick, error });
      return;
    }
    const reconnecting = this.reconnect !== null && allowsReconnect(this.reconnect, { kick, error });
    this.emit('disconnect', { kick, error, reconnecting });
    if (!reconnecting) {
      this.state = 'closed';
      this.finish({ kick, error });
      return;
    }
    this.state = 'reconnecting';
    if (!this.inReconnectLoop) void this.reconnectLoop();
  }

  private async reconnectLoop(): Promise<void> {
    const r = this.reconnect!;
    this.inReconnectLoop = true;
    try {
      for (let attempt = 1; attempt <= r.maxAttempts; attempt++) {
        const delayMs = reconnectDelayMs(r, attempt);
        this.emit('reconnecting', { attempt, delayMs });
        await this.backoff.wait(delayMs);
        if (this.isClosed()) return;
        try {
          await this.open();
        } catch {
          continue;
        }
        if (this.isClosed()) {
          this.socket?.close();
          return;
        }
        this.state = 'open';
        const generation = this.generation;
        if (this.options.onReconnect !== undefined) {
          try {
            await this.options.onReconnect(this);
          } catch (err) {
            this.emit('error', err instanceof Error ? err : new Error(String(err)));
            if (this.generation === generation) this.drop(new Error('onReconnect failed'));
          }
        }
        // The connection may have ended during onReconnect: closed for good, or another attempt.
        if (!this.isOpen() || this.generation !== generation) {
          if (this.isClosed()) return;
          continue;
        }
        this.emit('reconnect', { attempt, hello: this.hello });
        return;
      }
      this.state = 'closed';
      this.finish({ kick: null, error: new Error(`no reconnect after ${r.maxAttempts} attempts`) });
    } finally {
      this.inReconnectLoop = false;
    }
  }

  // Methods, not inline comparisons: the state changes across the awaits above.
  private isClosed(): boolean {
    return this.state === 'closed';
  }

  private isOpen(): boolean {
    return this.state === 'open';
  }

  private finishCalled = false;
  private finish(info: CloseInfo): void {
    if (this.finishCalled) return;
    this.finishCalled = true;
    this.emit('close', info);
    this.resolveClosed();
  }
}

/** Options of connect(); `onReconnect` gets the client. */
export type ConnectOptions = ClientOptions<GatewayClient>;

/** Connects to `tcp://host:port` (Node) or `ws://host:port/path`, resolving after HELLO. */
export function connect(url: string | URL, options?: ConnectOptions): Promise<GatewayClient> {
  return GatewayClient.connect(url, options);
}
