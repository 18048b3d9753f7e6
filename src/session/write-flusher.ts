/** Something with writes held until the end of the event-loop turn. */
export interface Flushable {
  flushWrites(): void;
}

/**
 * Coalesces writes per turn of the event loop. A connection's first frame of a turn is
 * written at once (most connections get one frame per turn: corking it would only add
 * work); from its second frame on, the connection is corked and queued here, and one
 * setImmediate callback (after every I/O callback of this poll phase) flushes them all.
 * So a connection makes at most two syscalls per turn however many responses for it
 * arrived from backends, and a broadcast costs one callback, not one per session.
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

let turn = 0;
let turnScheduled = false;
function advanceTurn(): void {
  turn++;
  turnScheduled = false;
}

/** A number that changes once per event-loop turn in which something was written. */
export function currentTurn(): number {
  if (!turnScheduled) {
    turnScheduled = true;
    setImmediate(advanceTurn);
  }
  return turn;
}
