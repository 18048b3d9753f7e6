import type { GatewayConfig } from '../../config/schema.js';
import type { GatewayMetrics } from '../../metrics/metrics.js';
import { Status } from '../../protocol/status.js';
import type { PushResult } from '../engine.js';
import { encodeMessage, MessageKind, PushCode } from './cluster-message.js';
import { type Batchable, NodeBatcher } from './node-batcher.js';
import type { NodeChannel } from './node-channel.js';
import type { NodeLinks } from './node-links.js';
import type { RedisConnection } from './redis-connection.js';
import { RouteCache } from './route-cache.js';

/** Players per push script call (a script blocks Redis while it runs: keep each short). */
const ROUTE_CHUNK = 200;
/** Routing attempts (straight to a remembered node, or through the script) before a push is queued. */
const MAX_ROUTES = 2;
/** Most (player, epoch) entries in one DIRECT message: pushes to one node past it go in more. */
const DIRECT_MAX_ENTRIES = 1_000;
/** Most body bytes in one DIRECT message (one call's body larger than this goes alone). */
const DIRECT_MAX_BYTES = 256 * 1024;

/** One player of a push that needs Redis: where its result goes, and a binding to skip. */
interface RouteJob {
  index: number;
  playerId: string;
  /** The epoch of a binding that answered "not here" ('' : none). */
  notEpoch: string;
  /** The epoch this attempt expects (set when routed). */
  epoch: number;
  routes: number;
}

/** The players of one push call bound for one node, waiting for a DIRECT message. */
interface DirectGroup extends Batchable {
  jobs: RouteJob[];
  cmd: number;
  body: Buffer;
  out: Outcomes;
  done: () => void;
}

/** Where the jobs of one attempt end up: routed again, queued, or answered. */
interface Outcomes {
  results: PushResult[];
  again: RouteJob[];
  store: RouteJob[];
}

/**
 * Pushes and kicks for players this node does not hold. A player whose node this node
 * remembers (route-cache.ts) gets the push in a DIRECT message straight to that node, over
 * its node link when one is up (node-links.ts), else to its channel, gathered with the
 * other pushes to that node (node-batcher.ts). The others go through the push script,
 * which reads where each player is (one call per ROUTE_CHUNK players) and publishes one
 * PUSH message per holding node, or queues, or drops. Every message carries one request id; the holding node
 * answers with one code per player, batched per event-loop turn. A node that answers
 * "not here" gets one more routing attempt past its epoch; a node that does not answer in
 * time is taken as gone and the message is queued (it may then arrive twice, under
 * another seq, if that node was only slow).
 */
export class PushRouter {
  private readonly commandTimeoutMs: number;
  readonly routes = new RouteCache();
  /** DIRECT pushes, gathered into one message per node (node-batcher.ts). */
  private readonly directs = new NodeBatcher<DirectGroup>(
    (node, groups) => this.sendDirect(node, groups),
    DIRECT_MAX_ENTRIES,
    DIRECT_MAX_BYTES,
  );

  constructor(
    private readonly config: GatewayConfig,
    private readonly conn: RedisConnection,
    private readonly channel: NodeChannel,
    private readonly links: NodeLinks,
    private readonly metrics: GatewayMetrics,
  ) {
    this.commandTimeoutMs = config.cluster.redis.commandTimeoutMs;
  }

  async push(players: readonly string[], cmd: number, body: Buffer, offline: boolean): Promise<PushResult[]> {
    const results: PushResult[] = new Array(players.length);
    const jobs = players.map((playerId, index) => ({ index, playerId, notEpoch: '', epoch: 0, routes: 0 }));
    await this.route(jobs, cmd, body, offline, 'route', results);
    return results;
  }

