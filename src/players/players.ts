import type { CounterChild } from '../metrics/families.js';
import type { GatewayMetrics } from '../metrics/metrics.js';
import { Status } from '../protocol/status.js';
import type { Session } from '../session/session.js';
import type { Engine, EngineCounts, NodeInfo, PlayerInfo, PushResult } from './engine.js';
import { Delivery, type LocalHub } from './local-hub.js';
import type { PlayerService } from './player-service.js';

/** A player's binding began (online) or ended (offline); for lifecycle events and plugins. */
export type LifecycleListener = (event: 'online' | 'offline', playerId: string, session: Session) => void;

/**
 * Players as the rest of the gateway sees them: binds and unbinds sessions (the backend's
 * directives), pushes, groups, kicks and lookups (the API and plugins). Each operation runs
 * the node-local part on the LocalHub and hands the engine only what this node cannot do
 * alone, so the order of a bind — claim, confirm, replay, release held work, announce —
 * and the push metrics are the same for every engine.
 */
export class Players implements PlayerService {
  /** gateway_push_total{kind="direct"} by result, looked up once (every push counts). */
  private readonly directPushes: Record<PushResult, CounterChild>;
  private readonly lifecycleListeners: LifecycleListener[] = [];

  constructor(
    private readonly hub: LocalHub,
    private readonly engine: Engine,
    private readonly metrics: GatewayMetrics,
  ) {
    const counter = (result: PushResult) => metrics.push.child('direct', result);
    this.directPushes = {
      delivered: counter('delivered'),
      cached: counter('cached'),
      dropped: counter('dropped'),
    };
  }

  /** Adds a listener of bindings beginning and ending, called in the order added (lifecycle events, then plugins). */
  onLifecycle(listener: LifecycleListener): void {
    this.lifecycleListeners.push(listener);
  }

  private announce(event: 'online' | 'offline', playerId: string, session: Session): void {
    for (const listener of this.lifecycleListeners) listener(event, playerId, session);
  }

  get name(): Engine['name'] {
    return this.engine.name;
  }

  /** The engine reaches its shared state (always, for local). */
  get ready(): boolean {
    return this.engine.ready;
  }

  start(): Promise<void> {
    return this.engine.start();
  }

  stop(): Promise<void> {
    return this.engine.stop();
  }

  counts(): EngineCounts {
    return this.engine.counts();
  }

  /** SIGHUP: the engine's TLS files (Engine.reloadTls). */
  reloadTls(): boolean {
    return this.engine.reloadTls();
  }

  /** The nodes alive now (Engine.nodes): this one with the local engine. */
  nodes(): Promise<NodeInfo[]> {
    return this.engine.nodes();
  }

  /**
   * Makes `session` the holder of `playerId` under a new epoch. An older session of the
   * player, on any node, gets KICK REPLACED; a session bound to another player is unbound
   * from it first. The player's queued offline messages are written before anything newer
   * (a push, or the answer to the client's next request).
   */
  async bind(session: Session, playerId: string): Promise<void> {
    if (session.closing) return;
    if (session.playerId !== null) {
      if (session.playerId === playerId && this.hub.of(session) !== undefined) return;
      await this.unbind(session);
      if (session.closing) return;
    }
    const b = this.hub.claim(session, playerId, Date.now());
    const messages = await this.engine.bind(b);
    this.hub.countLost(this.hub.replay(b, messages));
    const current = this.hub.holds(b);
    this.hub.release(b);
    if (current) {
      b.announced = true;
      this.announce('online', playerId, session);
    }
  }

  /**
   * Ends the binding `session` holds, if it is still its player's current one; a stale
   * session (replaced by a newer login) changes nothing. The player stays known, offline,
   * for players.retainMs.
   */
  async unbind(session: Session): Promise<void> {
    const b = this.hub.of(session);
    if (b === undefined) {
      this.hub.detachStale(session);
      return;
    }
    this.hub.detach(b);
    if (b.announced) this.announce('offline', b.playerId, session);
    await this.engine.unbind(b);
  }

  /**
   * Notes a request of `session`'s player (lastActiveAt). Returns a promise while its
   * binding is being confirmed: the request waits for it, so the offline replay comes first.
   */
  touch(session: Session, now: number): Promise<void> | null {
    return this.hub.touch(session, now);
  }

  async push(players: readonly string[], cmd: number, body: Buffer, offline: boolean): Promise<PushResult[]> {
    const results: PushResult[] = new Array(players.length);
    // Indices of players this node cannot write to: the engine takes them.
    const away: number[] = [];
    const held: Array<Promise<void>> = [];
    const settle = (i: number, d: Delivery): void => {
      if (d === Delivery.NOT_HERE) away.push(i);
      else results[i] = d === Delivery.WRITTEN ? 'delivered' : 'dropped';
    };
    for (let i = 0; i < players.length; i++) {
      const b = this.hub.get(players[i]);
      const r = b === undefined ? Delivery.NOT_HERE : this.hub.deliver(b, cmd, body);
      if (typeof r === 'number') settle(i, r);
      else held.push(r.then((d) => settle(i, d)));
    }
    if (held.length > 0) await Promise.all(held);
    if (away.length > 0) {
      const rest = await this.engine.pushAway(
        away.map((i) => players[i]),
        cmd,
        body,
        offline,
      );
      for (let k = 0; k < away.length; k++) results[away[k]] = rest[k];
    }
    this.countPushes(results);
    return results;
  }

  async broadcast(cmd: number, body: Buffer): Promise<number> {
    const local = this.hub.deliverAll(cmd, body);
    const remote = await this.engine.broadcastAway(cmd, body);
    const delivered = (await local) + remote;
    this.metrics.push.child('broadcast', 'delivered').inc(delivered);
    return delivered;
  }

  async groupPush(group: string, cmd: number, body: Buffer): Promise<number> {
    const delivered = await this.engine.groupPush(group, cmd, body);
    this.metrics.push.child('group', 'delivered').inc(delivered);
    return delivered;
  }

  join(group: string, players: readonly string[]): Promise<number> {
    return this.engine.join(group, players);
  }

  leave(group: string, players: readonly string[]): Promise<number> {
    return this.engine.leave(group, players);
  }

  members(group: string): Promise<string[]> {
    return this.engine.members(group);
  }

  /** Kicks the sessions of these players with KICKED, wherever they are; returns how many were online. */
  async kick(players: readonly string[], reason: string): Promise<number> {
    const kicked = await Promise.all(
      players.map((playerId) => {
        const b = this.hub.get(playerId);
        return b === undefined
          ? this.engine.kickAway(playerId, reason)
          : this.hub.kick(b, Status.KICKED, reason);
      }),
    );
    return kicked.reduce((sum, k) => sum + k, 0);
  }

  async player(playerId: string): Promise<PlayerInfo | null> {
    // A bind in flight is answered once confirmed, so the answer holds cluster-wide.
    await this.hub.get(playerId)?.settled();
    return this.engine.player(playerId, this.hub.get(playerId));
  }

  private countPushes(results: readonly PushResult[]): void {
    let delivered = 0;
    let cached = 0;
    for (const r of results) {
      if (r === 'delivered') delivered++;
      else if (r === 'cached') cached++;
    }
    const dropped = results.length - delivered - cached;
    const counted = this.directPushes;
    if (delivered > 0) counted.delivered.inc(delivered);
    if (cached > 0) counted.cached.inc(cached);
    if (dropped > 0) counted.dropped.inc(dropped);
  }
}
