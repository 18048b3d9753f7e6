import { randomBytes } from 'node:crypto';
import { Redis, type RedisOptions } from 'ioredis';
import type { GatewayConfig } from '../../config/schema.js';
import type { Logger } from '../../logger.js';
import type { CounterChild } from '../../metrics/families.js';
import type { GatewayMetrics } from '../../metrics/metrics.js';
import { FrameType } from '../../protocol/frame.js';
import { Status, type StatusCode } from '../../protocol/status.js';
import type { Session } from '../../session/session.js';
import type { SessionManager } from '../../session/session-manager.js';
import type { Engine, EngineCounts, LifecycleListener, PlayerInfo, PushResult } from '../engine.js';
import { EngineUnavailableError } from '../engine-unavailable.js';
import { AckWaiters } from './ack-waiters.js';
import { decodeMessage, encodeMessage, MessageKind, PushAck } from './cluster-message.js';
import { RedisKeys } from './redis-keys.js';
import { defineScripts, type ScriptCommands } from './redis-scripts.js';

/** How often a node renews its heartbeat key. */
export const HEARTBEAT_MS = 1_000;
/** A node whose heartbeat key is older than this is dead: its players count as offline. */
export const NODE_TTL_MS = 5_000;
/** Push sequences a node reserves per binding at a time, so it numbers pushes without Redis. */
export const SEQ_BLOCK = 1_000;
/** How often a node renews the records of its bound players (lease, cur, last). */
export const LEASE_REFRESH_MS = 10_000;
/** A bound player's record outlives its node by retainMs plus this, if the node dies. */
const LEASE_SLACK_MS = 3 * LEASE_REFRESH_MS;
/** Players per push script call (a script blocks Redis while it runs: keep each short). */
const ROUTE_CHUNK = 200;
/** Bindings renewed per pipeline chunk. */
const REFRESH_CHUNK = 500;

type BindingState = 'binding' | 'bound' | 'unregistered';

/**
 * One player bound to a session of this node. `seq` is the last push sequence written;
 * this node numbers pushes itself from a block reserved in Redis (up to `ceil`), so
 * every write takes the next sequence in order without a round trip.
 */
class Binding {
  /** 'binding' until the bind script answers; 'unregistered' when Redis could not be reached. */
  state: BindingState = 'binding';
  epoch = 0;
  seq = 0;
  ceil = 0;
  reserving = false;
  /** Set once the online lifecycle event went out (an offline event follows only then). */
  announced = false;
  lastActiveAt: number;
  /**
   * Work for this binding that arrived while its bind was in flight (a push or kick can
   * overtake the bind's reply): run in order once the queue replay is written. Null after.
   */
  held: Array<() => void> | null = [];
  readonly ready: Promise<void>;
  settle!: () => void;

  constructor(
    readonly playerId: string,
    readonly session: Session,
    now: number,
  ) {
    this.lastActiveAt = now;
    this.ready = new Promise((resolve) => {
      this.settle = resolve;
    });
  }
}

/** One player of a push that needs Redis: where its result goes, and a binding to skip. */
interface RouteJob {
  index: number;
  playerId: string;
  notEpoch: string;
}

interface PendingUnbind {
  epoch: number;
  seq: number;
  ceil: number;
  last: number;
}

type AckCounter = Record<'push' | 'kick' | 'group' | 'broadcast' | 'ack', CounterChild>;

/**
 * The Redis engine (`cluster.engine: redis`): players, offline queues, push sequences
 * and groups live in Redis, so every node of a cluster sees one set of players. Each
 * node keeps its own bindings (the sessions it holds) and a heartbeat key; pushes, kicks
 * and group pushes accepted by any node travel to the holding node over its pub/sub
 * channel and are acknowledged back, broadcasts go to every node. docs/cluster.md
 * describes the key layout and what each path guarantees.
 *
 * Ordering: the holding node numbers a player's pushes itself, at write time, so the
 * sequence on a connection always grows; a bind's queue replay is written before any
 * push that reached the node while the bind was in flight.
 */
export class RedisEngine implements Engine {
  readonly name = 'redis';
  private readonly cmd: Redis & ScriptCommands;
  private readonly sub: Redis;
  private readonly keys: RedisKeys;
  private readonly nodeId: string;
  /** This process; a restarted node with the same id is another instance, so old records stay dead. */
  private readonly inst = randomBytes(6).toString('hex');
  private readonly bound = new Map<string, Binding>();
  private readonly acks: AckWaiters;
  private readonly acksOut = new Map<string, string[]>();
  private acksScheduled = false;
  /** Unbinds that could not reach Redis; replayed on reconnect (the epoch compare keeps them safe). */
  private readonly pendingUnbinds = new Map<string, PendingUnbind>();
  private readonly inflight = new Set<Promise<unknown>>();
  private timer: NodeJS.Timeout | null = null;
  private lastLeaseAt = 0;
  private heartbeatOk = false;
  private hadHeartbeat = false;
  private registered = false;
  private registering = false;
  private registerAgain = false;
  private stopping = false;
  private lastErrorLogAt = 0;
  private readonly onlineTtlMs: number;
  private readonly retainTtlMs: number;
  private readonly msgIn: AckCounter;
  private readonly msgOut: AckCounter;

