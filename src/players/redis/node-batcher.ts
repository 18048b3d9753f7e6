/** Most unanswered messages per node: what is added past it waits to go in the next one. */
export const NODE_WINDOW = 1;
/** Longest anything waits for the window (a node slow to answer): then it goes anyway. */
export const NODE_HOLD_MS = 5;

/** What one item adds to a message: entries (players) and body bytes. */
export interface Batchable {
  readonly entries: number;
  readonly bytes: number;
}

/** The messages to one node: how many are unanswered, and the items waiting to go. */
interface Lane<T> {
  readonly node: string;
  unanswered: number;
  waiting: T[];
  entries: number;
  bytes: number;
  /** Sends the waiting items though the window is full (armed while it is). */
  hold: NodeJS.Timeout | null;
}

/**
 * Gathers items into one message per node, the way Nagle's algorithm gathers bytes: what
 * is added in one event-loop turn goes together after the poll phase, and while a node has
 * NODE_WINDOW messages unanswered, more waits for an answer and goes with the next. An
 * idle node gets each item at once (no added latency); a busy one gets fewer, larger
 * messages, each paying its round trips once for many items. A message holds at most
 * `maxEntries` entries and `maxBytes` bytes (one item larger than that goes alone); a lane
 * that reaches either bound, or has waited NODE_HOLD_MS, goes without waiting for the window.
 */
export class NodeBatcher<T extends Batchable> {
  private readonly lanes = new Map<string, Lane<T>>();
  private scheduled = false;

  constructor(
    /** Sends one message; settles when it is answered, or given up (it never rejects). */
    private readonly send: (node: string, batch: T[]) => Promise<void>,
    private readonly maxEntries: number,
    private readonly maxBytes: number,
  ) {}

  add(node: string, item: T): void {
    let lane = this.lanes.get(node);
    if (lane === undefined) {
      lane = { node, unanswered: 0, waiting: [], entries: 0, bytes: 0, hold: null };
      this.lanes.set(node, lane);
    }
    lane.waiting.push(item);
    lane.entries += item.entries;
    lane.bytes += item.bytes;
    this.schedule();
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    // After the poll phase: what was read in this turn goes together.
    setImmediate(this.flush);
  }

  private readonly flush = (): void => {
    this.scheduled = false;
    for (const lane of this.lanes.values()) {
      if (lane.waiting.length === 0) continue;
      if (lane.unanswered < NODE_WINDOW || lane.entries >= this.maxEntries || lane.bytes >= this.maxBytes)
        this.sendWaiting(lane);
      else lane.hold ??= setTimeout(() => this.sendWaiting(lane), NODE_HOLD_MS);
    }
  };

  /** Sends everything waiting for `lane`, in as few messages as the bounds allow. */
  private sendWaiting(lane: Lane<T>): void {
    if (lane.hold !== null) {
      clearTimeout(lane.hold);
      lane.hold = null;
    }
    const items = lane.waiting;
    if (items.length === 0) return;
    lane.waiting = [];
    lane.entries = 0;
    lane.bytes = 0;
    let from = 0;
    let entries = 0;
    let bytes = 0;
    for (let i = 0; i < items.length; i++) {
      const item = items[i];
      if (i > from && (entries + item.entries > this.maxEntries || bytes + item.bytes > this.maxBytes)) {
        this.sendOne(lane, items.slice(from, i));
        from = i;
        entries = 0;
        bytes = 0;
      }
      entries += item.entries;
      bytes += item.bytes;
    }
    this.sendOne(lane, from === 0 ? items : items.slice(from));
  }

  private sendOne(lane: Lane<T>, batch: T[]): void {
    lane.unanswered++;
    this.send(lane.node, batch).then(() => {
      lane.unanswered--;
      if (lane.waiting.length > 0) this.schedule();
      else if (lane.unanswered === 0) this.lanes.delete(lane.node);
    });
  }
}
