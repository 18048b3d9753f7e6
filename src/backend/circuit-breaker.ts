/**
 * Fails fast while a target cannot be reached. After `failures` connect errors in a row
 * the circuit opens: calls are refused at once (BACKEND_UNAVAILABLE, no socket touched)
 * for `openMs`. Then one call goes out as a probe: an answer closes the circuit, a
 * connect error (or a probe that times out) opens it again.
 *
 * Only connect errors count. A backend that answers 5xx or slowly is still reachable,
 * and refusing its traffic would hide what it says; timeouts of ordinary calls are
 * neither success nor failure.
 */
export class CircuitBreaker {
  private consecutive = 0;
  /** 0 while closed; otherwise when the next probe may go out (ms). */
  private openUntil = 0;
  private probing = false;

  constructor(
    private readonly failures: number,
    private readonly openMs: number,
  ) {}

  get isOpen(): boolean {
    return this.openUntil !== 0;
  }

  /** True when a call may go out now; while open, lets exactly one probe through per openMs. */
  allow(now: number): boolean {
    if (this.openUntil === 0) return true;
    if (this.probing || now < this.openUntil) return false;
    this.probing = true;
    return true;
  }

  /** The backend answered (any HTTP status). Returns true when this closed the circuit. */
  reached(): boolean {
    const wasOpen = this.openUntil !== 0;
    this.consecutive = 0;
    this.openUntil = 0;
    this.probing = false;
    return wasOpen;
  }

  /**
   * A call could not connect (or, while probing, got no answer in time). Returns true
   * when this opened a closed circuit.
   */
  failed(now: number): boolean {
    const wasOpen = this.openUntil !== 0;
    this.probing = false;
    this.consecutive++;
    if (this.consecutive >= this.failures) this.openUntil = now + this.openMs;
    return !wasOpen && this.openUntil !== 0;
  }

  /** A call timed out: says nothing about reachability, unless it was the probe. */
  timedOut(now: number): boolean {
    return this.probing ? this.failed(now) : false;
  }
}
