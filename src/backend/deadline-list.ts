/** A member of a DeadlineList: a call in flight that can be answered as timed out. */
export interface DeadlineNode {
  prev: DeadlineNode | null;
  next: DeadlineNode | null;
  /** Date.now() value after which the call has timed out. */
  readonly deadline: number;
  /** Answers the call as timed out; it then leaves the list. */
  expire(): void;
}

/**
 * The calls in flight of one endpoint, oldest first. They all share the endpoint's
 * timeout, so start order is deadline order: a sweep only ever looks at the head.
 */
export class DeadlineList {
  head: DeadlineNode | null = null;
  tail: DeadlineNode | null = null;

  push(node: DeadlineNode): void {
    node.prev = this.tail;
    if (this.tail) this.tail.next = node;
    else this.head = node;
    this.tail = node;
  }

  remove(node: DeadlineNode): void {
    if (node.prev) node.prev.next = node.next;
    else if (this.head === node) this.head = node.next;
    if (node.next) node.next.prev = node.prev;
    else if (this.tail === node) this.tail = node.prev;
    node.prev = node.next = null;
  }

  /** Expires every call whose deadline has passed. */
  expireUntil(now: number): void {
    while (this.head !== null && this.head.deadline <= now) this.head.expire();
  }
}
