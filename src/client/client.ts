import { Status } from '../protocol/status.js';
import { encodeFrame, FrameType, toBytes, utf8, type WireFrame } from './codec.js';
import { Emitter } from './emitter.js';
import { ClientStatus, GatewayError, statusName } from './errors.js';
import { type FrameSocket, openSocket, unref, type WebSocketConstructor } from './socket.js';

/** A frame body: strings are sent as UTF-8. */
export type Body = string | Uint8Array;

/** The HELLO the gateway sends first on every connection (SPEC §3). */
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

export interface DisconnectInfo {
  /** The KICK that preceded the close, if any. */
  kick: Kick | null;
  /** The socket failure, if the connection ended on one. */
  error: Error | null;
  /** True when the client will try to reconnect. */
  reconnecting: boolean;
}

export interface CloseInfo {
  kick: Kick | null;
  error: Error | null;
}

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
  /** Whether to reconnect after this disconnection. Default: yes, except after KICK REPLACED. */
  shouldReconnect?: (info: { kick: Kick | null; error: Error | null }) => boolean;
}

export interface ConnectOptions {
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
  onReconnect?: (client: GatewayClient) => unknown;
  /** The last push seq the app handled (e.g. persisted), so a gap is seen from the first push. */
  lastPushSeq?: number;
  /** A WebSocket implementation for ws://; default: the global one, else the `ws` package. */
  WebSocket?: WebSocketConstructor;
  /** Largest frame accepted from the gateway on tcp://; default 64 MiB. */
  maxIncomingFrameBytes?: number;
}

export type ClientState = 'connecting' | 'open' | 'reconnecting' | 'closed';

/**
 * A RESPONSE. A non-zero status resolves too (application codes from x-gateway-status
 * are answers, not failures): check `ok`, or use `expectOk()` / `client.call()`.
 */
export class Response {
  constructor(
    readonly cmd: number,
    readonly seq: number,
    readonly status: number,
    readonly body: Uint8Array,
  ) {}

  get ok(): boolean {
    return this.status === 0;
  }

  /** `OK`, a SPEC §6 name, or `APP_<n>`. */
  get statusName(): string {
    return statusName(this.status);
  }

  text(): string {
    return utf8(this.body);
  }

  json<T = unknown>(): T {
    return JSON.parse(this.text()) as T;
  }

  /** The failure as a GatewayError, or null when `ok`. */
  error(): GatewayError | null {
    return this.ok ? null : GatewayError.fromFrame(this.status, this.body);
  }

  /** Returns this response when `ok`, throws its GatewayError otherwise. */
  expectOk(): this {
    const error = this.error();
    if (error !== null) throw error;
    return this;
  }
}

interface Pending {
  resolve: (response: Response) => void;
  reject: (error: GatewayError) => void;
  timer: ReturnType<typeof setTimeout> | null;
}

const DEFAULTS = {
  connectTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  maxIncomingFrameBytes: 64 * 1024 * 1024,
  reconnectMinMs: 500,
  reconnectMaxMs: 30_000,
} as const;
const MAX_SEQ = 0xffff_ffff;
const EMPTY = new Uint8Array(0);