  private async route(
    jobs: RouteJob[],
    cmd: number,
    body: Buffer,
    offline: boolean,
    mode: 'route' | 'store',
    results: PushResult[],
  ): Promise<void> {
    if (!this.conn.connected) {
      for (const j of jobs) results[j.index] = 'dropped';
      this.metrics.clusterRedisErrors.child('push').inc(jobs.length);
      return;
    }
    const out: Outcomes = { results, again: [], store: [] };
    const sends: Array<Promise<void>> = [];
    let viaScript = jobs;
    if (mode === 'route') {
      viaScript = [];
      const byNode = new Map<string, RouteJob[]>();
      const now = Date.now();
      for (const j of jobs) {
        // Only a first attempt goes by the cache: a retry asks Redis, so no push loops.
        const route = j.routes === 0 ? this.routes.get(j.playerId, now) : undefined;
        if (route === undefined) {
          viaScript.push(j);
          continue;
        }
        j.epoch = route.epoch;
        const list = byNode.get(route.node);
        if (list === undefined) byNode.set(route.node, [j]);
        else list.push(j);
      }
      for (const [node, list] of byNode) sends.push(this.direct(node, list, cmd, body, out));
    }
    for (let at = 0; at < viaScript.length; at += ROUTE_CHUNK) {
      sends.push(this.viaScript(viaScript.slice(at, at + ROUTE_CHUNK), cmd, body, offline, mode, out));
    }
    await Promise.all(sends);
    await Promise.all([
      out.again.length > 0 ? this.route(out.again, cmd, body, offline, 'route', results) : null,
      out.store.length > 0 ? this.route(out.store, cmd, body, offline, 'store', results) : null,
    ]);
  }

  /**
   * Queues the players of one call that `node` was last seen holding for the next DIRECT
   * message to that node; resolves once their outcomes are in `out`.
   */
  private direct(node: string, jobs: RouteJob[], cmd: number, body: Buffer, out: Outcomes): Promise<void> {
    return new Promise((done) => {
      this.directs.add(node, { jobs, cmd, body, out, done, entries: jobs.length, bytes: body.length });
    });
  }

  /** One DIRECT message to `node`; every group gets its outcomes, whatever happens. */
  private sendDirect(node: string, groups: DirectGroup[]): Promise<void> {
    return this.directMessage(node, groups)
      .catch((err) => {
        this.conn.failed('push', err);
        for (const g of groups) for (const j of g.jobs) g.out.results[j.index] ??= 'dropped';
      })
      .finally(() => {
        for (const g of groups) g.done();
      });
  }

  private async directMessage(node: string, groups: DirectGroup[]): Promise<void> {
    const { acks } = this.channel;
    const wait = acks.open();
    const startedAt = performance.now();
    const fields = [this.conn.nodeId, wait.id, String(groups.length)];
    const bodies = new Array<Buffer>(groups.length);
    for (let g = 0; g < groups.length; g++) {
      const { jobs, cmd, body } = groups[g];
      bodies[g] = body;
      fields.push(String(cmd), String(body.length), String(jobs.length));
      for (const j of jobs) {
        j.routes++;
        fields.push(j.playerId, String(j.epoch));
      }
    }
    // Past it (on Redis' clock) the message is not applied: this call has answered `dropped` by then.
    const deadline = this.conn.redisTime(Date.now() + this.commandTimeoutMs);
    const message = encodeMessage(MessageKind.DIRECT, fields, bodies);
    const link = this.links.to(node);
    let receivers = 1;
    if (link !== null) {
      link.send(deadline, message);
      this.channel.linkSent.inc();
    } else {
      try {
        // -1: it ran past its deadline.
        receivers = await this.conn.cmd.gwDirect(this.conn.keys.channel(node), deadline, message);
      } catch (err) {
        this.conn.failed('push', err);
        receivers = -1;
      }
    }
    if (receivers < 0) {
      acks.cancel(wait.id);
      for (const g of groups) for (const j of g.jobs) g.out.results[j.index] = 'dropped';
      return;
    }
    if (link === null) this.channel.sent.direct.inc();
    if (receivers === 0) {
      // Nobody listens on that node's channel: the script decides (queue, or another node).
      acks.cancel(wait.id);
      for (const g of groups) {
        for (const j of g.jobs) {
          this.routes.forget(j.playerId, j.epoch);
          g.out.again.push(j);
        }
      }
      return;
    }
    const codes = (await wait.outcome).parts?.get(node);
    // No answer over a link: the peer may be gone without a FIN (a host down). Dropping the
    // link sends the next messages over Redis, which knows whether anyone is listening.
    if (codes === undefined && link !== null) link.close();
    let at = 0;
    for (const g of groups) {
      this.settle(node, g.jobs, codes?.slice(at, at + g.jobs.length), startedAt, g.out);
      at += g.jobs.length;
    }
  }

