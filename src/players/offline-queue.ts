/** One message waiting for an offline player. */
export interface QueuedMessage {
  readonly cmd: number;
  readonly body: Buffer;
  /** The player's push sequence, given when the push was accepted. */
  readonly seq: number;
  readonly expiresAt: number;
}

export interface OfflineBounds {
  readonly maxMessages: number;
  readonly maxBytes: number;
  readonly ttlMs: number;
}

/** Why messages left a queue without being delivered (the `reason` label of gateway_offline_dropped_total). */
export type DropReason = 'overflow' | 'expired' | 'forgotten';
export type DropCounter = (reason: DropReason, count: number) => void;

/**
 * A player's offline messages, oldest first. Bounded by count and bytes: the oldest are
 * dropped first to make room, so a push flood cannot grow memory. Messages expire after
 * ttlMs; expired ones are trimmed before every insert and skipped on drain. All messages
 * share one ttl, so they are in expiry order too.
 */
export class OfflineQueue {
  private items: QueuedMessage[] = [];
  private head = 0;
  private byteSize = 0;

  constructor(
    private readonly bounds: OfflineBounds,
    private readonly dropped: DropCounter,
  ) {}

  get length(): number {
    return this.items.length - this.head;
  }

  get bytes(): number {
    return this.byteSize;
  }

  /** Queues a message; false (and counted as overflow) when it can never fit. */
  add(cmd: number, body: Buffer, seq: number, now: number): boolean {
    this.trimExpired(now);
    const { maxMessages, maxBytes, ttlMs } = this.bounds;
    if (maxMessages === 0 || body.length > maxBytes) {
      this.dropped('overflow', 1);
      return false;
    }
    let overflow = 0;
    while (this.length >= maxMessages || this.byteSize + body.length > maxBytes) {
      this.shift();
      overflow++;
    }
    if (overflow > 0) this.dropped('overflow', overflow);
    this.items.push({ cmd, body, seq, expiresAt: now + ttlMs });
    this.byteSize += body.length;
    return true;
  }

  /** Removes and returns every unexpired message, oldest first. */
  drain(now: number): QueuedMessage[] {
    this.trimExpired(now);
    const out = this.head === 0 ? this.items : this.items.slice(this.head);
    this.items = [];
    this.head = 0;
    this.byteSize = 0;
    return out;
  }

  /** Drops expired messages from the front; returns how many. */
  trimExpired(now: number): number {
    let n = 0;
    while (this.head < this.items.length && this.items[this.head].expiresAt <= now) {
      this.shift();
      n++;
    }
    if (n > 0) this.dropped('expired', n);
    return n;
  }

  /** Drops everything (the player is forgotten). */
  clear(): void {
    const n = this.length;
    this.items = [];
    this.head = 0;
    this.byteSize = 0;
    if (n > 0) this.dropped('forgotten', n);
  }

  private shift(): void {
    const m = this.items[this.head];
    this.items[this.head] = undefined as unknown as QueuedMessage;
    this.head++;
    this.byteSize -= m.body.length;
    // Compact once the dead prefix is half the array, keeping shifts O(1) amortised.
    if (this.head > 32 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
  }
}
