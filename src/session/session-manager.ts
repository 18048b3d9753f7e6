import { randomBytes } from 'node:crypto';
import type { GatewayConfig } from '../config/schema.js';
import type { GatewayMetrics } from '../metrics/metrics.js';
import { encodeFrame, FrameType } from '../protocol/frame.js';
import { Status, type StatusCode } from '../protocol/status.js';
import type { AcceptHandler, Connection } from '../transport/connection.js';
import { Session, type SessionHost, SessionState } from './session.js';

/**
 * The open sessions of this node: accepts connections (HELLO, limits.maxConnections),
 * owns the connected → authed → closed transitions and their counts, and runs the one
 * sweep timer that judges every session's heartbeat and auth deadline.
 */
export class SessionManager {
  private readonly sessions = new Map<string, Session>();
  private readonly idPrefix = randomBytes(4).toString('hex');
  private nextId = 0;
  private sweepTimer: NodeJS.Timeout | null = null;
  private readonly sweepNow = (): void => this.sweep(Date.now());
  private readonly helloTail: string;
  private accepting = true;
  connected = 0;
  authed = 0;

  constructor(
    private readonly config: GatewayConfig,
    private readonly metrics: GatewayMetrics,
  ) {
    const { heartbeat, limits, node } = config;
    this.helloTail = `,"node":${JSON.stringify(node.id)},"heartbeatMs":${heartbeat.intervalMs},"maxFrameBytes":${limits.maxFrameBytes}}`;
  }

  get size(): number {
    return this.sessions.size;
  }

  get(id: string): Session | undefined {
    return this.sessions.get(id);
  }

  values(): IterableIterator<Session> {
    return this.sessions.values();
  }

  /** The acceptor callback for every transport; its sessions report to `host`. */
  acceptor(host: SessionHost): AcceptHandler {
    return (connection, bind) => this.accept(host, connection, bind);
  }

  private accept(host: SessionHost, connection: Connection, bind: Parameters<AcceptHandler>[1]): void {
    if (!this.accepting) {
      this.metrics.connectionsRejected.child('shutting_down').inc();
      connection.destroy();
      return;
    }
    if (this.sessions.size >= this.config.limits.maxConnections) {
      this.metrics.connectionsRejected.child('max_connections').inc();
      connection.destroy();
      return;
    }
    const id = this.idPrefix + (this.nextId++).toString(36);
    const session = new Session(id, connection, host);
    this.sessions.set(id, session);
    this.connected++;
    bind({ data: session.onData, close: session.onClose });
    session.send(encodeFrame(FrameType.HELLO, 0, 0, 0, Buffer.from(`{"sessionId":"${id}"${this.helloTail}`)));
  }

  /** connected → authed (or a rebind of an authed session to another player). */
  markBound(session: Session, playerId: string): void {
    if (session.state === SessionState.CLOSED) return;
    if (session.state === SessionState.CONNECTED) {
      this.connected--;
      this.authed++;
    }
    session.moveTo(SessionState.AUTHED, playerId);
  }

  /** authed → connected (logout; the connection stays). */
  markUnbound(session: Session): void {
    if (session.state !== SessionState.AUTHED) return;
    this.authed--;
    this.connected++;
    session.moveTo(SessionState.CONNECTED, null);
  }

  /** Forgets a closed session; called once per session from the host's onClosed. */
  remove(session: Session): void {
    if (!this.sessions.delete(session.id)) return;
    if (session.state === SessionState.AUTHED) this.authed--;
    else if (session.state === SessionState.CONNECTED) this.connected--;
    // The player id stays readable: the unbind that follows the close needs it.
    session.moveTo(SessionState.CLOSED, session.playerId);
  }

  startSweeping(): void {
    const { heartbeat, auth } = this.config;
    const shortest = Math.min(heartbeat.timeoutMs, auth.required ? auth.timeoutMs : Number.POSITIVE_INFINITY);
    const everyMs = Math.max(20, Math.min(1_000, Math.floor(shortest / 10)));
    // Judged after the poll phase (setImmediate): after a stall of this process (a long GC
    // pause, a frozen VM) the timers run first, while the frames clients sent meanwhile are
    // still unread, and a sweep then would kick every client for the gateway's own silence.
    this.sweepTimer = setInterval(() => setImmediate(this.sweepNow), everyMs);
    this.sweepTimer.unref();
  }

  /** Kicks sessions silent for heartbeat.timeoutMs, and unbound ones past auth.timeoutMs. */
  sweep(now: number): void {
    const idleBefore = now - this.config.heartbeat.timeoutMs;
    const authBefore = this.config.auth.required
      ? now - this.config.auth.timeoutMs
      : Number.NEGATIVE_INFINITY;
    for (const session of this.sessions.values()) {
      if (session.closing) continue;
      if (session.lastFrameAt <= idleBefore) {
        this.metrics.heartbeatTimeouts.inc();
        session.kick(Status.IDLE_TIMEOUT);
      } else if (session.state === SessionState.CONNECTED && session.connectedAt <= authBefore) {
        session.kick(Status.AUTH_TIMEOUT);
      }
    }
  }

  /** Refuses new connections from now on (shutdown). */
  stopAccepting(): void {
    this.accepting = false;
  }

  /** Kicks every session with `status` and resolves when all connections are closed (or after `waitMs`). */
  async kickAll(status: StatusCode, waitMs: number): Promise<void> {
    for (const session of this.sessions.values()) session.kick(status);
    const until = Date.now() + waitMs;
    while (this.sessions.size > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
    for (const session of this.sessions.values()) session.connection.destroy();
  }

  stop(): void {
    if (this.sweepTimer) clearInterval(this.sweepTimer);
  }
}