  constructor(
    private readonly config: GatewayConfig,
    private readonly sessions: SessionManager,
    private readonly metrics: GatewayMetrics,
    private readonly log: Logger,
    private readonly lifecycle: LifecycleListener,
  ) {
    const { redis } = config.cluster;
    this.nodeId = config.node.id;
    this.keys = new RedisKeys(redis.keyPrefix);
    this.acks = new AckWaiters(redis.commandTimeoutMs);
    this.onlineTtlMs = config.players.retainMs + LEASE_SLACK_MS;
    // PEXPIRE 0 would delete at once; retainMs 0 means "forget at the next chance" anyway.
    this.retainTtlMs = Math.max(1, config.players.retainMs);
    const common: RedisOptions = {
      lazyConnect: true,
      connectTimeout: Math.max(1_000, 2 * redis.commandTimeoutMs),
      retryStrategy: (times) => Math.min(100 * times, 1_000),
      connectionName: `gateway:${this.nodeId}`,
    };
    // Every command is bounded: no offline buffer, no retries, commandTimeoutMs each.
    this.cmd = defineScripts(
      new Redis(redis.url, {
        ...common,
        commandTimeout: redis.commandTimeoutMs,
        enableOfflineQueue: false,
        maxRetriesPerRequest: 0,
        enableAutoPipelining: true,
      }),
    );
    // The subscriber only (re)subscribes; ioredis resubscribes after every reconnect.
    this.sub = new Redis(redis.url, { ...common, autoResubscribe: true, maxRetriesPerRequest: null });
    const kinds = ['push', 'kick', 'group', 'broadcast', 'ack'] as const;
    const counters = (direction: string): AckCounter =>
      Object.fromEntries(
        kinds.map((k) => [k, metrics.clusterMessages.child(direction, k)]),
      ) as unknown as AckCounter;
    this.msgIn = counters('in');
    this.msgOut = counters('out');
  }

  /** Redis reachable, subscribed, heartbeat renewed, and this node's bindings registered. */
  get ready(): boolean {
    return (
      !this.stopping &&
      this.heartbeatOk &&
      this.registered &&
      this.cmd.status === 'ready' &&
      this.sub.status === 'ready'
    );
  }

  private get connected(): boolean {
    return this.cmd.status === 'ready';
  }

  async start(): Promise<void> {
    for (const client of [this.cmd, this.sub]) {
      client.on('error', (err: Error) => this.redisError('connection', err));
    }
    this.cmd.on('ready', () => {
      this.log.info({ node: this.nodeId }, 'cluster engine connected to Redis');
      this.register();
    });
    this.cmd.on('close', () => {
      if (this.heartbeatOk) this.log.warn({ node: this.nodeId }, 'cluster engine lost Redis');
      this.heartbeatOk = false;
      this.registered = false;
      this.updateGauge();
    });
    this.sub.on('messageBuffer', (_channel: Buffer, message: Buffer) => this.onMessage(message));
    // Messages for this node published while its subscriber was away found no receiver and
    // were queued: re-registering replays them to the sessions it still holds.
    this.sub.on('ready', () => this.register());
    this.sub.on('close', () => {
      this.registered = false;
      this.updateGauge();
    });
    // Subscribed before anything is bound here, so no message for this node is missed.
    const subscribed = this.sub.subscribe(this.keys.channel(this.nodeId), this.keys.broadcast);
    const waitMs = 2 * this.config.cluster.redis.commandTimeoutMs;
    await Promise.allSettled([this.cmd.connect(), this.sub.connect(), withTimeout(subscribed, waitMs)]);
    subscribed.catch(() => {});
    await this.heartbeat();
    // Registered before the gateway listens, so /readyz is 200 as soon as it starts.
    if (this.connected && !this.registered) this.registered = await this.registerAll().catch(() => false);
    this.timer = setInterval(() => this.tick(), HEARTBEAT_MS);
    this.timer.unref();
    this.updateGauge();
    if (!this.ready) {
      this.log.warn({ node: this.nodeId }, 'cluster engine started without Redis; retrying, not ready');
    }
  }

  async stop(): Promise<void> {
    this.stopping = true;
    if (this.timer) clearInterval(this.timer);
    // Unbinds of the sessions the gateway just closed finish first, so their players are offline.
    const until = Date.now() + 2 * this.config.cluster.redis.commandTimeoutMs;
    while (this.inflight.size > 0 && Date.now() < until) await Promise.race([...this.inflight, sleep(50)]);
    this.acks.cancelAll();
    if (this.connected) {
      try {
        // Others see this node dead at once, instead of after NODE_TTL_MS.
        const key = this.keys.node(this.nodeId);
        if ((await this.cmd.get(key)) === this.inst) await this.cmd.del(key);
      } catch {}
    }
    this.sub.disconnect();
    this.cmd.disconnect();
    this.updateGauge();
  }

