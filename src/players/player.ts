import type { Binding } from './binding.js';
import type { OfflineQueue } from './offline-queue.js';

/** One player known to the memory engine: online (its binding on this node) or retained offline. */
export class Player {
  binding: Binding | null = null;
  /** Last push sequence given out while no binding numbers them; the next PUSH carries pushSeq + 1. */
  pushSeq = 0;
  lastActiveAt: number;
  /** When the last binding ended (ms), or 0 while online. */
  offlineSince = 0;
  queue: OfflineQueue | null = null;
  groups: Set<string> | null = null;

  constructor(
    readonly id: string,
    now: number,
  ) {
    this.lastActiveAt = now;
  }

  /** The last sequence given out: the binding's while bound, since it numbers at write time. */
  get lastSeq(): number {
    return this.binding?.seq ?? this.pushSeq;
  }
}