/**
 * A connection to the gateway (SPEC §3): requests matched by seq, notifies, pushes with
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
  private readonly pending = new Map<number, Pending>();
  private nextSeq = 0;
  private lastSentAt = 0;
  private lastReceivedAt = 0;
  private heartbeatTimer: ReturnType<typeof setTimeout> | null = null;
  /** The KICK received on the current connection. */
  private kick: Kick | null = null;
  private inReconnectLoop = false;
  /** Ends a reconnect delay early (close()). */
  private wake: (() => void) | null = null;
  private readonly closed: Promise<void>;
  private resolveClosed!: () => void;
  private readonly reconnect: Required<ReconnectOptions> | null;

  private constructor(
    readonly url: URL,
    private readonly options: ConnectOptions,
  ) {
    super();
    this.lastPushSeq = options.lastPushSeq ?? 0;
    this.closed = new Promise((resolve) => {
      this.resolveClosed = resolve;
    });
    const r = options.reconnect === true ? {} : options.reconnect || null;
    this.reconnect =
      r === null
        ? null
        : {
            minMs: r.minMs ?? DEFAULTS.reconnectMinMs,
            maxMs: r.maxMs ?? DEFAULTS.reconnectMaxMs,
            maxAttempts: r.maxAttempts ?? Number.POSITIVE_INFINITY,
            shouldReconnect: r.shouldReconnect ?? ((info) => info.kick?.status !== Status.REPLACED),
          };
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
    return this.pending.size;
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
    const seq = this.takeSeq();
    return new Promise<Response>((resolve, reject) => {
      const timeoutMs = options.timeoutMs ?? this.options.requestTimeoutMs ?? DEFAULTS.requestTimeoutMs;
      let timer: ReturnType<typeof setTimeout> | null = null;
      if (timeoutMs > 0) {
        timer = setTimeout(() => {
          this.pending.delete(seq);
          reject(
            new GatewayError(
              ClientStatus.REQUEST_TIMEOUT,
              `no RESPONSE to cmd ${cmd} within ${timeoutMs} ms`,
            ),
          );
        }, timeoutMs);
      }
      this.pending.set(seq, { resolve, reject, timer });
      this.send(FrameType.REQUEST, cmd, seq, bytes);
    });
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
    this.send(FrameType.NOTIFY, cmd, this.takeSeq(), bytes);
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
    this.wake?.();
    this.rejectAll(new GatewayError(ClientStatus.CLIENT_CLOSED, 'close() was called'));
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

  private takeSeq(): number {
    do this.nextSeq = this.nextSeq >= MAX_SEQ ? 1 : this.nextSeq + 1;
    while (this.pending.has(this.nextSeq));
    return this.nextSeq;
  }

  private send(type: FrameType, cmd: number, seq: number, body: Uint8Array): void {
    this.socket!.send(encodeFrame(type, cmd, seq, body));
    this.lastSentAt = Date.now();
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
      const fail = (message: string) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.generation++;
        abort.abort();
        reject(new GatewayError(ClientStatus.CONNECT_FAILED, message));
      };
      const ready = () => {
        if (settled || socket === null || hello === null) return;
        settled = true;
        clearTimeout(timer);
        this.socket = socket;
        this.hello = hello;
        this.kick = null;
        this.lastSentAt = this.lastReceivedAt = Date.now();
        this.startHeartbeat(generation);
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
            if (hello === null) fail('the HELLO is not the JSON of SPEC §3');
            else ready();
          },
          closed: (error) => {
            if (generation !== this.generation) return;
            if (settled) {
              flushEarly();
              if (generation === this.generation) this.onLost(error);
            } else fail(`the connection closed before HELLO${error === null ? '' : `: ${error.message}`}`);
          },
        },
        {
          WebSocket: this.options.WebSocket,
          maxIncomingFrameBytes: this.options.maxIncomingFrameBytes ?? DEFAULTS.maxIncomingFrameBytes,
          signal: abort.signal,
        },
      ).then(
        (s) => {
          socket = s;
          ready();
        },
        (err: Error) => fail(`cannot connect to ${this.url.href}: ${err.message}`),
      );
    });
  }

  private onFrame(frame: WireFrame): void {
    this.lastReceivedAt = Date.now();
    switch (frame.type) {
      case FrameType.RESPONSE: {
        const pending = this.pending.get(frame.seq);
        if (pending === undefined) return; // timed out already
        this.pending.delete(frame.seq);
        if (pending.timer !== null) clearTimeout(pending.timer);
        pending.resolve(new Response(frame.cmd, frame.seq, frame.status, frame.body));
        return;
      }
      case FrameType.PUSH:
        this.onPush(frame);
        return;
      case FrameType.KICK:
        this.kick = parseKick(frame);
        this.emit('kick', this.kick);
        return;
      default:
      // PONG only proves liveness (lastReceivedAt); a second HELLO or an unknown type is ignored.
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

  private startHeartbeat(generation: number): void {
    const intervalMs = this.hello.heartbeatMs;
    if (this.options.heartbeat === false || !(intervalMs > 0)) return;
    const deadAfterMs = this.options.deadAfterMs ?? 3 * intervalMs;
    const tick = () => {
      this.heartbeatTimer = null;
      if (generation !== this.generation || this.socket === null) return;
      const now = Date.now();
      if (deadAfterMs > 0 && now - this.lastReceivedAt >= deadAfterMs) {
        this.drop(new Error(`no frame from the gateway for ${deadAfterMs} ms`));
        return;
      }
      if (now - this.lastSentAt >= intervalMs) this.send(FrameType.PING, 0, this.takeSeq(), EMPTY);
      this.heartbeatTimer = setTimeout(tick, Math.max(1, this.lastSentAt + intervalMs - Date.now()));
      unref(this.heartbeatTimer);
    };
    this.heartbeatTimer = setTimeout(tick, intervalMs);
    unref(this.heartbeatTimer);
  }

  private stopHeartbeat(): void {
    if (this.heartbeatTimer !== null) clearTimeout(this.heartbeatTimer);
    this.heartbeatTimer = null;
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
    this.rejectAll(
      kick !== null
        ? new GatewayError(kick.status, kick.message)
        : new GatewayError(ClientStatus.CONNECTION_CLOSED, error?.message ?? 'the connection closed'),
    );
    if (this.state === 'closed') {
      this.finish({ kick, error });
      return;
    }
    const reconnecting = this.reconnect?.shouldReconnect({ kick, error }) === true;
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
        const ceiling = Math.min(r.maxMs, r.minMs * 2 ** Math.min(attempt - 1, 30));
        const delayMs = Math.round(ceiling / 2 + (Math.random() * ceiling) / 2);
        this.emit('reconnecting', { attempt, delayMs });
        await this.sleep(delayMs);
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

  private sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.wake = done;
    }).finally(() => {
      this.wake = null;
    });
  }

  private rejectAll(error: GatewayError): void {
    const pending = [...this.pending.values()];
    this.pending.clear();
    for (const p of pending) {
      if (p.timer !== null) clearTimeout(p.timer);
      p.reject(error);
    }
  }

  private finishCalled = false;
  private finish(info: CloseInfo): void {
    if (this.finishCalled) return;
    this.finishCalled = true;
    this.emit('close', info);
    this.resolveClosed();
  }
}

/** Connects to `tcp://host:port` (Node) or `ws://host:port/path`, resolving after HELLO. */
export function connect(url: string | URL, options?: ConnectOptions): Promise<GatewayClient> {
  return GatewayClient.connect(url, options);
}

function parseHello(body: Uint8Array): Hello | null {
  try {
    const h = JSON.parse(utf8(body)) as Hello;
    if (
      typeof h.sessionId !== 'string' ||
      typeof h.heartbeatMs !== 'number' ||
      typeof h.maxFrameBytes !== 'number'
    ) {
      return null;
    }
    return h;
  } catch {
    return null;
  }
}

function parseKick(frame: WireFrame): Kick {
  const fallback = { status: frame.status, error: statusName(frame.status), message: '' };
  try {
    const body = JSON.parse(utf8(frame.body)) as { error?: unknown; message?: unknown };
    return {
      status: frame.status,
      error: typeof body.error === 'string' ? body.error : fallback.error,
      message: typeof body.message === 'string' ? body.message : '',
    };
  } catch {
    return fallback;
  }
}