  // ---- bindings ----

  async bind(session: Session, playerId: string): Promise<void> {
    if (session.closing) return;
    if (session.playerId !== null) {
      if (session.playerId === playerId) return;
      await this.unbind(session);
      if (session.closing) return;
    }
    const now = Date.now();
    const previous = this.bound.get(playerId);
    const b = new Binding(playerId, session, now);
    this.bound.set(playerId, b);
    // Bound locally at once, so the client's next request passes the auth gate.
    this.sessions.markBound(session, playerId, 0);
    if (previous !== undefined && previous.session !== session) this.replaced(previous);

    let reply: Awaited<ReturnType<ScriptCommands['gwBindBuffer']>>;
    try {
      if (!this.connected) throw new EngineUnavailableError('Redis is not connected');
      reply = await this.cmd.gwBindBuffer(
        this.keys.player(playerId),
        this.keys.queue(playerId),
        this.keys.epoch,
        this.keys.prefix,
        playerId,
        this.nodeId,
        this.inst,
        session.id,
        SEQ_BLOCK,
        this.onlineTtlMs,
      );
    } catch (err) {
      // Kept locally and registered when Redis is back; meanwhile it gets no pushes (no seq known).
      this.redisError('bind', err);
      b.state = 'unregistered';
      this.registered = false;
      b.settle();
      this.release(b);
      if (this.bound.get(playerId) === b) this.announce(b);
      return;
    }
    const [epoch, seq, ceil, expired, messages] = reply;
    b.epoch = epoch;
    b.seq = Number(String(seq));
    b.ceil = Number(String(ceil));
    b.settle();
    b.state = 'bound';
    if (expired > 0) this.metrics.offlineDropped.child('expired').inc(expired);
    if (this.bound.get(playerId) === b) {
      session.bindEpoch = epoch;
      this.replay(b, messages);
      this.release(b);
      this.announce(b);
    } else {
      // Unbound or replaced while the script ran: unbind() or the newer bind takes it from here.
      this.replay(b, messages);
      this.release(b);
    }
  }

  async unbind(session: Session): Promise<void> {
    const playerId = session.playerId;
    if (playerId === null) return;
    const b = this.bound.get(playerId);
    this.sessions.markUnbound(session);
    if (b === undefined || b.session !== session) return;
    this.bound.delete(playerId);
    this.release(b);
    if (b.announced) this.lifecycle('offline', playerId, session);
    await this.track(this.unbindInRedis(b));
  }

  private async unbindInRedis(b: Binding): Promise<void> {
    await b.ready;
    if (b.state !== 'bound') return;
    const pending: PendingUnbind = { epoch: b.epoch, seq: b.seq, ceil: b.ceil, last: Date.now() };
    if (!(await this.sendUnbind(b.playerId, pending))) this.pendingUnbinds.set(b.playerId, pending);
  }

  private async sendUnbind(playerId: string, u: PendingUnbind): Promise<boolean> {
    if (!this.connected) return false;
    try {
      await this.cmd.gwUnbind(
        this.keys.player(playerId),
        this.keys.queue(playerId),
        u.epoch,
        u.seq,
        u.ceil,
        this.retainTtlMs,
        u.last,
      );
      return true;
    } catch (err) {
      this.redisError('unbind', err);
      return false;
    }
  }

  touch(session: Session, now: number): void {
    if (session.playerId === null) return;
    const b = this.bound.get(session.playerId);
    if (b !== undefined && b.session === session) b.lastActiveAt = now;
  }

  /** A newer binding (here or on another node) took the player: KICK REPLACED, no offline event. */
  private replaced(b: Binding): void {
    if (this.bound.get(b.playerId) === b) this.bound.delete(b.playerId);
    this.release(b);
    this.sessions.markUnbound(b.session);
    b.session.kick(Status.REPLACED);
  }

  private announce(b: Binding): void {
    b.announced = true;
    this.lifecycle('online', b.playerId, b.session);
  }

  /** Runs the work held during the bind, then lets everything through directly. */
  private release(b: Binding): void {
    const held = b.held;
    if (held === null) return;
    b.held = null;
    for (const run of held) run();
  }

  /** Writes a bind's drained queue, oldest first, before anything newer. */
  private replay(b: Binding, messages: Buffer[]): void {
    const decoded = messages.map(decodeQueued).filter((m) => m !== null);
    decoded.sort((x, y) => x.seq - y.seq);
    let lost = 0;
    for (const m of decoded) {
      if (!b.session.sendParts(FrameType.PUSH, 0, m.cmd, m.seq, m.body)) lost++;
    }
    // Drained from Redis but the session closed meanwhile: they are gone, and counted.
    if (lost > 0) this.metrics.offlineDropped.child('forgotten').inc(lost);
  }

