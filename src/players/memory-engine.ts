import type { GatewayConfig } from '../config/schema.js';
import type { GatewayMetrics } from '../metrics/metrics.js';
import type { Binding } from './binding.js';
import type { Engine, EngineCounts, NodeInfo, PlayerInfo, PushResult } from './engine.js';
import type { LocalHub, ReplayMessage } from './local-hub.js';
import { type DropReason, OfflineQueue } from './offline-queue.js';
import { Player } from './player.js';

/** Most players forgotten per sweep, so one sweep never stalls the event loop. */
const FORGET_PER_SWEEP = 10_000;
const SWEEP_MS = 1_000;

/**
 * The in-memory engine (the default): every player known to this node, their epochs,
 * push sequences, offline queues and groups. Everything here is synchronous, so nothing
 * can interleave with a bind's replay.
 */
export class MemoryEngine implements Engine {
  readonly name = 'local';
  readonly ready = true;
  private readonly players = new Map<string, Player>();
  /** Offline players in the order they went offline, which is also their forget order. */
  private readonly offline = new Map<string, Player>();
  private readonly groups = new Map<string, Set<Player>>();
  private epochs = 0;
  private queued = 0;
  private sweepTimer: NodeJS.Timeout | null = null;
  private readonly dropCounter = (reason: DropReason, n: number): void => {
    this.queued -= n;
    this.metrics.offlineDropped.child(reason).inc(n);
  };

  constructor(
    private readonly config: GatewayConfig,
    private readonly hub: LocalHub,
    private readonly metrics: GatewayMetrics,
  ) {}

  async start(): Promise<void> {
    this.sweepTimer = setInterval(() => this.sweep(Date.now()), SWEEP_MS);
    this.sweepTimer.unref();
  }

  async stop(): Promise<void> {
    if (this.sweepTimer) clearInterval(this.sweepTimer);
  }

  async bind(b: Binding): Promise<ReplayMessage[]> {
    const now = b.lastActiveAt;
    let player = this.players.get(b.playerId);
    if (player === undefined) {
      player = new Player(b.playerId, now);
      this.players.set(b.playerId, player);
    }
    // A replaced binding numbered pushes itself: its last sequence carries over.
    player.pushSeq = player.lastSeq;
    player.binding = b;
    player.lastActiveAt = now;
    player.offlineSince = 0;
    this.offline.delete(b.playerId);
    b.epoch = ++this.epochs;
    b.seq = player.pushSeq;
    b.state = 'bound';
    if (player.queue === null || player.queue.length === 0) return [];
    const messages = player.queue.drain(now);
    this.queued -= messages.length;
    return messages;
  }

  async unbind(b: Binding): Promise<void> {
    const player = this.players.get(b.playerId);
    if (player === undefined || player.binding !== b) return;
    const now = Date.now();
    player.pushSeq = b.seq;
    player.binding = null;
    player.offlineSince = now;
    player.lastActiveAt = Math.max(now, b.lastActiveAt);
    this.offline.set(b.playerId, player);
  }

  async pushAway(
    players: readonly string[],
    cmd: number,
    body: Buffer,
    offline: boolean,
  ): Promise<PushResult[]> {
    const now = Date.now();
    return players.map((playerId) => this.store(playerId, cmd, body, offline, now));
  }

  /** Queues a message for a known player this node cannot write to now. */
  private store(playerId: string, cmd: number, body: Buffer, offline: boolean, now: number): PushResult {
    const player = this.players.get(playerId);
    if (player === undefined || !offline) return 'dropped';
    player.queue ??= new OfflineQueue(this.config.players.offline, this.dropCounter);
    const seq = player.lastSeq + 1;
    if (!player.queue.add(cmd, body, seq, now)) return 'dropped';
    // Bound to a closing session: the binding's sequence moves on, so its unbind keeps it.
    if (player.binding !== null) player.binding.seq = seq;
    else player.pushSeq = seq;
    this.queued++;
    return 'cached';
  }

  async broadcastAway(): Promise<number> {
    return 0;
  }

  async groupPush(group: string, cmd: number, body: Buffer): Promise<number> {
    const members = this.groups.get(group);
    if (members === undefined) return 0;
    const online: Binding[] = [];
    for (const player of members) if (player.binding !== null) online.push(player.binding);
    return this.hub.deliverEach(online, cmd, body);
  }

  async join(group: string, players: readonly string[]): Promise<number> {
    let members = this.groups.get(group);
    for (const id of players) {
      const player = this.players.get(id);
      if (player === undefined) continue;
      if (members === undefined) {
        members = new Set();
        this.groups.set(group, members);
      }
      members.add(player);
      player.groups ??= new Set();
      player.groups.add(group);
    }
    return members?.size ?? 0;
  }

  async leave(group: string, players: readonly string[]): Promise<number> {
    const members = this.groups.get(group);
    if (members === undefined) return 0;
    for (const id of players) {
      const player = this.players.get(id);
      if (player === undefined) continue;
      members.delete(player);
      player.groups?.delete(group);
    }
    if (members.size === 0) this.groups.delete(group);
    return members.size;
  }

  async members(group: string): Promise<string[]> {
    return [...(this.groups.get(group) ?? [])].map((p) => p.id);
  }

  /** One node: a player not bound here is bound nowhere. */
  async kickAway(): Promise<number> {
    return 0;
  }

  async player(playerId: string, local: Binding | undefined): Promise<PlayerInfo | null> {
    const p = this.players.get(playerId);
    if (p === undefined) return null;
    p.queue?.trimExpired(Date.now());
    const online = local !== undefined;
    return {
      playerId,
      online,
      node: online ? this.config.node.id : null,
      sessionId: local?.sessionId ?? null,
      lastActiveAt: new Date(local?.lastActiveAt ?? p.lastActiveAt).toISOString(),
      offlineQueued: p.queue?.length ?? 0,
      pushSeq: p.lastSeq,
    };
  }

  counts(): EngineCounts {
    return { online: this.hub.size, offline: this.offline.size, offlineMessages: this.queued };
  }

  /** Nothing of its own to reload: no TLS. */
  reloadTls(): boolean {
    return false;
  }

  async nodes(): Promise<NodeInfo[]> {
    return [{ id: this.config.node.id, instance: null, heartbeatAgeMs: 0 }];
  }

  /** Forgets players offline for longer than players.retainMs, oldest first, bounded per sweep. */
  sweep(now: number): void {
    const before = now - this.config.players.retainMs;
    let budget = FORGET_PER_SWEEP;
    for (const player of this.offline.values()) {
      if (player.offlineSince > before || budget-- === 0) break;
      this.forget(player);
    }
  }

  private forget(player: Player): void {
    this.offline.delete(player.id);
    this.players.delete(player.id);
    player.queue?.clear();
    if (player.groups !== null) {
      for (const g of player.groups) {
        const members = this.groups.get(g);
        members?.delete(player);
        if (members?.size === 0) this.groups.delete(g);
      }
    }
  }
}
