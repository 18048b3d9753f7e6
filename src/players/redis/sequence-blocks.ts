import type { Binding } from '../binding.js';
import type { LocalHub } from '../local-hub.js';
import type { RedisConnection } from './redis-connection.js';

/** Push sequences a node reserves per binding at a time, so it numbers pushes without Redis. */
export const SEQ_BLOCK = 1_000;
/** A new block is asked for when fewer than this many sequences of the current one are left. */
const REFILL_MARGIN = SEQ_BLOCK / 4;

/**
 * Push sequences in Redis mode: the node holding a player numbers its pushes itself, at
 * write time, from a block reserved in Redis (up to `b.ceil`), so the sequence on a
 * connection always grows and a push costs no round trip. The hub tells this when a write
 * nears the end of a block; one reservation per binding runs at a time.
 */
export class SequenceBlocks {
  constructor(
    private readonly conn: RedisConnection,
    hub: LocalHub,
  ) {
    hub.onSequenceLow((b) => this.reserve(b));
  }

  /** Sets the block's end, and where the next reservation starts. */
  setCeiling(b: Binding, ceil: number): void {
    b.ceil = ceil;
    b.refillAt = ceil - REFILL_MARGIN;
  }

  private reserve(b: Binding): void {
    if (!this.conn.connected) return;
    const ceil = b.ceil;
    // No second reservation while this one runs.
    b.refillAt = Number.MAX_SAFE_INTEGER;
    this.conn.cmd
      .gwReserve(this.conn.keys.player(b.playerId), b.epoch, ceil, SEQ_BLOCK)
      .then((r) => {
        if (r === null) return;
        const base = Number(r[0]);
        // Contiguous (base = the old ceiling) unless another node took sequences above it.
        if (base > ceil) b.seq = Math.max(b.seq, base);
        this.setCeiling(b, Number(r[1]));
      })
      .catch((err) => this.conn.failed('reserve', err))
      .finally(() => {
        if (b.refillAt === Number.MAX_SAFE_INTEGER) b.refillAt = b.ceil - REFILL_MARGIN;
      });
  }
}
