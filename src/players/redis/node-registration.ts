import { randomBytes } from 'node:crypto';
import type { GatewayConfig } from '../../config/schema.js';
import type { GatewayMetrics } from '../../metrics/metrics.js';
import type { Binding } from '../binding.js';
import type { NodeInfo } from '../engine.js';
import type { LocalHub } from '../local-hub.js';
import { decodeQueued } from './queued-message.js';
import type { RedisConnection } from './redis-connection.js';
import { SEQ_BLOCK, type SequenceBlocks } from './sequence-blocks.js';

/** How often a node renews its heartbeat key. */
export const HEARTBEAT_MS = 1_000;
/** A node whose heartbeat key is older than this is dead: its players count as offline. */
export const NODE_TTL_MS = 5_000;
/** How often a node renews the records of its bound players (lease, cur, last). */
export const LEASE_REFRESH_MS = 10_000;
/** A bound player's record outlives its node by retainMs plus this, if the node dies. */
const LEASE_SLACK_MS = 3 * LEASE_REFRESH_MS;
/** Bindings renewed per pipeline chunk. */
const REFRESH_CHUNK = 500;
/** Most nodes GET /v1/nodes lists (a bound on the SCAN, not a cluster limit). */
const MAX_NODES_LISTED = 1_000;

/** An unbind that could not reach Redis; replayed on reconnect (the epoch compare keeps it safe). */
interface PendingUnbind {
  epoch: number;
  seq: number;
  ceil: number;
  last: number;
}

/**
 * This node's standing in Redis: its heartbeat key, the leases of its bound players, and
 * bringing Redis back in line after an outage or a lapsed heartbeat (unbinds that failed
 * are replayed, every binding kept meanwhile is registered again). `registered` is false
 * from a lost connection until that is done; it feeds readiness.
 */
export class NodeRegistration {
  /** This process; a restarted node with the same id is another instance, so old records stay dead. */
  readonly instance = randomBytes(6).toString('hex');
  readonly onlineTtlMs: number;
  readonly retainTtlMs: number;
  registered = false;
  heartbeatOk = false;
  private hadHeartbeat = false;
  private registering = false;
  private registerAgain = false;
  private lastLeaseAt = 0;
  /** When the last heartbeat that renewed this node's key was sent: the key lives ≥ NODE_TTL_MS past it. */
  private heartbeatAt = 0;
  /** The subscription (NodeChannel.subscription) the last complete registration began under. */
  private registeredFor = -1;
  private readonly pendingUnbinds = new Map<string, PendingUnbind>();

  constructor(
    config: GatewayConfig,
    private readonly conn: RedisConnection,
    private readonly channel: { readonly subscribed: boolean; readonly subscription: number },
    private readonly hub: LocalHub,
    private readonly blocks: SequenceBlocks,
    private readonly metrics: GatewayMetrics,
    private readonly changed: () => void,
  ) {
    this.onlineTtlMs = config.players.retainMs + LEASE_SLACK_MS;
    // PEXPIRE 0 would delete at once; retainMs 0 means "forget at the next chance" anyway.
    this.retainTtlMs = Math.max(1, config.players.retainMs);
  }

  /** Once a second: the heartbeat, and every LEASE_REFRESH_MS the leases. */
  tick(ready: () => boolean): void {
    if (this.conn.stopping) return;
    this.heartbeat().then(() => {
      if (ready() && Date.now() - this.lastLeaseAt >= LEASE_REFRESH_MS) this.refreshLeases();
    });
  }

  /** Renews the heartbeat key; finding it gone (lapsed, or Redis lost its data) re-registers. */
  async heartbeat(): Promise<void> {
    const { cmd, keys, nodeId, log } = this.conn;
    if (!this.conn.connected) {
      this.heartbeatOk = false;
      this.changed();
      return;
    }
    try {
      const sentAt = Date.now();
      const before = await cmd.call('SET', keys.node(nodeId), this.instance, 'PX', NODE_TTL_MS, 'GET');
      this.heartbeatAt = sentAt;
      await this.conn.syncClock();
      this.heartbeatOk = true;
      if (before !== this.instance && this.hadHeartbeat) {
        log.warn({ node: nodeId }, 'cluster engine: heartbeat had lapsed; re-registering');
        this.registered = false;
      }
      this.hadHeartbeat = true;
      if (!this.registered) this.register();
    } catch (err) {
      this.heartbeatOk = false;
      this.conn.failed('heartbeat', err);
    }
    this.changed();
  }

