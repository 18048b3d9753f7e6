/**
 * A delay that can be cut short: the reconnect loop waits out its backoff here, and
 * close() wakes it so a closed client stops at once instead of after the backoff.
 */
export class WakeableDelay {
  private wakeUp: (() => void) | null = null;

  wait(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms);
      const self = this;
      function done(): void {
        clearTimeout(timer);
        self.wakeUp = null;
        resolve();
      }
      this.wakeUp = done;
    });
  }

  /** Ends the current wait now (nothing when none runs). */
  wake(): void {
    this.wakeUp?.();
  }
}