  // ---- local delivery ----

  /** Writes a PUSH to `b`'s session under its next sequence. */
  private write(b: Binding, cmd: number, body: Buffer): number {
    if (this.bound.get(b.playerId) !== b || b.session.closing) return PushAck.NOT_HERE;
    // Bound while Redis was away: its sequence is unknown, and a guess could reuse one.
    if (b.state !== 'bound') return PushAck.WRITE_FAILED;
    const seq = ++b.seq;
    if (!b.reserving && b.ceil - seq < SEQ_BLOCK / 4 && this.connected) this.reserve(b);
    return b.session.sendParts(FrameType.PUSH, 0, cmd, seq, body) ? PushAck.WRITTEN : PushAck.WRITE_FAILED;
  }

  /** write(), or later when `b`'s bind is in flight (so the queue replay goes first). */
  private deliver(b: Binding, cmd: number, body: Buffer, epoch = 0): number | Promise<number> {
    const run = (): number =>
      epoch !== 0 && b.epoch !== epoch ? PushAck.NOT_HERE : this.write(b, cmd, body);
    if (b.held === null) return run();
    const held = b.held;
    return new Promise((resolve) => held.push(() => resolve(run())));
  }

  private reserve(b: Binding): void {
    b.reserving = true;
    const ceil = b.ceil;
    this.cmd
      .gwReserve(this.keys.player(b.playerId), b.epoch, ceil, SEQ_BLOCK)
      .then((r) => {
        if (r === null) return;
        const base = Number(r[0]);
        // Contiguous (base = the old ceiling) unless another node took sequences above it.
        if (base > ceil) b.seq = Math.max(b.seq, base);
        b.ceil = Number(r[1]);
      })
      .catch((err) => this.redisError('reserve', err))
      .finally(() => {
        b.reserving = false;
      });
  }

  // ---- push paths ----

  async push(players: readonly string[], cmd: number, body: Buffer, offline: boolean): Promise<PushResult[]> {
    const results: PushResult[] = new Array(players.length);
    const remote: RouteJob[] = [];
    const held: Array<Promise<void>> = [];
    players.forEach((playerId, index) => {
      const b = this.bound.get(playerId);
      if (b === undefined) {
        remote.push({ index, playerId, notEpoch: '' });
        return;
      }
      const settle = (r: number): void => {
        if (r === PushAck.WRITTEN) results[index] = 'delivered';
        else if (r === PushAck.WRITE_FAILED) results[index] = 'dropped';
        else remote.push({ index, playerId, notEpoch: '' });
      };
      const r = this.deliver(b, cmd, body);
      if (typeof r === 'number') settle(r);
      else held.push(r.then(settle));
    });
    await Promise.all(held);
    if (remote.length > 0) await this.route(remote, cmd, body, offline, 'route', results);
    for (const r of results) this.metrics.push.child('direct', r).inc();
    return results;
  }

  /**
   * Asks Redis where the players are, in one script call per ROUTE_CHUNK players: each is
   * routed to its node (then this waits for that node's ack), or queued, or dropped. A
   * node that answers "not here" gets one more routing attempt past its epoch; a node
   * that does not answer in time is taken as gone and the message is queued (it may then
   * arrive twice, under the same seq, if that node was only slow).
   */
  private async route(
    jobs: RouteJob[],
    cmd: number,
    body: Buffer,
    offline: boolean,
    mode: 'route' | 'store',
    results: PushResult[],
  ): Promise<void> {
    if (!this.connected) {
      for (const j of jobs) results[j.index] = 'dropped';
      this.metrics.clusterRedisErrors.child('push').inc(jobs.length);
      return;
    }
    const again: RouteJob[] = [];
    const store: RouteJob[] = [];
    const chunks: Array<Promise<void>> = [];
    for (let at = 0; at < jobs.length; at += ROUTE_CHUNK) {
      const chunk = jobs.slice(at, at + ROUTE_CHUNK);
      chunks.push(this.routeChunk(chunk, cmd, body, offline, mode, results, again, store));
    }
    await Promise.all(chunks);
    await Promise.all([
      again.length > 0 ? this.route(again, cmd, body, offline, 'route', results) : null,
      store.length > 0 ? this.route(store, cmd, body, offline, 'store', results) : null,
    ]);
  }

