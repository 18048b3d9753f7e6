import type { GatewayMetrics } from '../metrics/metrics.js';
import { FrameType } from '../protocol/frame.js';
import { Status, type StatusCode } from '../protocol/status.js';
import type { Session } from '../session/session.js';
import type { SessionManager } from '../session/session-manager.js';
import { Binding } from './binding.js';

/** How one write to a player's session went; also the value a node acknowledges a push with. */
export const Delivery = {
  /** Written to the session's connection. */
  WRITTEN: 1,
  /** This node holds no binding of that player (at that epoch): the caller routes or stores it. */
  NOT_HERE: 0,
  /** The binding is here but the write failed (slow consumer, or no sequence known): dropped. */
  WRITE_FAILED: -1,
} as const;
export type Delivery = (typeof Delivery)[keyof typeof Delivery];

/** One message of an offline replay. */
export interface ReplayMessage {
  readonly cmd: number;
  readonly seq: number;
  readonly body: Buffer;
}

/**
 * The players bound to this node's sessions, and every write, kick and replay to them
 * (the shape of centrifuge's hub). Both engines decide *what* happens to a player and ask
 * the hub to do it, so what must be the same for every engine — the bind prologue, the
 * REPLACED kick, the write bound, the replay, sequence numbering at write time — exists once.
 *
 * Ordering: a binding holds work that reaches it while the engine confirms it, and runs
 * it after the offline replay, so the replay always comes first on the connection.
 */
export class LocalHub {
  private readonly bindings = new Map<string, Binding>();
  private sequenceLow: ((b: Binding) => void) | null = null;

  constructor(
    private readonly sessions: SessionManager,
    private readonly metrics: GatewayMetrics,
  ) {}

  /** Calls `listener` when a write takes a binding's sequence to its `refillAt` (an engine reserving blocks). */
  onSequenceLow(listener: (b: Binding) => void): void {
    this.sequenceLow = listener;
  }

  get size(): number {
    return this.bindings.size;
  }

  /** The binding of `playerId` on this node, if any. */
  get(playerId: string): Binding | undefined {
    return this.bindings.get(playerId);
  }

  /** The binding `session` holds, if it is still the current one of its player. */
  of(session: Session): Binding | undefined {
    const playerId = session.playerId;
    if (playerId === null) return undefined;
    const b = this.bindings.get(playerId);
    return b !== undefined && b.session === session ? b : undefined;
  }

  values(): IterableIterator<Binding> {
    return this.bindings.values();
  }

  /**
   * `session` takes `playerId` on this node, at once (its next request passes the auth
   * gate). A session of this node that held the player before is detached first, so its
   * close cannot touch the new binding, then kicked REPLACED.
   */
  claim(session: Session, playerId: string, now: number): Binding {
    const previous = this.bindings.get(playerId);
    const b = new Binding(playerId, session, now);
    this.bindings.set(playerId, b);
    this.sessions.markBound(session, playerId);
    if (previous !== undefined && previous.session !== session) this.replace(previous);
    return b;
  }

  /** Whether `b` is still its player's binding on this node. */
  holds(b: Binding): boolean {
    return this.bindings.get(b.playerId) === b;
  }

  /**
   * Writes an offline replay, oldest first, without the write bound (Session.sendUnbounded:
   * the bytes were already held by the gateway). Returns how many could not be written
   * (the session closed meanwhile): the caller counts them.
   */
  replay(b: Binding, messages: readonly ReplayMessage[]): number {
    let lost = 0;
    for (const m of messages) if (!b.session.sendUnbounded(FrameType.PUSH, m.cmd, m.seq, m.body)) lost++;
    return lost;
  }

  /** Runs the work held while `b` was confirmed, then lets everything through directly. */
  release(b: Binding): void {
    const held = b.held;
    if (held === null) return;
    b.held = null;
    for (const run of held) run();
  }

  /** Ends `b` if it is current: its session goes back to connected. False when it was not current. */
  detach(b: Binding): boolean {
    this.sessions.markUnbound(b.session);
    if (!this.holds(b)) return false;
    this.bindings.delete(b.playerId);
    this.release(b);
    return true;
  }

  /** Unbinds a session that no longer holds its player (it was replaced): only its own state changes. */
  detachStale(session: Session): void {
    this.sessions.markUnbound(session);
  }

