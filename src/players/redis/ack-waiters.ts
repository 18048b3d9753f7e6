/** What a wait for acknowledgements ended with. */
export interface AckOutcome {
  /** Sum of the results acknowledged (a kick's 0/1, a fan-out's count). */
  sum: number;
  /** How many acknowledgements arrived. */
  received: number;
  /** False when the wait ended by its timeout before `expected` arrived. */
  complete: boolean;
  /** Per-entry answers by answering node (RESULTS: a push's codes); null when none came. */
  parts: Map<string, string> | null;
}

interface Waiter {
  expected: number;
  received: number;
  sum: number;
  parts: Map<string, string> | null;
  resolve(outcome: AckOutcome): void;
  /** performance.now() past which it times out. */
  deadline: number;
}

/**
 * Requests sent to other nodes that wait for their acknowledgements. A waiter is opened
 * before its request is sent, since an ack can overtake the reply of the command that
 * sent the request (they travel on different Redis connections). Every wait is bounded
 * by `timeoutMs` (give or take a millisecond); ids are unique within this node. One wait covers a whole message (a
 * push to a hundred players is one timer, not a hundred).
 */
export class AckWaiters {
  /** Open waits, oldest first: they all have the same timeout, so they expire in this order. */
  private readonly waiting = new Map<string, Waiter>();
  private next = 0;
  /** One timer, for the oldest wait's deadline (not one per wait: a push would cost a timer). */
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly timeoutMs: number) {}

  get size(): number {
    return this.waiting.size;
  }

  /**
   * Opens a wait for `expected` acks (Infinity until known: see expect()). Returns its id
   * and the outcome, which resolves when they are in, or at the timeout.
   */
  open(expected = 1): { id: string; outcome: Promise<AckOutcome> } {
    const id = (this.next++).toString(36);
    const deadline = performance.now() + this.timeoutMs;
    const outcome = new Promise<AckOutcome>((resolve) => {
      this.waiting.set(id, { expected, received: 0, sum: 0, parts: null, resolve, deadline });
    });
    if (this.timer === null) this.arm(this.timeoutMs);
    return { id, outcome };
  }

  /** Ends the waits past their deadline, then sleeps until the oldest one left is due. */
  private expire(): void {
    this.timer = null;
    const now = performance.now();
    for (const [id, w] of this.waiting) {
      if (w.deadline > now) {
        this.arm(w.deadline - now);
        return;
      }
      this.finish(id, false);
    }
  }

  private arm(ms: number): void {
    this.timer = setTimeout(() => this.expire(), Math.max(1, Math.ceil(ms)));
  }

  /** Sets how many acks a wait needs, once known (a publish answers how many nodes got it). */
  expect(id: string, expected: number): void {
    const w = this.waiting.get(id);
    if (w === undefined) return;
    w.expected = expected;
    if (w.received >= expected) this.finish(id, true);
  }

  /** Counts one ack; unknown ids (late, after a timeout) are ignored. */
  ack(id: string, result: number): void {
    const w = this.waiting.get(id);
    if (w === undefined) return;
    w.received++;
    w.sum += result;
    if (w.received >= w.expected) this.finish(id, true);
  }

  /** Counts one node's per-entry answer (RESULTS); unknown ids are ignored. */
  part(id: string, from: string, codes: string): void {
    const w = this.waiting.get(id);
    if (w === undefined) return;
    if (w.parts === null) w.parts = new Map();
    w.parts.set(from, codes);
    w.received++;
    if (w.received >= w.expected) this.finish(id, true);
  }

  /** Ends a wait now (its request was not sent, or nobody will answer). */
  cancel(id: string): void {
    this.finish(id, true);
  }

  /** Ends every wait (the engine stops). */
  cancelAll(): void {
    for (const id of [...this.waiting.keys()]) this.finish(id, false);
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }

  private finish(id: string, complete: boolean): void {
    const w = this.waiting.get(id);
    if (w === undefined) return;
    this.waiting.delete(id);
    w.resolve({ sum: w.sum, received: w.received, complete, parts: w.parts });
  }
}
