import type { Session } from '../session/session.js';

/**
 * 'binding' until the engine confirmed it (epoch and sequence known); 'unregistered' when
 * the engine could not reach its shared state (the session keeps its player locally but
 * gets no pushes until the engine re-registers it).
 */
export type BindingState = 'binding' | 'bound' | 'unregistered';

/**
 * One player held by one session of this node: the only record of "which local session
 * holds which player at which epoch". Created and ended by the LocalHub; the engine fills
 * in the epoch and the push sequence when it confirms the binding.
 */
export class Binding {
  state: BindingState = 'binding';
  /** The epoch of this binding, higher than any before it (fencing); 0 until confirmed. */
  epoch = 0;
  /** Last push sequence written to the session; the next PUSH carries seq + 1. */
  seq = 0;
  /** The highest sequence this node may give out without asking the engine (a reserved block). */
  ceil = Number.MAX_SAFE_INTEGER;
  /** A write reaching this sequence tells the engine to reserve the next block (never, for local). */
  refillAt = Number.MAX_SAFE_INTEGER;
  lastActiveAt: number;
  /** Set once the online lifecycle event went out (an offline event follows only then). */
  announced = false;
  /**
   * Work for this binding that arrived while it was being confirmed (a push, a kick, the
   * client's next request): run in order once the offline replay is written. Null after.
   */
  held: Array<() => void> | null = [];
  private settledPromise: Promise<void> | null = null;
  /** The holding session's id: what the engines record and report (they never touch `session`). */
  readonly sessionId: string;

  constructor(
    readonly playerId: string,
    /** The holding session: written to and kicked by the LocalHub only. */
    readonly session: Session,
    now: number,
  ) {
    this.sessionId = session.id;
    this.lastActiveAt = now;
  }

  /** Resolves once the held work ran (at once when nothing is held). Made on demand: most bindings never need it. */
  settled(): Promise<void> {
    const held = this.held;
    if (held === null) return Promise.resolve();
    this.settledPromise ??= new Promise((resolve) => held.push(resolve));
    return this.settledPromise;
  }

  /** Runs `work` now, or after the offline replay when the binding is not confirmed yet. */
  whenSettled<T>(work: () => T): T | Promise<T> {
    const held = this.held;
    if (held === null) return work();
    return new Promise((resolve) => held.push(() => resolve(work())));
  }
}