  /** One push script call for up to ROUTE_CHUNK players. */
  private async viaScript(
    jobs: RouteJob[],
    cmd: number,
    body: Buffer,
    offline: boolean,
    mode: 'route' | 'store',
    out: Outcomes,
  ): Promise<void> {
    const { acks } = this.channel;
    const { keys } = this.conn;
    // Opened before the script runs: an answer can overtake the script's reply.
    const wait = mode === 'route' ? acks.open(Number.POSITIVE_INFINITY) : null;
    const startedAt = performance.now();
    const { offline: bounds } = this.config.players;
    // Past the deadline (on Redis' clock) the script does nothing: this call has answered `dropped` by then.
    const deadline = this.conn.redisTime(Date.now() + this.commandTimeoutMs);
    const args: Array<string | number | Buffer> = [
      keys.prefix,
      cmd,
      body,
      offline ? '1' : '0',
      bounds.maxMessages,
    ];
    args.push(bounds.maxBytes, bounds.ttlMs, this.conn.nodeId, mode, deadline, wait?.id ?? '');
    for (const j of jobs) args.push(j.playerId, j.notEpoch);
    let reply: Array<string | number>;
    try {
      reply = await this.conn.cmd.gwPush(...args);
    } catch (err) {
      if (wait) acks.cancel(wait.id);
      this.conn.failed('push', err);
      for (const j of jobs) out.results[j.index] = 'dropped';
      return;
    }
    const [expired, overflow, nodeCount] = reply as number[];
    if (expired > 0) this.metrics.offlineDropped.child('expired').inc(expired);
    if (overflow > 0) this.metrics.offlineDropped.child('overflow').inc(overflow);
    const nodes = reply.slice(3, 3 + nodeCount) as string[];
    const routed: RouteJob[][] = nodes.map(() => []);
    const now = Date.now();
    for (let k = 0; k < jobs.length; k++) {
      const job = jobs[k];
      const code = reply[3 + nodeCount + 2 * k] as number;
      if (code > 0) {
        job.epoch = reply[4 + nodeCount + 2 * k] as number;
        job.routes++;
        routed[code - 1].push(job);
        this.routes.set(job.playerId, nodes[code - 1], job.epoch, now);
      } else out.results[job.index] = code === 0 ? 'cached' : 'dropped';
    }
    if (wait === null) return;
    acks.expect(wait.id, nodeCount);
    if (nodeCount === 0) return;
    this.channel.sent.push.inc(nodeCount);
    const ack = await wait.outcome;
    for (let n = 0; n < nodeCount; n++)
      this.settle(nodes[n], routed[n], ack.parts?.get(nodes[n]), startedAt, out);
  }

  /** A holding node's answer for `jobs`, one code each in their order; undefined: no answer in time. */
  private settle(
    node: string,
    jobs: RouteJob[],
    codes: string | undefined,
    startedAt: number,
    out: Outcomes,
  ): void {
    if (codes === undefined) {
      this.metrics.clusterAckTimeouts.child('push').inc(jobs.length);
      for (const j of jobs) {
        this.routes.forget(j.playerId, j.epoch);
        out.store.push(j);
      }
      return;
    }
    const now = Date.now();
    let delivered = 0;
    for (let k = 0; k < jobs.length; k++) {
      const job = jobs[k];
      const code = codes[k];
      if (code === PushCode.WRITTEN) {
        out.results[job.index] = 'delivered';
        this.routes.set(job.playerId, node, job.epoch, now);
        delivered++;
      } else if (code === PushCode.WRITE_FAILED) {
        out.results[job.index] = 'dropped';
      } else {
        // Not there any more: once more past that binding, then queue.
        this.routes.forget(job.playerId, job.epoch);
        job.notEpoch = String(job.epoch);
        (job.routes < MAX_ROUTES ? out.again : out.store).push(job);
      }
    }
    if (delivered > 0)
      this.metrics.clusterPushDuration.child().observe((performance.now() - startedAt) / 1000, delivered);
  }

  /** Kicks `playerId` on the node that holds it; 1 when that node kicked it. */
  async kick(playerId: string, reason: string): Promise<number> {
    if (!this.conn.connected) {
      this.metrics.clusterRedisErrors.child('kick').inc();
      return 0;
    }
    const { acks } = this.channel;
    const wait = acks.open();
    try {
      const receivers = await this.conn.cmd.gwKick(
        this.conn.keys.player(playerId),
        this.conn.keys.prefix,
        playerId,
        Status.KICKED,
        this.conn.nodeId,
        wait.id,
        reason,
      );
      if (receivers === 0) {
        acks.cancel(wait.id);
        return 0;
      }
      this.channel.sent.kick.inc();
    } catch (err) {
      this.conn.failed('kick', err);
      acks.cancel(wait.id);
      return 0;
    }
    const ack = await wait.outcome;
    if (!ack.complete) this.metrics.clusterAckTimeouts.child('kick').inc();
    return ack.sum > 0 ? 1 : 0;
  }
}
