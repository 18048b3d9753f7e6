/**
 * The Redis key layout of cluster mode (docs/cluster.md draws it). Every key and channel
 * starts with cluster.redis.keyPrefix, so several clusters can share one Redis. The Lua
 * scripts build node keys and channels from the same prefix (`<prefix>node:<id>`,
 * `<prefix>ch:<id>`), so this file and redis-scripts.ts must agree.
 */
export class RedisKeys {
  /** INCR counter: every bind takes the next epoch, so epochs only grow, cluster-wide. */
  readonly epoch: string;
  /** The channel every node subscribes to (broadcasts). */
  readonly broadcast: string;

  constructor(readonly prefix: string) {
    this.epoch = `${prefix}epoch`;
    this.broadcast = `${prefix}bcast`;
  }

  /** Heartbeat of a node: its instance id, with a TTL; gone = the node is dead. */
  node(nodeId: string): string {
    return `${this.prefix}node:${nodeId}`;
  }

  /** Where a node's link listens (node-links.ts): `host:port token`, with its heartbeat's TTL. */
  link(nodeId: string): string {
    return `${this.prefix}link:${nodeId}`;
  }

  /** The channel of one node: pushes, kicks, group pushes and acks for it. */
  channel(nodeId: string): string {
    return `${this.prefix}ch:${nodeId}`;
  }

  /**
   * Hash of one player: node, inst, sess, epoch (binding), seq (highest push sequence
   * given out or reserved), cur (last sequence written, for GET /v1/players), last
   * (lastActiveAt ms), qb (bytes queued), and one `g:<group>` field per group joined.
   */
  player(playerId: string): string {
    return `${this.prefix}p:${playerId}`;
  }

  /** List of one player's offline messages, oldest first: `<expiresAt>,<seq>,<cmd>|<body>`. */
  queue(playerId: string): string {
    return `${this.prefix}q:${playerId}`;
  }

  /** Set of the player ids in a group. */
  group(group: string): string {
    return `${this.prefix}g:${group}`;
  }
}
