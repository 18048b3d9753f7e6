import { type GatewayConfig, parseAddress } from '../../config/schema.js';
import type { Logger } from '../../logger.js';
import type { GatewayMetrics } from '../../metrics/metrics.js';
import type { Binding } from '../binding.js';
import type { Engine, EngineCounts, NodeInfo, PlayerInfo, PushResult } from '../engine.js';
import type { LocalHub, ReplayMessage } from '../local-hub.js';
import { encodeMessage, MessageKind } from './cluster-message.js';
import { NodeChannel } from './node-channel.js';
import { NodeLinks } from './node-links.js';
import { HEARTBEAT_MS, NodeRegistration } from './node-registration.js';
import { PushRouter } from './push-router.js';
import { decodeQueued } from './queued-message.js';
import { RedisConnection } from './redis-connection.js';
import type { ScriptCommands } from './redis-scripts.js';
import { SEQ_BLOCK, SequenceBlocks } from './sequence-blocks.js';

/**
 * The Redis engine (`cluster.engine: redis`): players, offline queues, push sequences
 * and groups live in Redis, so every node of a cluster sees one set of players. This
 * node's bindings are its LocalHub's; pushes, kicks and group pushes accepted by any node
 * travel to the holding node over its pub/sub channel and are acknowledged back, and
 * broadcasts go to every node. docs/cluster.md describes the key layout and what each
 * path guarantees. The parts: RedisConnection (connections, error accounting),
 * NodeChannel (messages between nodes), PushRouter (pushes and kicks for other nodes),
 * NodeRegistration (heartbeat, leases, re-registration), SequenceBlocks (push sequences).
 */