  /**
   * True while this node's bindings are known to match Redis' records: registered, under
   * the subscription it holds now, and its heartbeat key renewed recently enough that it
   * cannot have lapsed. Then every login elsewhere that replaced one of its bindings found
   * this node alive and sent it a KICK on its channel, which it has read before any later
   * message; so a binding it holds at the epoch a DIRECT push names is the current one.
   */
  current(): boolean {
    return (
      this.registered &&
      this.channel.subscribed &&
      this.registeredFor === this.channel.subscription &&
      Date.now() - this.heartbeatAt < NODE_TTL_MS - HEARTBEAT_MS
    );
  }

  /** Deletes the heartbeat key if it is still this process's, so others see this node dead at once. */
  async leave(): Promise<void> {
    if (!this.conn.connected) return;
    try {
      const key = this.conn.keys.node(this.conn.nodeId);
      if ((await this.conn.cmd.get(key)) === this.instance) await this.conn.cmd.del(key);
    } catch {}
  }

  /**
   * The nodes whose heartbeat key exists (SCAN of `<prefix>node:*`, then GET and PTTL of
   * each), sorted by id; at most MAX_NODES_LISTED. Read-only; EngineUnavailableError when
   * Redis cannot be reached.
   */
  async nodes(): Promise<NodeInfo[]> {
    if (!this.conn.connected) throw this.conn.unavailable('nodes');
    const { cmd, keys } = this.conn;
    const head = keys.node('');
    try {
      const found = new Set<string>();
      let cursor = '0';
      do {
        const [next, batch] = await cmd.scan(cursor, 'MATCH', `${globEscaped(head)}*`, 'COUNT', 200);
        for (const k of batch) if (found.size < MAX_NODES_LISTED) found.add(k);
        cursor = next;
      } while (cursor !== '0' && found.size < MAX_NODES_LISTED);
      const listed = await Promise.all(
        [...found].map(async (key) => {
          const [instance, ttl] = await Promise.all([cmd.get(key), cmd.pttl(key)]);
          return { key, instance, ttl };
        }),
      );
      return listed
        .filter((n) => n.instance !== null && n.ttl >= 0)
        .map((n) => ({
          id: n.key.slice(head.length),
          instance: n.instance,
          heartbeatAgeMs: Math.max(0, NODE_TTL_MS - n.ttl),
        }))
        .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    } catch (err) {
      this.conn.failed('nodes', err);
      throw this.conn.unavailable('nodes');
    }
  }

  /** Ends `b`'s record in Redis, or keeps the unbind for the next registration when Redis is away. */
  async unbind(b: Binding): Promise<void> {
    const pending: PendingUnbind = { epoch: b.epoch, seq: b.seq, ceil: b.ceil, last: Date.now() };
    if (!(await this.sendUnbind(b.playerId, pending))) this.pendingUnbinds.set(b.playerId, pending);
  }

  private async sendUnbind(playerId: string, u: PendingUnbind): Promise<boolean> {
    if (!this.conn.connected) return false;
    const { cmd, keys } = this.conn;
    try {
      await cmd.gwUnbind(
        keys.player(playerId),
        keys.queue(playerId),
        u.epoch,
        u.seq,
        u.ceil,
        this.retainTtlMs,
        u.last,
      );
      return true;
    } catch (err) {
      this.conn.failed('unbind', err);
      return false;
    }
  }