  private async routeChunk(
    jobs: RouteJob[],
    cmd: number,
    body: Buffer,
    offline: boolean,
    mode: 'route' | 'store',
    results: PushResult[],
    again: RouteJob[],
    store: RouteJob[],
  ): Promise<void> {
    // Opened before the script runs: an ack can overtake the script's reply.
    const waits = mode === 'route' ? jobs.map(() => this.acks.open()) : null;
    const startedAt = performance.now();
    const { offline: bounds } = this.config.players;
    const args: Array<string | number | Buffer> = [2 * jobs.length];
    for (const j of jobs) args.push(this.keys.player(j.playerId), this.keys.queue(j.playerId));
    args.push(this.keys.prefix, cmd, body, offline ? '1' : '0', bounds.maxMessages, bounds.maxBytes);
    args.push(bounds.ttlMs, this.nodeId, mode);
    for (const [k, j] of jobs.entries()) args.push(j.playerId, waits?.[k].id ?? '', j.notEpoch);
    let reply: Array<string | number>;
    try {
      reply = await this.cmd.gwPush(...args);
    } catch (err) {
      if (waits) for (const w of waits) this.acks.cancel(w.id);
      this.redisError('push', err);
      for (const j of jobs) results[j.index] = 'dropped';
      return;
    }
    const routed: Array<Promise<void>> = [];
    let routedCount = 0;
    jobs.forEach((job, k) => {
      const [result, , third, overflow] = reply.slice(4 * k, 4 * k + 4);
      if (result !== 'routed') {
        if (waits) this.acks.cancel(waits[k].id);
        if (Number(third) > 0) this.metrics.offlineDropped.child('expired').inc(Number(third));
        if (Number(overflow) > 0) this.metrics.offlineDropped.child('overflow').inc(Number(overflow));
        results[job.index] = result === 'cached' ? 'cached' : 'dropped';
        return;
      }
      routedCount++;
      const epoch = String(third);
      routed.push(
        waits![k].outcome.then((ack) => {
          if (!ack.complete) {
            this.metrics.clusterAckTimeouts.child('push').inc();
            store.push(job);
          } else if (ack.sum === PushAck.WRITTEN) {
            this.metrics.clusterPushDuration.child().observe((performance.now() - startedAt) / 1000);
            results[job.index] = 'delivered';
          } else if (ack.sum === PushAck.WRITE_FAILED) {
            results[job.index] = 'dropped';
          } else {
            // Not there any more: once more past that binding, then queue.
            (job.notEpoch === '' ? again : store).push({ ...job, notEpoch: epoch });
          }
        }),
      );
    });
    if (routedCount > 0) this.msgOut.push.inc();
    await Promise.all(routed);
  }

  async broadcast(cmd: number, body: Buffer): Promise<number> {
    const local = this.deliverAll(cmd, body);
    const remote = await this.fanOut('broadcast', 'broadcast', async (waitId) => {
      const msg = encodeMessage(MessageKind.BROADCAST, [String(cmd), this.nodeId, waitId], body);
      const receivers = await this.cmd.publish(this.keys.broadcast, msg);
      this.msgOut.broadcast.inc();
      // Every node's subscriber got it, this node's own included (it delivered above).
      return receivers - (this.sub.status === 'ready' ? 1 : 0);
    });
    const delivered = (await local) + remote;
    this.metrics.push.child('broadcast', 'delivered').inc(delivered);
    return delivered;
  }

  /**
   * Sends a message to many nodes and sums their acknowledged deliveries. `publish` sends
   * it, tagged with the wait id, and returns how many nodes will answer. A Redis error or a
   * disconnected engine counts under `op` and delivers nothing remotely; nodes that do not
   * answer in time count as ack timeouts of `kind`.
   */
  private async fanOut(
    op: string,
    kind: string,
    publish: (waitId: string) => Promise<number>,
  ): Promise<number> {
    if (!this.connected) {
      this.metrics.clusterRedisErrors.child(op).inc();
      return 0;
    }
    const wait = this.acks.open(Number.POSITIVE_INFINITY);
    try {
      this.acks.expect(wait.id, await publish(wait.id));
    } catch (err) {
      this.redisError(op, err);
      this.acks.cancel(wait.id);
    }
    const ack = await wait.outcome;
    if (!ack.complete) this.metrics.clusterAckTimeouts.child(kind).inc();
    return ack.sum;
  }

  /** Writes one PUSH to every binding of this node; counts the writes. */
  private async deliverAll(cmd: number, body: Buffer): Promise<number> {
    let written = 0;
    const later: Array<Promise<number>> = [];
    for (const b of this.bound.values()) {
      const r = this.deliver(b, cmd, body);
      if (typeof r === 'number') {
        if (r === PushAck.WRITTEN) written++;
      } else later.push(r);
    }
    for (const r of await Promise.all(later)) if (r === PushAck.WRITTEN) written++;
    return written;
  }

  async groupPush(group: string, cmd: number, body: Buffer): Promise<number> {
    const delivered = await this.fanOut('group_push', 'group', async (waitId) => {
      const nodes = await this.cmd.gwGroupPush(
        this.keys.group(group),
        this.keys.prefix,
        group,
        cmd,
        this.nodeId,
        waitId,
        body,
      );
      this.msgOut.group.inc(nodes.length);
      return nodes.length;
    });
    this.metrics.push.child('group', 'delivered').inc(delivered);
    return delivered;
  }

