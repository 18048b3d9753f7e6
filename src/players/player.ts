import type { Session } from '../session/session.js';
import type { OfflineQueue } from './offline-queue.js';

/** One player known to this gateway: online (bound to a session) or retained offline. */
export class Player {
  session: Session | null = null;
  /** Epoch of the current (or last) binding; a close or unbind with an older epoch is stale. */
  epoch = 0;
  /** Last push sequence given out; the next PUSH carries pushSeq + 1. */
  pushSeq = 0;
  lastActiveAt: number;
  /** When the last session ended (ms), or 0 while online. */
  offlineSince = 0;
  queue: OfflineQueue | null = null;
  groups: Set<string> | null = null;

  constructor(
    readonly id: string,
    now: number,
  ) {
    this.lastActiveAt = now;
  }

  get online(): boolean {
    return this.session !== null;
  }
}