  /** Extends the records of this node's players and writes their cur/last for other nodes' lookups. */
  private async refreshLeases(): Promise<void> {
    this.lastLeaseAt = Date.now();
    const { cmd, keys } = this.conn;
    const all = [...this.hub.values()].filter((b) => b.state === 'bound');
    for (let i = 0; i < all.length; i += REFRESH_CHUNK) {
      const chunk = all.slice(i, i + REFRESH_CHUNK);
      const results = await Promise.allSettled(
        chunk.map((b) =>
          cmd.gwRefresh(
            keys.player(b.playerId),
            keys.queue(b.playerId),
            b.epoch,
            b.seq,
            b.lastActiveAt,
            this.onlineTtlMs,
          ),
        ),
      );
      results.forEach((r, j) => {
        const b = chunk[j];
        if (r.status === 'rejected') this.conn.failed('refresh', r.reason);
        else if (r.value === -1 && this.hub.holds(b)) this.hub.replace(b);
        else if (r.value === 0) this.registered = false;
      });
    }
  }

  /** Registers this node's bindings again (after an outage or a lapsed heartbeat). One runs at a time. */
  register(): void {
    if (this.conn.stopping) return;
    if (this.registering) {
      this.registerAgain = true;
      return;
    }
    this.registering = true;
    this.registerAll()
      .then((ok) => {
        if (ok && !this.registered) {
          this.registered = true;
          this.lastLeaseAt = Date.now();
          this.conn.log.info({ node: this.conn.nodeId, players: this.hub.size }, 'cluster engine registered');
        }
      })
      .finally(() => {
        this.registering = false;
        this.changed();
        if (this.registerAgain) {
          this.registerAgain = false;
          this.register();
        }
      });
  }

  async registerAll(): Promise<boolean> {
    if (!this.conn.connected) return false;
    const subscription = this.channel.subscribed ? this.channel.subscription : -1;
    for (const [playerId, u] of [...this.pendingUnbinds]) {
      if (!(await this.sendUnbind(playerId, u))) return false;
      this.pendingUnbinds.delete(playerId);
    }
    const all = [...this.hub.values()].filter((b) => b.state !== 'binding');
    for (let i = 0; i < all.length; i += REFRESH_CHUNK) {
      const results = await Promise.allSettled(
        all.slice(i, i + REFRESH_CHUNK).map((b) => this.reregister(b)),
      );
      const failed = results.find((r) => r.status === 'rejected') as PromiseRejectedResult | undefined;
      if (failed !== undefined) {
        this.conn.failed('register', failed.reason);
        return false;
      }
    }
    this.registeredFor = subscription;
    return true;
  }

  /** The keys and arguments the bind and register scripts share: whose record, held by which node and session. */
  holderArgs(b: Binding): [string, string, string, string, string, string, string, string] {
    const { keys, nodeId } = this.conn;
    const { playerId } = b;
    return [
      keys.player(playerId),
      keys.queue(playerId),
      keys.epoch,
      keys.prefix,
      playerId,
      nodeId,
      this.instance,
      b.sessionId,
    ];
  }

  private async reregister(b: Binding): Promise<void> {
    const reply = await this.conn.cmd.gwRegisterBuffer(
      ...this.holderArgs(b),
      b.state === 'bound' ? b.epoch : 0,
      b.seq,
      b.ceil,
      SEQ_BLOCK,
      this.onlineTtlMs,
      b.lastActiveAt,
    );
    const current = this.hub.holds(b);
    if (String(reply[0]) === 'stale') {
      if (current) this.hub.replace(b);
      return;
    }
    const [, epoch, base, ceil, expired, messages] = reply as [
      Buffer,
      Buffer,
      Buffer,
      Buffer,
      number,
      Buffer[],
    ];
    b.epoch = Number(String(epoch));
    b.seq = Math.max(b.seq, Number(String(base)));
    this.blocks.setCeiling(b, Number(String(ceil)));
    b.state = 'bound';
    if (expired > 0) this.metrics.offlineDropped.child('expired').inc(expired);
    this.hub.countLost(this.hub.replay(b, decodeQueued(messages)));
    if (current) return;
    // It ended while the script ran: take it out of Redis again.
    await this.sendUnbind(b.playerId, { epoch: b.epoch, seq: b.seq, ceil: b.ceil, last: Date.now() });
  }
}

/** `s` as a literal in a Redis glob pattern (SCAN MATCH): its `*`, `?`, `[`, `]` and `\` escaped. */
function globEscaped(s: string): string {
  return s.replace(/[*?[\]\\]/g, '\\$&');
}