  async join(group: string, players: readonly string[]): Promise<number> {
    return this.members('join', group, players);
  }

  async leave(group: string, players: readonly string[]): Promise<number> {
    return this.members('leave', group, players);
  }

  private async members(op: 'join' | 'leave', group: string, players: readonly string[]): Promise<number> {
    if (!this.connected) throw this.unavailable(op);
    try {
      const script = op === 'join' ? this.cmd.gwJoin : this.cmd.gwLeave;
      return await script.call(this.cmd, this.keys.group(group), this.keys.prefix, group, ...players);
    } catch (err) {
      this.redisError(op, err);
      throw this.unavailable(op);
    }
  }

  async kick(players: readonly string[], reason: string): Promise<number> {
    const kicked = await Promise.all(players.map((p) => this.kickOne(p, reason)));
    return kicked.reduce((a, b) => a + b, 0);
  }

  private async kickOne(playerId: string, reason: string): Promise<number> {
    const b = this.bound.get(playerId);
    if (b !== undefined) {
      if (b.session.closing) return 0;
      b.session.kick(Status.KICKED, reason);
      return 1;
    }
    if (!this.connected) {
      this.metrics.clusterRedisErrors.child('kick').inc();
      return 0;
    }
    const wait = this.acks.open();
    try {
      const receivers = await this.cmd.gwKick(
        this.keys.player(playerId),
        this.keys.prefix,
        playerId,
        Status.KICKED,
        this.nodeId,
        wait.id,
        reason,
      );
      if (receivers === 0) {
        this.acks.cancel(wait.id);
        return 0;
      }
      this.msgOut.kick.inc();
    } catch (err) {
      this.redisError('kick', err);
      this.acks.cancel(wait.id);
      return 0;
    }
    const ack = await wait.outcome;
    if (!ack.complete) this.metrics.clusterAckTimeouts.child('kick').inc();
    return ack.sum > 0 ? 1 : 0;
  }

  async player(playerId: string): Promise<PlayerInfo | null> {
    // A bind in flight is answered once it is in Redis, so an answer here holds cluster-wide.
    await this.bound.get(playerId)?.ready;
    const b = this.bound.get(playerId);
    if (!this.connected) {
      if (b !== undefined) return this.localInfo(b, 0);
      throw this.unavailable('player');
    }
    let r: Awaited<ReturnType<ScriptCommands['gwInfo']>>;
    try {
      r = await this.cmd.gwInfo(this.keys.player(playerId), this.keys.queue(playerId), this.keys.prefix);
    } catch (err) {
      this.redisError('player', err);
      if (b !== undefined) return this.localInfo(b, 0);
      throw this.unavailable('player');
    }
    if (r === null) return b !== undefined ? this.localInfo(b, 0) : null;
    const [online, node, sessionId, seq, cur, last, queued, expired] = r as [
      number,
      string,
      string,
      string,
      string,
      string,
      number,
      number,
    ];
    if (expired > 0) this.metrics.offlineDropped.child('expired').inc(expired);
    if (b !== undefined) return this.localInfo(b, queued);
    const isOnline = online === 1;
    return {
      playerId,
      online: isOnline,
      node: isOnline ? node : null,
      sessionId: isOnline ? sessionId : null,
      lastActiveAt: new Date(Number(last)).toISOString(),
      offlineQueued: queued,
      pushSeq: Number(isOnline ? cur : seq),
    };
  }

  private localInfo(b: Binding, queued: number): PlayerInfo {
    return {
      playerId: b.playerId,
      online: true,
      node: this.nodeId,
      sessionId: b.session.id,
      lastActiveAt: new Date(b.lastActiveAt).toISOString(),
      offlineQueued: queued,
      pushSeq: b.seq,
    };
  }

  /**
   * Online: the players bound on this node. Offline players and queued messages live in
   * Redis, where they expire by TTL uncounted; this node does not track them (0).
   */
  counts(): EngineCounts {
    return { online: this.bound.size, offline: 0, offlineMessages: 0 };
  }

  // ---- messages from other nodes ----

