import type { GatewayConfig } from '../../config/schema.js';
import type { GatewayMetrics } from '../../metrics/metrics.js';
import { Status } from '../../protocol/status.js';
import type { PushResult } from '../engine.js';
import { Delivery } from '../local-hub.js';
import type { NodeChannel } from './node-channel.js';
import type { RedisConnection } from './redis-connection.js';

/** Players per push script call (a script blocks Redis while it runs: keep each short). */
const ROUTE_CHUNK = 200;

/** One player of a push that needs Redis: where its result goes, and a binding to skip. */
interface RouteJob {
  index: number;
  playerId: string;
  notEpoch: string;
}

/**
 * Pushes and kicks for players this node does not hold. Redis says where each player is
 * (one script call per ROUTE_CHUNK players): routed to its node, which acknowledges the
 * write, or queued, or dropped. A node that answers "not here" gets one more routing
 * attempt past its epoch; a node that does not answer in time is taken as gone and the
 * message is queued (it may then arrive twice, under the same seq, if that node was only slow).
 */
export class PushRouter {
  private readonly commandTimeoutMs: number;

  constructor(
    private readonly config: GatewayConfig,
    private readonly conn: RedisConnection,
    private readonly channel: NodeChannel,
    private readonly metrics: GatewayMetrics,
  ) {
    this.commandTimeoutMs = config.cluster.redis.commandTimeoutMs;
  }

  async push(players: readonly string[], cmd: number, body: Buffer, offline: boolean): Promise<PushResult[]> {
    const results: PushResult[] = new Array(players.length);
    const jobs = players.map((playerId, index) => ({ index, playerId, notEpoch: '' }));
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
    const { acks } = this.channel;
    const { keys } = this.conn;
    // Opened before the script runs: an ack can overtake the script's reply.
    const waits = mode === 'route' ? jobs.map(() => acks.open()) : null;
    const startedAt = performance.now();
    const { offline: bounds } = this.config.players;
    const args: Array<string | number | Buffer> = [2 * jobs.length];
    for (const j of jobs) args.push(keys.player(j.playerId), keys.queue(j.playerId));
    args.push(keys.prefix, cmd, body, offline ? '1' : '0', bounds.maxMessages, bounds.maxBytes);
    // Past this (on Redis' clock) the script does nothing: this call has answered `dropped` by then.
    args.push(bounds.ttlMs, this.conn.nodeId, mode, this.conn.redisTime(Date.now() + this.commandTimeoutMs));
    for (const [k, j] of jobs.entries()) args.push(j.playerId, waits?.[k].id ?? '', j.notEpoch);
    let reply: Array<string | number>;
    try {
      reply = await this.conn.cmd.gwPush(...args);
    } catch (err) {
      if (waits) for (const w of waits) acks.cancel(w.id);
      this.conn.failed('push', err);
      for (const j of jobs) results[j.index] = 'dropped';
      return;
    }
    const routed: Array<Promise<void>> = [];
    jobs.forEach((job, k) => {
      const [result, , third, overflow] = reply.slice(4 * k, 4 * k + 4);
      if (result !== 'routed') {
        if (waits) acks.cancel(waits[k].id);
        if (Number(third) > 0) this.metrics.offlineDropped.child('expired').inc(Number(third));
        if (Number(overflow) > 0) this.metrics.offlineDropped.child('overflow').inc(Number(overflow));
        results[job.index] = result === 'cached' ? 'cached' : 'dropped';
        return;
      }
      const epoch = String(third);
      routed.push(
        waits![k].outcome.then((ack) => {
          if (!ack.complete) {
            this.metrics.clusterAckTimeouts.child('push').inc();
            store.push(job);
          } else if (ack.sum === Delivery.WRITTEN) {
            this.metrics.clusterPushDuration.child().observe((performance.now() - startedAt) / 1000);
            results[job.index] = 'delivered';
          } else if (ack.sum === Delivery.WRITE_FAILED) {
            results[job.index] = 'dropped';
          } else {
            // Not there any more: once more past that binding, then queue.
            (job.notEpoch === '' ? again : store).push({ ...job, notEpoch: epoch });
          }
        }),
      );
    });
    if (routed.length > 0) this.channel.sent.push.inc();
    await Promise.all(routed);
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
