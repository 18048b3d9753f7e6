/** Players remembered at most (oldest first out): a bound on this node's memory. */
export const ROUTE_CACHE_MAX = 100_000;
/** A route not confirmed by a delivery for this long is forgotten. */
export const ROUTE_TTL_MS = 30_000;

/** Where a player was last seen bound on another node: that node, and its binding's epoch. */
export interface Route {
  node: string;
  epoch: number;
  confirmedAt: number;
}

/**
 * This node's memory of which node holds which player, learned from the push script's
 * answers and confirmed by every delivery. It only saves the Redis lookup: a push sent by
 * it names the epoch it expects, and the holding node writes only to a binding of that
 * epoch, while it knows its bindings are current (cluster-message.ts, DIRECT). A wrong or
 * stale route costs one hop back through the script, never a push to the wrong session.
 */
export class RouteCache {
  private readonly routes = new Map<string, Route>();

  constructor(
    private readonly max = ROUTE_CACHE_MAX,
    private readonly ttlMs = ROUTE_TTL_MS,
  ) {}

  get size(): number {
    return this.routes.size;
  }

  get(playerId: string, now: number): Route | undefined {
    const r = this.routes.get(playerId);
    if (r === undefined) return undefined;
    if (now - r.confirmedAt <= this.ttlMs) return r;
    this.routes.delete(playerId);
    return undefined;
  }

  set(playerId: string, node: string, epoch: number, now: number): void {
    const r = this.routes.get(playerId);
    if (r !== undefined) {
      r.node = node;
      r.epoch = epoch;
      r.confirmedAt = now;
      return;
    }
    if (this.routes.size >= this.max) this.routes.delete(this.routes.keys().next().value as string);
    this.routes.set(playerId, { node, epoch, confirmedAt: now });
  }

  /** Forgets the route of `playerId` if it is still the one of `epoch`. */
  forget(playerId: string, epoch: number): void {
    if (this.routes.get(playerId)?.epoch === epoch) this.routes.delete(playerId);
  }
}