  private onMessage(buf: Buffer): void {
    const m = decodeMessage(buf);
    if (m === null) {
      this.log.warn({ bytes: buf.length }, 'cluster engine: malformed message ignored');
      return;
    }
    const f = m.fields;
    switch (m.kind) {
      case MessageKind.PUSH: {
        // cmd, from, n, n × (player, epoch, reqId)
        this.msgIn.push.inc();
        const cmd = Number(f[0]);
        for (let i = 3; i < f.length; i += 3) {
          const b = this.bound.get(f[i]);
          const r = b === undefined ? PushAck.NOT_HERE : this.deliver(b, cmd, m.body, Number(f[i + 1]));
          this.answer(f[1], f[i + 2], r);
        }
        return;
      }
      case MessageKind.KICK: {
        // epoch, player, status, from, reqId, reason
        this.msgIn.kick.inc();
        this.answer(f[3], f[4], this.onKick(f[1], Number(f[0]), Number(f[2]) as StatusCode, f[5]));
        return;
      }
      case MessageKind.GROUP: {
        // cmd, from, reqId, n, n × (player, epoch)
        this.msgIn.group.inc();
        const cmd = Number(f[0]);
        const writes: Array<number | Promise<number>> = [];
        for (let i = 4; i < f.length; i += 2) {
          const b = this.bound.get(f[i]);
          if (b !== undefined) writes.push(this.deliver(b, cmd, m.body, Number(f[i + 1])));
        }
        this.answer(f[1], f[2], countWritten(writes));
        return;
      }
      case MessageKind.BROADCAST: {
        // cmd, from, reqId
        if (f[1] === this.nodeId) return;
        this.msgIn.broadcast.inc();
        this.answer(f[1], f[2], this.deliverAll(Number(f[0]), m.body));
        return;
      }
      case MessageKind.ACK: {
        // n, n × (reqId, result)
        this.msgIn.ack.inc();
        for (let i = 1; i < f.length; i += 2) this.acks.ack(f[i], Number(f[i + 1]));
        return;
      }
    }
  }

  private onKick(
    playerId: string,
    epoch: number,
    status: StatusCode,
    reason: string,
  ): number | Promise<number> {
    const b = this.bound.get(playerId);
    if (b === undefined) return 0;
    const run = (): number => {
      if (this.bound.get(playerId) !== b || b.epoch !== epoch || b.session.closing) return 0;
      if (status === Status.REPLACED) this.replaced(b);
      else b.session.kick(status, reason || undefined);
      return 1;
    };
    if (b.held === null) return run();
    const held = b.held;
    return new Promise((resolve) => held.push(() => resolve(run())));
  }

  /** Sends an ack (batched per node and event-loop turn); to itself, directly. */
  private answer(to: string, reqId: string, result: number | Promise<number>): void {
    if (reqId === '') return;
    if (typeof result !== 'number') {
      result.then((r) => this.answer(to, reqId, r));
      return;
    }
    if (to === this.nodeId) {
      this.acks.ack(reqId, result);
      return;
    }
    let list = this.acksOut.get(to);
    if (list === undefined) {
      list = [];
      this.acksOut.set(to, list);
    }
    list.push(reqId, String(result));
    if (!this.acksScheduled) {
      this.acksScheduled = true;
      setImmediate(() => this.flushAcks());
    }
  }

  private flushAcks(): void {
    this.acksScheduled = false;
    for (const [node, list] of this.acksOut) {
      const msg = encodeMessage(MessageKind.ACK, [String(list.length / 2), ...list]);
      this.msgOut.ack.inc();
      // A lost ack makes the sender wait out its timeout, then queue: at least once.
      if (this.connected)
        this.cmd.publish(this.keys.channel(node), msg).catch((err) => this.redisError('ack', err));
    }
    this.acksOut.clear();
  }

  // ---- liveness, lease, re-registration ----

  private tick(): void {
    if (this.stopping) return;
    this.heartbeat().then(() => {
      if (this.ready && Date.now() - this.lastLeaseAt >= LEASE_REFRESH_MS) this.refreshLeases();
    });
  }

  /** Renews the heartbeat key; finding it gone (lapsed, or Redis lost its data) re-registers. */
  private async heartbeat(): Promise<void> {
    if (!this.connected) {
      this.heartbeatOk = false;
      this.updateGauge();
      return;
    }
    try {
      const before = await this.cmd.call(
        'SET',
        this.keys.node(this.nodeId),
        this.inst,
        'PX',
        NODE_TTL_MS,
        'GET',
      );
      this.heartbeatOk = true;
      if (before !== this.inst && this.hadHeartbeat) {
        this.log.warn({ node: this.nodeId }, 'cluster engine: heartbeat had lapsed; re-registering');
        this.registered = false;
      }
      this.hadHeartbeat = true;
      if (!this.registered) this.register();
    } catch (err) {
      this.heartbeatOk = false;
      this.redisError('heartbeat', err);
    }
    this.updateGauge();
  }

