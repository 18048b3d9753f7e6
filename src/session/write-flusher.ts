/** Something with writes held until the end of the tick. */
export interface Flushable {
  flushWrites(): void;
}

/**
 * Coalesces writes per tick: the first write of a tick corks the connection and queues
 * it here; one nextTick callback flushes them all, so every connection makes one
 * syscall per tick however many frames it got, and a broadcast costs one callback, not
 * one per session.
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
    process.nextTick(flush);
  }
}