export class RedisEngine implements Engine {
  readonly name = 'redis';
  private readonly conn: RedisConnection;
  private readonly channel: NodeChannel;
  private readonly router: PushRouter;
  private readonly links: NodeLinks;
  private readonly registration: NodeRegistration;
  private readonly blocks: SequenceBlocks;
  /** Binds whose script is in flight: an unbind waits for its bind to be in Redis. */
  private readonly confirming = new Map<Binding, Promise<unknown>>();
  private readonly inflight = new Set<Promise<unknown>>();
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly config: GatewayConfig,
    private readonly hub: LocalHub,
    private readonly metrics: GatewayMetrics,
    log: Logger,
  ) {
    this.conn = new RedisConnection(config, metrics, log);
    this.channel = new NodeChannel(this.conn, hub, metrics, config.cluster.redis.commandTimeoutMs, () =>
      this.registration.current(),
    );
    this.links = new NodeLinks(this.conn, config.cluster.link.tls, (link, deadline, message) =>
      this.channel.onLinkMessage(link, deadline, message),
    );
    this.router = new PushRouter(config, this.conn, this.channel, this.links, metrics);
    this.blocks = new SequenceBlocks(this.conn, hub);
    this.registration = new NodeRegistration(config, this.conn, this.channel, hub, this.blocks, metrics, () =>
      this.updateGauge(),
    );
  }

  /** Redis reachable, subscribed, heartbeat renewed, and this node's bindings registered. */
  get ready(): boolean {
    return (
      !this.conn.stopping &&
      this.registration.heartbeatOk &&
      this.registration.registered &&
      this.channel.subscribed &&
      this.conn.up
    );
  }

  async start(): Promise<void> {
    const { cmd, sub, nodeId, log } = this.conn;
    log.info({ node: nodeId, redis: this.conn.target }, 'cluster engine connecting to Redis');
    cmd.on('ready', () => {
      log.info({ node: nodeId, redis: this.conn.target }, 'cluster engine connected to Redis');
      this.registration.register();
    });
    cmd.on('close', () => {
      if (this.registration.heartbeatOk) log.warn({ node: nodeId }, 'cluster engine lost Redis');
      this.registration.heartbeatOk = false;
      this.registration.registered = false;
      this.updateGauge();
    });
    // Messages for this node published while its subscriber was away found no receiver and
    // were queued: re-registering replays them to the sessions it still holds.
    sub.on('ready', () => {
      // Registered only once the subscriptions are confirmed, so other nodes' messages find this node.
      this.channel.subscribe().then(
        () => this.registration.register(),
        (err) => this.conn.failed('subscribe', err),
      );
    });
    sub.on('close', () => {
      this.registration.registered = false;
      this.updateGauge();
    });
    const { listen } = this.config.cluster.link;
    if (listen !== null) {
      const at = parseAddress(listen)!;
      const bound = await this.links.listen(at, this.config.registry.advertise).catch((err: Error) => {
        throw new Error(`cluster.link.listen ${listen}: ${err.message}`);
      });
      log.info({ node: nodeId, link: bound }, 'cluster link listening');
    }
    // Subscribed before anything is bound here, so no message for this node is missed.
    const subscribed = this.channel.subscribe();
    const waitMs = 2 * this.config.cluster.redis.commandTimeoutMs;
    await Promise.allSettled([this.conn.connect(), withTimeout(subscribed, waitMs)]);
    subscribed.catch(() => {});
    await Promise.all([this.registration.heartbeat(), this.renewLink()]);
    // Registered before the gateway listens, so /readyz is 200 as soon as it starts.
    if (this.conn.connected && !this.registration.registered) {
      this.registration.registered = await this.registration.registerAll().catch(() => false);
    }
    this.timer = setInterval(() => {
      this.registration.tick(() => this.ready);
      this.renewLink();
    }, HEARTBEAT_MS);
    this.timer.unref();
    this.updateGauge();
    if (!this.ready) log.warn({ node: nodeId }, 'cluster engine started without Redis; retrying, not ready');
  }

  async stop(): Promise<void> {
    this.conn.stopping = true;
    if (this.timer) clearInterval(this.timer);
    // Unbinds of the sessions the gateway just closed finish first, so their players are offline.
    const until = Date.now() + 2 * this.config.cluster.redis.commandTimeoutMs;
    while (this.inflight.size > 0 && Date.now() < until) await Promise.race([...this.inflight, sleep(50)]);
    this.channel.acks.cancelAll();
    await Promise.all([this.links.close(), this.registration.leave()]);
    this.conn.disconnect();
    this.updateGauge();
  }

  private renewLink(): Promise<void> {
    return this.links.renew().catch((err) => this.conn.failed('link', err));
  }

  bind(b: Binding): Promise<ReplayMessage[]> {
    const done = this.confirm(b);
    this.confirming.set(b, done);
    done.finally(() => this.confirming.delete(b));
    return done;
  }

  private async confirm(b: Binding): Promise<ReplayMessage[]> {
    let reply: Awaited<ReturnType<ScriptCommands['gwBindBuffer']>>;
    try {
      if (!this.conn.connected) throw this.conn.unavailable('bind');
      reply = await this.conn.cmd.gwBindBuffer(
        ...this.registration.holderArgs(b),
        SEQ_BLOCK,
        this.registration.onlineTtlMs,
      );
    } catch (err) {
      // Kept locally and registered when Redis is back; meanwhile it gets no pushes (no seq known).
      this.conn.failed('bind', err);
      b.state = 'unregistered';
      this.registration.registered = false;
      this.updateGauge();
      return [];
    }
    const [epoch, seq, ceil, expired, messages] = reply;
    b.epoch = epoch;
    b.seq = Number(String(seq));
    this.blocks.setCeiling(b, Number(String(ceil)));
    b.state = 'bound';
    if (expired > 0) this.metrics.offlineDropped.child('expired').inc(expired);
    return decodeQueued(messages);
  }

  unbind(b: Binding): Promise<void> {
    const done = (async () => {
      await this.confirming.get(b);
      if (b.state === 'bound') await this.registration.unbind(b);
    })();
    this.inflight.add(done);
    done.finally(() => this.inflight.delete(done)).catch(() => {});
    return done;
  }

  pushAway(players: readonly string[], cmd: number, body: Buffer, offline: boolean): Promise<PushResult[]> {
    return this.router.push(players, cmd, body, offline);
  }

  kickAway(playerId: string, reason: string): Promise<number> {
    return this.router.kick(playerId, reason);
  }

  broadcastAway(cmd: number, body: Buffer): Promise<number> {
    return this.channel.fanOut('broadcast', 'broadcast', async (waitId) => {
      const msg = encodeMessage(MessageKind.BROADCAST, [String(cmd), this.conn.nodeId, waitId], body);
      const receivers = await this.conn.cmd.publish(this.conn.keys.broadcast, msg);
      this.channel.sent.broadcast.inc();
      // Every node's subscriber got it, this node's own included (the hub delivered here).
      return receivers - (this.conn.sub.status === 'ready' ? 1 : 0);
    });
  }

  groupPush(group: string, cmd: number, body: Buffer): Promise<number> {
    return this.channel.fanOut('group_push', 'group', async (waitId) => {
      const { keys, nodeId } = this.conn;
      const nodes = await this.conn.cmd.gwGroupPush(
        keys.group(group),
        keys.prefix,
        group,
        cmd,
        nodeId,
        waitId,
        body,
      );
      this.channel.sent.group.inc(nodes.length);
      return nodes.length;
    });
  }

  join(group: string, players: readonly string[]): Promise<number> {
    return this.membership('join', group, players);
  }

  leave(group: string, players: readonly string[]): Promise<number> {
    return this.membership('leave', group, players);
  }

  async members(group: string): Promise<string[]> {
    if (!this.conn.connected) throw this.conn.unavailable('members');
    const { cmd, keys } = this.conn;
    try {
      return await cmd.gwMembers(keys.group(group), keys.prefix, group);
    } catch (err) {
      this.conn.failed('members', err);
      throw this.conn.unavailable('members');
    }
  }

  private async membership(op: 'join' | 'leave', group: string, players: readonly string[]): Promise<number> {
    if (!this.conn.connected) throw this.conn.unavailable(op);
    const { cmd, keys } = this.conn;
    try {
      const script = op === 'join' ? cmd.gwJoin : cmd.gwLeave;
      return await script.call(cmd, keys.group(group), keys.prefix, group, ...players);
    } catch (err) {
      this.conn.failed(op, err);
      throw this.conn.unavailable(op);
    }
  }

  async player(playerId: string, local: Binding | undefined): Promise<PlayerInfo | null> {
    if (!this.conn.connected) {
      if (local !== undefined) return this.localInfo(local, 0);
      throw this.conn.unavailable('player');
    }
    const { cmd, keys } = this.conn;
    let r: Awaited<ReturnType<ScriptCommands['gwInfo']>>;
    try {
      r = await cmd.gwInfo(keys.player(playerId), keys.queue(playerId), keys.prefix);
    } catch (err) {
      this.conn.failed('player', err);
      if (local !== undefined) return this.localInfo(local, 0);
      throw this.conn.unavailable('player');
    }
    if (r === null) return local !== undefined ? this.localInfo(local, 0) : null;
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
    if (local !== undefined) return this.localInfo(local, queued);
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
      node: this.conn.nodeId,
      sessionId: b.sessionId,
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
    return { online: this.hub.size, offline: 0, offlineMessages: 0 };
  }

  /** SIGHUP: `cluster.link.tls`' files, for the next node links (NodeLinks.reloadTls). */
  reloadTls(): boolean {
    return this.links.reloadTls();
  }

  nodes(): Promise<NodeInfo[]> {
    return this.registration.nodes();
  }

  private updateGauge(): void {
    this.metrics.clusterConnected.set(this.ready ? 1 : 0);
  }
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T | undefined> {
  return Promise.race([p, sleep(ms).then(() => undefined)]);
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms).unref());
}
