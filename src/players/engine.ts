import type { PushResult } from '../metrics/metrics.js';
import type { Binding } from './binding.js';
import type { ReplayMessage } from './local-hub.js';

/** Defined once, with the metric that counts it (gateway_push_total{result}). */
export type { PushResult };

/** What GET /v1/players/{id} answers. */
export interface PlayerInfo {
  playerId: string;
  online: boolean;
  node: string | null;
  sessionId: string | null;
  /** ISO 8601 time of the player's last request or binding. */
  lastActiveAt: string;
  offlineQueued: number;
  pushSeq: number;
}

/** What GET /v1/nodes lists: one gateway node of the cluster (read-only, for operators). */
export interface NodeInfo {
  id: string;
  /** The process holding the id (a restart is another instance); null with the local engine. */
  instance: string | null;
  /** Since the node last renewed its heartbeat (ms); 0 with the local engine. */
  heartbeatAgeMs: number;
}

export interface EngineCounts {
  online: number;
  offline: number;
  offlineMessages: number;
}

/**
 * Where players live: who is known, at which epoch each binding is, push sequences,
 * offline queues and groups. `local` (MemoryEngine) is the default; `redis` (RedisEngine)
 * shares all of it between nodes. An engine never touches a session: this node's
 * bindings are the LocalHub's, and the engine asks the hub to write, kick and replay.
 * The Players facade is what the rest of the gateway calls; it runs the hub's part first
 * and hands the engine only what this node cannot do alone. Every method states its contract.
 */
export interface Engine {
  readonly name: 'local' | 'redis';
  /** True while the engine can reach its shared state (always, for local). Feeds /readyz. */
  readonly ready: boolean;
  start(): Promise<void>;
  stop(): Promise<void>;

  /**
   * Confirms `b`, just claimed on this node's hub: gives it an epoch higher than any
   * before and its push sequence, ends the player's binding on any other node (KICK
   * REPLACED there), and returns the player's queued offline messages, oldest first, taken
   * out of the queue. Sets `b.state` to 'bound', or to 'unregistered' when the shared
   * state cannot be reached (the binding then stays local and is registered later). Never rejects.
   */
  bind(b: Binding): Promise<ReplayMessage[]>;
  /**
   * Ends `b` (the hub already detached it) if its epoch is still the player's current one;
   * a stale binding changes nothing. The player stays known, offline, for players.retainMs.
   */
  unbind(b: Binding): Promise<void>;

  /**
   * Pushes to players whose binding is not on this node (or whose session here is
   * closing): `delivered` when another node wrote it, `cached` when the player is known
   * and offline (and `offline` is true), `dropped` otherwise. Results are in the order of
   * `players`. Each accepted message takes the player's next seq.
   */
  pushAway(players: readonly string[], cmd: number, body: Buffer, offline: boolean): Promise<PushResult[]>;
  /** Writes one PUSH to every bound session of the other nodes; returns their deliveries (0 for local). */
  broadcastAway(cmd: number, body: Buffer): Promise<number>;
  /** Pushes to the online members of `group`, on every node (offline members get nothing). Returns deliveries. */
  groupPush(group: string, cmd: number, body: Buffer): Promise<number>;
  /** Adds known players to `group`; returns the member count after. */
  join(group: string, players: readonly string[]): Promise<number>;
  /** Removes players from `group`; returns the member count after. */
  leave(group: string, players: readonly string[]): Promise<number>;
  /** The members of `group` (known players, online or not), in no particular order. */
  members(group: string): Promise<string[]>;
  /** Kicks a player bound on another node with KICKED; returns 1 when it was online there. */
  kickAway(playerId: string, reason: string): Promise<number>;
  /** What is known of `playerId`; `local` is its binding on this node, if any. */
  player(playerId: string, local: Binding | undefined): Promise<PlayerInfo | null>;
  counts(): EngineCounts;
  /**
   * The nodes alive now: local, this node only; Redis, every node whose heartbeat key
   * exists (a node that died without leaving stays listed until its key expires, at most
   * 5 s). Read-only; rejects with EngineUnavailableError when Redis cannot be reached.
   */
  nodes(): Promise<NodeInfo[]>;
  /**
   * SIGHUP: re-reads the engine's own TLS files (Redis: `cluster.link.tls`) for its next
   * connections. False when it has none, or a file is bad (logged; the old ones stay).
   */
  reloadTls(): boolean;
}