  /** A newer binding (here or on another node) took the player: detach, KICK REPLACED. */
  replace(b: Binding): void {
    if (this.holds(b)) this.bindings.delete(b.playerId);
    this.release(b);
    this.sessions.markUnbound(b.session);
    b.session.kick(Status.REPLACED);
  }

  /**
   * Writes one PUSH to `b`'s session under its next sequence. NOT_HERE when `b` is no
   * longer current or its session is closing (the player is as good as offline, so the
   * caller may cache the message); WRITE_FAILED when no sequence is known (bound while the
   * engine was unreachable: a guess could reuse one) or the session is a slow consumer.
   */
  write(b: Binding, cmd: number, body: Buffer): Delivery {
    if (!this.holds(b) || b.session.closing) return Delivery.NOT_HERE;
    if (b.state !== 'bound') return Delivery.WRITE_FAILED;
    const seq = ++b.seq;
    if (seq >= b.refillAt) this.sequenceLow?.(b);
    return b.session.sendParts(FrameType.PUSH, 0, cmd, seq, body) ? Delivery.WRITTEN : Delivery.WRITE_FAILED;
  }

  /** write(), after the replay when `b` is being confirmed; `epoch` (when not 0) must still be `b`'s. */
  deliver(b: Binding, cmd: number, body: Buffer, epoch = 0): Delivery | Promise<Delivery> {
    if (b.held === null)
      return epoch !== 0 && b.epoch !== epoch ? Delivery.NOT_HERE : this.write(b, cmd, body);
    return b.whenSettled(() =>
      epoch !== 0 && b.epoch !== epoch ? Delivery.NOT_HERE : this.write(b, cmd, body),
    );
  }

  /** Writes one PUSH to every binding of this node (the body is shared; only headers differ). Returns the writes. */
  deliverAll(cmd: number, body: Buffer): number | Promise<number> {
    return this.deliverEach(this.bindings.values(), cmd, body);
  }

  /** deliver() to each binding; returns the writes, as a promise only when some binding held them. */
  deliverEach(bindings: Iterable<Binding>, cmd: number, body: Buffer): number | Promise<number> {
    // Counted inline, not collected: a broadcast to every session allocates nothing per delivery.
    let written = 0;
    const later: Array<Promise<Delivery>> = [];
    for (const b of bindings) {
      const r = this.deliver(b, cmd, body);
      if (typeof r !== 'number') later.push(r);
      else if (r === Delivery.WRITTEN) written++;
    }
    return later.length === 0 ? written : Promise.resolve(countWritten(later)).then((n) => written + n);
  }

  /**
   * Kicks `b`'s session with `status` (REPLACED detaches it first), after the replay when
   * `b` is being confirmed; `epoch` (when not 0) must still be `b`'s. Returns 1 when kicked.
   */
  kick(b: Binding, status: StatusCode, reason: string | undefined, epoch = 0): number | Promise<number> {
    return b.whenSettled(() => {
      if (!this.holds(b) || (epoch !== 0 && b.epoch !== epoch) || b.session.closing) return 0;
      if (status === Status.REPLACED) this.replace(b);
      else b.session.kick(status, reason);
      return 1;
    });
  }

  /** Notes a request of `session`'s player; returns a promise while its binding is being confirmed. */
  touch(session: Session, now: number): Promise<void> | null {
    const b = this.of(session);
    if (b === undefined) return null;
    b.lastActiveAt = now;
    return b.held === null ? null : b.settled();
  }

  /** Counts offline messages that were taken from a queue but could not be written. */
  countLost(lost: number): void {
    if (lost > 0) this.metrics.offlineDropped.child('forgotten').inc(lost);
  }
}

/** How many of `writes` were WRITTEN; a promise only when some of them are. */
export function countWritten(writes: ReadonlyArray<Delivery | Promise<Delivery>>): number | Promise<number> {
  let written = 0;
  const later: Array<Promise<Delivery>> = [];
  for (const w of writes) {
    if (typeof w !== 'number') later.push(w);
    else if (w === Delivery.WRITTEN) written++;
  }
  if (later.length === 0) return written;
  return Promise.all(later).then((all) => written + all.filter((r) => r === Delivery.WRITTEN).length);
}
