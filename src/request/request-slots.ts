import type { Session } from '../session/session.js';
import { SessionBudget } from './session-budget.js';

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

  take(budget: SessionBudget): void {
    budget.inFlight++;
    this.total++;
  }

  release(budget: SessionBudget): void {
    budget.inFlight--;
    this.total--;
  }

  /** The session is gone; requests still in flight keep their budget until they finish. */
  forget(session: Session): void {
    this.budgets.delete(session);
  }
}