  /** Extends the records of this node's players and writes their cur/last for other nodes' lookups. */
  private async refreshLeases(): Promise<void> {
    this.lastLeaseAt = Date.now();
    const all = [...this.bound.values()].filter((b) => b.state === 'bound');
    for (let i = 0; i < all.length; i += REFRESH_CHUNK) {
      const chunk = all.slice(i, i + REFRESH_CHUNK);
      const results = await Promise.allSettled(
        chunk.map((b) =>
          this.cmd.gwRefresh(
            this.keys.player(b.playerId),
            this.keys.queue(b.playerId),
            b.epoch,
            b.seq,
            b.lastActiveAt,
            this.onlineTtlMs,
          ),
        ),
      );
      results.forEach((r, j) => {
        const b = chunk[j];
        if (r.status === 'rejected') this.redisError('refresh', r.reason);
        else if (r.value === -1 && this.bound.get(b.playerId) === b) this.replaced(b);
        else if (r.value === 0) this.registered = false;
      });
    }
  }

  /**
   * Brings Redis in line with this node after an outage (or a lapsed heartbeat): replays
   * unbinds that failed, and re-registers every binding kept meanwhile. One runs at a time.
   */
  private register(): void {
    if (this.stopping) return;
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
          this.log.info({ node: this.nodeId, players: this.bound.size }, 'cluster engine registered');
        }
      })
      .finally(() => {
        this.registering = false;
        this.updateGauge();
        if (this.registerAgain) {
          this.registerAgain = false;
          this.register();
        }
      });
  }

  private async registerAll(): Promise<boolean> {
    if (!this.connected) return false;
    for (const [playerId, u] of [...this.pendingUnbinds]) {
      if (!(await this.sendUnbind(playerId, u))) return false;
      this.pendingUnbinds.delete(playerId);
    }
    const all = [...this.bound.values()].filter((b) => b.state !== 'binding');
    for (let i = 0; i < all.length; i += REFRESH_CHUNK) {
      const results = await Promise.allSettled(
        all.slice(i, i + REFRESH_CHUNK).map((b) => this.reregister(b)),
      );
      if (results.some((r) => r.status === 'rejected')) {
        this.redisError(
          'register',
          (results.find((r) => r.status === 'rejected') as PromiseRejectedResult).reason,
        );
        return false;
      }
    }
    return true;
  }

  private async reregister(b: Binding): Promise<void> {
    const reply = await this.cmd.gwRegisterBuffer(
      this.keys.player(b.playerId),
      this.keys.queue(b.playerId),
      this.keys.epoch,
      this.keys.prefix,
      b.playerId,
      this.nodeId,
      this.inst,
      b.session.id,
      b.state === 'bound' ? b.epoch : 0,
      b.seq,
      b.ceil,
      SEQ_BLOCK,
      this.onlineTtlMs,
      b.lastActiveAt,
    );
    const current = this.bound.get(b.playerId) === b;
    if (String(reply[0]) === 'stale') {
      if (current) this.replaced(b);
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
    b.ceil = Number(String(ceil));
    b.state = 'bound';
    if (expired > 0) this.metrics.offlineDropped.child('expired').inc(expired);
    this.replay(b, messages);
    if (current) {
      b.session.bindEpoch = b.epoch;
      return;
    }
    // It ended while the script ran: take it out of Redis again.
    await this.sendUnbind(b.playerId, { epoch: b.epoch, seq: b.seq, ceil: b.ceil, last: Date.now() });
  }

  private track<T>(p: Promise<T>): Promise<T> {
    this.inflight.add(p);
    p.finally(() => this.inflight.delete(p)).catch(() => {});
    return p;
  }

  private updateGauge(): void {
    this.metrics.clusterConnected.set(this.ready ? 1 : 0);
  }

  private unavailable(op: string): EngineUnavailableError {
    return new EngineUnavailableError(`cluster engine: Redis is unavailable (${op})`);
  }

  /** Counts a failed Redis operation; logs at most one per second. */
  private redisError(op: string, err: unknown): void {
    if (op !== 'connection') this.metrics.clusterRedisErrors.child(op).inc();
    const now = Date.now();
    if (now - this.lastErrorLogAt < 1_000 || this.stopping) return;
    this.lastErrorLogAt = now;
    this.log.warn({ node: this.nodeId, op, err: (err as Error)?.message }, 'cluster engine: Redis error');
  }
}

interface Queued {
  cmd: number;
  seq: number;
  body: Buffer;
}

/** Parses one queue element: `<expiresAt>,<seq>,<cmd>|<body>`. */
function decodeQueued(m: Buffer): Queued | null {
  const bar = m.indexOf(0x7c);
  if (bar < 0) return null;
  const [, seq, cmd] = m.toString('latin1', 0, bar).split(',');
  return { cmd: Number(cmd), seq: Number(seq), body: m.subarray(bar + 1) };
}

function countWritten(writes: Array<number | Promise<number>>): number | Promise<number> {
  if (writes.every((w) => typeof w === 'number')) {
    return (writes as number[]).filter((w) => w === PushAck.WRITTEN).length;
  }
  return Promise.all(writes).then((all) => all.filter((w) => w === PushAck.WRITTEN).length);
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T | undefined> {
  return Promise.race([p, sleep(ms).then(() => undefined)]);
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms).unref());
}
