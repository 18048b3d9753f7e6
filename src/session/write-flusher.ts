/** Something with writes held until the end of the tick. */
export interface Flushable {
  flushWrites(): void;
}

/**
 * Coalesces writes per turn of the event loop: the first write corks the connection and
 * queues it here; one setImmediate callback (after every I/O callback of this poll
 * phase) flushes them all. So a connection makes one syscall however many responses for
 * it arrived from backends in the same turn, and a broadcast costs one callback, not one
 * per session. (A nextTick flush would write once per backend response.)
 */
const pending: Flushable[] = [];
let scheduled = false;

function flush(): void {
  scheduled = false;
  // Flushing may run stream callbacks that write (and queue) again; take a snapshot.
  const batch = pending.splice(0, pending.length);
  for (let i = 0; i < batch.length; i++) batch[i].flushWrites();
}

export function flushAtEndOfTick(item: Flushable): void {
  pending.push(item);
  if (!scheduled) {
    scheduled = true;
    setImmediate(flush);
  }
}
