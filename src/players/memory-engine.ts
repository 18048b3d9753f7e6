import type { GatewayConfig } from '../config/schema.js';
import type { GatewayMetrics } from '../metrics/metrics.js';
import { encodeFrame, FrameType } from '../protocol/frame.js';
import { Status } from '../protocol/status.js';
import type { Session } from '../session/session.js';
import type { SessionManager } from '../session/session-manager.js';
import type { Engine, EngineCounts, LifecycleListener, PlayerInfo, PushResult } from './engine.js';
import { type DropReason, OfflineQueue } from './offline-queue.js';
import { Player } from './player.js';

/** Most players forgotten per sweep, so one sweep never stalls the event loop. */
const FORGET_PER_SWEEP = 10_000;
const SWEEP_MS = 1_000;

/**
 * The in-memory engine (the default): every player known to this node, their bindings,
 * push sequences, offline queues and groups. Everything here is synchronous, so a bind's
 * replay and any push are naturally ordered: nothing can interleave with a replay.
 */
export class PlayerManager implements Engine {
  readonly name = 'local';
  readonly ready = true;
  private readonly players = new Map<string, Player>();
  /** Players bound to a session (broadcast iterates only these). */
  private readonly online = new Map<string, Player>();
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
    private readonly sessions: SessionManager,
    private readonly metrics: GatewayMetrics,
    private readonly lifecycle: LifecycleListener,
  ) {}

  async start(): Promise<void> {
    this.sweepTimer = setInterval(() => this.sweep(Date.now()), SWEEP_MS);
    this.sweepTimer.unref();
  }

  async stop(): Promise<void> {
    if (this.sweepTimer) clearInterval(this.sweepTimer);
  }

  async bind(session: Session, playerId: string): Promise<void> {
    if (session.closing) return;
    if (session.playerId !== null) {
      if (session.playerId === playerId) return;
      await this.unbind(session);
    }
    const now = Date.now();
    let player = this.players.get(playerId);
    if (player === undefined) {
      player = new Player(playerId, now);
      this.players.set(playerId, player);
    }
    const previous = player.session;
    player.epoch = ++this.epochs;
    player.session = session;
    player.lastActiveAt = now;
    player.offlineSince = 0;
    this.offline.delete(playerId);
    this.online.set(playerId, player);
    this.sessions.markBound(session, playerId, player.epoch);
    if (previous !== null && previous !== session) {
      // Detach first, so the old session's close cannot touch the new binding.
      this.sessions.markUnbound(previous);
      previous.kick(Status.REPLACED);
    }
    if (player.queue !== null && player.queue.length > 0) {
      for (const m of player.queue.drain(now)) {
        this.queued--;
        session.sendReplay(encodeFrame(FrameType.PUSH, 0, m.cmd, m.seq, m.body));
      }
    }
    this.lifecycle('online', playerId, session);
  }

  async unbind(session: Session): Promise<void> {
    const playerId = session.playerId;
    if (playerId === null) return;
    const player = this.players.get(playerId);
    this.sessions.markUnbound(session);
    if (player === undefined || player.session !== session || player.epoch !== session.bindEpoch) return;
    const now = Date.now();
    player.session = null;
    player.offlineSince = now;
    player.lastActiveAt = now;
    this.online.delete(playerId);
    this.offline.set(playerId, player);
    this.lifecycle('offline', playerId, session);
  }

  touch(session: Session, now: number): void {
    if (session.playerId === null) return;
    const player = this.players.get(session.playerId);
    if (player !== undefined && player.session === session) player.lastActiveAt = now;
  }

  async push(players: readonly string[], cmd: number, body: Buffer, offline: boolean): Promise<PushResult[]> {
    const now = Date.now();
    const results: PushResult[] = new Array(players.length);
    for (let i = 0; i < players.length; i++) {
      results[i] = this.pushOne(players[i], cmd, body, offline, now);
      this.metrics.push.child('direct', results[i]).inc();
    }
    return results;
  }

  private pushOne(playerId: string, cmd: number, body: Buffer, offline: boolean, now: number): PushResult {
    const player = this.players.get(playerId);
    if (player === undefined) return 'dropped';
    // A closing session (kicked, its connection not yet gone) can take nothing more: the
    // player is as good as offline, so the message is cached for the next login, not lost.
    if (player.session !== null && !player.session.closing) {
      const seq = ++player.pushSeq;
      // A session that is kicked for a slow consumer while we write drops the message.
      return player.session.send(encodeFrame(FrameType.PUSH, 0, cmd, seq, body)) ? 'delivered' : 'dropped';
    }
    if (!offline) return 'dropped';
    player.queue ??= new OfflineQueue(this.config.players.offline, this.dropCounter);
    const seq = player.pushSeq + 1;
    if (!player.queue.add(cmd, body, seq, now)) return 'dropped';
    player.pushSeq = seq;
    this.queued++;
    return 'cached';
  }

  async broadcast(cmd: number, body: Buffer): Promise<number> {
    let delivered = 0;
    // The body is shared; only the 16-byte header differs, since seq is per player.
    for (const player of this.online.values()) if (this.deliver(player, cmd, body)) delivered++;
    this.metrics.push.child('broadcast', 'delivered').inc(delivered);
    return delivered;
  }

  async groupPush(group: string, cmd: number, body: Buffer): Promise<number> {
    let delivered = 0;
    const members = this.groups.get(group);
    if (members !== undefined) {
      for (const player of members)
        if (player.session !== null && this.deliver(player, cmd, body)) delivered++;
    }
    this.metrics.push.child('group', 'delivered').inc(delivered);
    return delivered;
  }

  private deliver(player: Player, cmd: number, body: Buffer): boolean {
    return player.session!.sendParts(FrameType.PUSH, 0, cmd, ++player.pushSeq, body);
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

  async kick(players: readonly string[], reason: string): Promise<number> {
    let kicked = 0;
    for (const id of players) {
      const session = this.players.get(id)?.session;
      if (session && !session.closing) {
        session.kick(Status.KICKED, reason);
        kicked++;
      }
    }
    return kicked;
  }

  async player(playerId: string): Promise<PlayerInfo | null> {
    const p = this.players.get(playerId);
    if (p === undefined) return null;
    p.queue?.trimExpired(Date.now());
    return {
      playerId,
      online: p.session !== null,
      node: p.session !== null ? this.config.node.id : null,
      sessionId: p.session?.id ?? null,
      lastActiveAt: new Date(p.lastActiveAt).toISOString(),
      offlineQueued: p.queue?.length ?? 0,
      pushSeq: p.pushSeq,
    };
  }

  counts(): EngineCounts {
    return {
      online: this.online.size,
      offline: this.offline.size,
      offlineMessages: this.queued,
    };
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
