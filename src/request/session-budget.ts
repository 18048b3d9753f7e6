/**
 * One session's request budget: its requests in flight, its token bucket
 * (limits.requestsPerSecond, refilled continuously, holding at most requestBurst) and its
 * requests per minute (for the `suspects` player_id label). Made at the session's first
 * request, so idle sessions carry none.
 */
export class SessionBudget {
  inFlight = 0;
  private tokens: number;
  private tokensAt: number;
  private minuteStartedAt: number;
  private requestsThisMinute = 0;
  private requestsLastMinute = 0;

  constructor(burst: number, now: number) {
    this.tokens = burst;
    this.tokensAt = now;
    this.minuteStartedAt = now;
  }

  /** Takes one token; false: the request is refused. A rate of 0 means no limit. */
  takeToken(now: number, perSecond: number, burst: number): boolean {
    if (perSecond === 0) return true;
    this.tokens = Math.min(burst, this.tokens + ((now - this.tokensAt) * perSecond) / 1000);
    this.tokensAt = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }

  /** Counts a request toward the per-minute rate and returns the rate over the last minute. */
  countRequest(now: number): number {
    const elapsed = now - this.minuteStartedAt;
    if (elapsed >= 60_000) {
      this.requestsLastMinute = elapsed >= 120_000 ? 0 : this.requestsThisMinute;
      this.requestsThisMinute = 0;
      this.minuteStartedAt = now - (elapsed % 60_000);
    }
    this.requestsThisMinute++;
    // Sliding-window estimate: the unexpired share of the previous minute plus this one.
    const share = 1 - (now - this.minuteStartedAt) / 60_000;
    return this.requestsThisMinute + this.requestsLastMinute * share;
  }
}
