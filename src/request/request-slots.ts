import type { Session } from '../session/session.js';
import type { ClientRequest } from './client-request.js';

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

/** The in-flight slots of every session: taken at admission, released by the finisher. */
export class RequestSlots {
  /** Requests admitted and not yet answered, all sessions. */
  total = 0;
  private readonly budgets = new Map<Session, SessionBudget>();

  constructor(private readonly burst: number) {}

  budget(session: Session, now: number): SessionBudget {
    let b = this.budgets.get(session);
    if (b === undefined) {
      b = new SessionBudget(this.burst, now);
      this.budgets.set(session, b);
    }
    return b;
  }

  take(req: ClientRequest, budget: SessionBudget): void {
    budget.inFlight++;
    this.total++;
    req.budget = budget;
  }

  release(req: ClientRequest): void {
    if (req.budget === null) return;
    req.budget.inFlight--;
    req.budget = null;
    this.total--;
  }

  /** The session is gone; requests still in flight keep their budget until they finish. */
  forget(session: Session): void {
    this.budgets.delete(session);
  }
}
