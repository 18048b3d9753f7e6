import type { CounterChild } from '../../metrics/families.js';
import type { GatewayMetrics } from '../../metrics/metrics.js';
import type { StatusCode } from '../../protocol/status.js';
import { countWritten, Delivery, type LocalHub } from '../local-hub.js';
import { AckWaiters } from './ack-waiters.js';
import {
  type DecodedMessage,
  decodeMessage,
  encodeMessage,
  MessageKind,
  PushCode,
} from './cluster-message.js';
import type { LinkConnection } from './link-connection.js';
import type { RedisConnection } from './redis-connection.js';

/** Link messages waiting for one PING at most; past it they are answered "not here". */
const MAX_BEHIND_BARRIER = 1_000;

/** Where an answer goes: a node's channel (by id), or back over the link a message came on. */
type ReplyTo = string | LinkConnection;

export type MessageCounters = Record<
  'push' | 'direct' | 'kick' | 'group' | 'broadcast' | 'ack',
  CounterChild
>;

/**
 * Messages between nodes (cluster-message.ts): this node's channel and the broadcast
 * channel in, acknowledgements out (batched per node and event-loop turn), and waits for
 * the acknowledgements of what this node sent. Deliveries go through the LocalHub, so a
 * message for a binding still being confirmed is written after its offline replay.
 */
export class NodeChannel {
  readonly acks: AckWaiters;
  readonly sent: MessageCounters;
  private readonly received: MessageCounters;
  /** Messages over node links (node-links.ts), out and in. */
  readonly linkSent: CounterChild;
  private readonly linkReceived: CounterChild;
  private readonly acksOut = new Map<string, string[]>();
  /** RESULTS to send, by node (over Redis) or by the link the message came on. */
  private readonly resultsOut = new Map<ReplyTo, string[]>();
  /** DIRECT messages from node links waiting for the subscriber connection's PING. */
  private behindBarrier: Array<{ link: LinkConnection; deadline: number; m: DecodedMessage }> = [];
  /** Link messages read and not yet past their PING (this turn's and those of PINGs in flight). */
  private barrierWaiting = 0;
  private acksScheduled = false;
  /** True once Redis confirmed this node's subscriptions, until the subscriber connection drops. */
  subscribed = false;
  /** Counts subscriber connections confirmed: a registration is current only for the one it began under. */
  subscription = 0;

  constructor(
    private readonly conn: RedisConnection,
    private readonly hub: LocalHub,
    private readonly metrics: GatewayMetrics,
    commandTimeoutMs: number,
    /** Whether this node's bindings are known to match Redis' records now: DIRECT messages are applied only then. */
    private readonly current: () => boolean,
  ) {
    this.acks = new AckWaiters(commandTimeoutMs);
    const kinds = ['push', 'direct', 'kick', 'group', 'broadcast', 'ack'] as const;
    const counters = (direction: string): MessageCounters =>
      Object.fromEntries(
        kinds.map((k) => [k, metrics.clusterMessages.child(direction, k)]),
      ) as unknown as MessageCounters;
    this.received = counters('in');
    this.sent = counters('out');
    this.linkSent = metrics.clusterLinkMessages.child('out');
    this.linkReceived = metrics.clusterLinkMessages.child('in');
    conn.sub.on('messageBuffer', (_channel: Buffer, message: Buffer) => this.onMessage(message));
    conn.sub.on('close', () => {
      this.subscribed = false;
    });
  }

  /**
   * Subscribes to this node's channel and the broadcast channel (before anything is bound
   * here, and again after every reconnect: ioredis resubscribes without waiting, and a
   * message published before Redis has the subscription finds no receiver).
   */
  async subscribe(): Promise<void> {
    await this.conn.sub.subscribe(this.conn.keys.channel(this.conn.nodeId), this.conn.keys.broadcast);
    // One count per connection: subscribing again on the same one loses nothing.
    if (!this.subscribed) this.subscription++;
    this.subscribed = true;
  }

  /**
   * Sends a message to many nodes and sums their acknowledged deliveries. `publish` sends
   * it, tagged with the wait id, and returns how many nodes will answer. A Redis error or a
   * lost connection counts under `op` and delivers nothing remotely; nodes that do not
   * answer in time count as ack timeouts of `kind`.
   */
  async fanOut(op: string, kind: string, publish: (waitId: string) => Promise<number>): Promise<number> {
    if (!this.conn.connected) {
      this.metrics.clusterRedisErrors.child(op).inc();
      return 0;
    }
    const wait = this.acks.open(Number.POSITIVE_INFINITY);
    try {
      this.acks.expect(wait.id, await publish(wait.id));
    } catch (err) {
      this.conn.failed(op, err);
      this.acks.cancel(wait.id);
    }
    const ack = await wait.outcome;
    if (!ack.complete) this.metrics.clusterAckTimeouts.child(kind).inc();
    return ack.sum;
  }

  private onMessage(buf: Buffer): void {
    const m = decodeMessage(buf);
    if (m === null) {
      this.conn.log.warn({ bytes: buf.length }, 'cluster engine: malformed message ignored');
      return;
    }
    const f = m.fields;
    switch (m.kind) {
      case MessageKind.PUSH: {
        // cmd, from, reqId, n, n × (player, epoch)
        this.received.push.inc();
        const cmd = Number(f[0]);
        const writes: Array<Delivery | Promise<Delivery>> = [];
        let held = false;
        for (let i = 4; i < f.length; i += 2)
          held = this.deliverTo(f[i], f[i + 1], cmd, m.body, writes) || held;
        this.answerWrites(f[1], f[2], writes, held);
        return;
      }
      case MessageKind.DIRECT:
        this.received.direct.inc();
        this.applyDirect(m, f[0]);
        return;
      case MessageKind.KICK: {
        // epoch, player, status, from, reqId, reason
        this.received.kick.inc();
        const b = this.hub.get(f[1]);
        const kicked =
          b === undefined ? 0 : this.hub.kick(b, Number(f[2]) as StatusCode, f[5] || undefined, Number(f[0]));
        this.answer(f[3], f[4], kicked);
        return;
      }
      case MessageKind.GROUP: {
        // cmd, from, reqId, n, n × (player, epoch)
        this.received.group.inc();
        const cmd = Number(f[0]);
        const writes: Array<Delivery | Promise<Delivery>> = [];
        for (let i = 4; i < f.length; i += 2) {
          const b = this.hub.get(f[i]);
          if (b !== undefined) writes.push(this.hub.deliver(b, cmd, m.body, Number(f[i + 1])));
        }
        this.answer(f[1], f[2], countWritten(writes));
        return;
      }
      case MessageKind.BROADCAST: {
        // cmd, from, reqId
        if (f[1] === this.conn.nodeId) return;
        this.received.broadcast.inc();
        this.answer(f[1], f[2], this.hub.deliverAll(Number(f[0]), m.body));
        return;
      }
      case MessageKind.ACK: {
        // n, n × (reqId, result)
        this.received.ack.inc();
        for (let i = 1; i < f.length; i += 2) this.acks.ack(f[i], Number(f[i + 1]));
        return;
      }
      case MessageKind.RESULTS:
        this.received.ack.inc();
        this.takeResults(f);
        return;
    }
  }

  /**
   * A DIRECT message: from, reqId, k, then k × (cmd, body length, n, n × (player, epoch)) |
   * the bodies. Applied only while this node's bindings are current; answered to `to`.
   */
  private applyDirect(m: DecodedMessage, to: ReplyTo): void {
    const f = m.fields;
    const groups = Number(f[2]);
    if (!this.current()) {
      this.refuse(m, to);
      return;
    }
    const writes: Array<Delivery | Promise<Delivery>> = [];
    let held = false;
    let at = 3;
    let offset = 0;
    for (let g = 0; g < groups; g++) {
      const cmd = Number(f[at]);
      const body = m.body.subarray(offset, offset + Number(f[at + 1]));
      offset += body.length;
      const end = at + 3 + 2 * Number(f[at + 2]);
      for (at += 3; at < end; at += 2) held = this.deliverTo(f[at], f[at + 1], cmd, body, writes) || held;
    }
    this.answerWrites(to, f[1], writes, held);
  }

  /** Answers every entry of a DIRECT message "not here": its sender routes them through Redis. */
  private refuse(m: DecodedMessage, to: ReplyTo): void {
    const f = m.fields;
    this.answerResults(to, f[1], PushCode.NOT_HERE.repeat((f.length - 3 - 3 * Number(f[2])) / 2));
  }

  /**
   * A message over a node link (node-links.ts). RESULTS are taken at once. A DIRECT is
   * applied only after a PING on the subscriber connection comes back: by then this node
   * has read every KICK that Redis published before the message was sent, so the link
   * can no longer overtake the KICK of a newer login and deliver to a replaced binding
   * (the order the node's channel alone gave). One PING covers the turn's link messages.
   */
  onLinkMessage(link: LinkConnection, deadline: number, buf: Buffer): void {
    const m = decodeMessage(buf);
    this.linkReceived.inc();
    if (m?.kind === MessageKind.RESULTS) {
      this.takeResults(m.fields);
      return;
    }
    if (m?.kind !== MessageKind.DIRECT || !link.incoming) {
      this.conn.log.warn({ bytes: buf.length, from: link.peer }, 'cluster link: unexpected message ignored');
      return;
    }
    if (!this.current() || this.barrierWaiting >= MAX_BEHIND_BARRIER) {
      // Not subscribed (or not registered): no PING could vouch for it. Or Redis is slow to
      // answer the PING: what waits for it is bounded.
      this.refuse(m, link);
      return;
    }
    this.barrierWaiting++;
    this.behindBarrier.push({ link, deadline, m });
    if (this.behindBarrier.length > 1) return;
    setImmediate(() => {
      const batch = this.behindBarrier;
      this.behindBarrier = [];
      this.conn.sub.ping().then(
        () => {
          this.barrierWaiting -= batch.length;
          const now = this.conn.redisTime(Date.now());
          // Past its deadline the sender has answered the push `dropped` (as the DIRECT script does).
          for (const x of batch) if (now <= x.deadline) this.applyDirect(x.m, x.link);
        },
        () => {
          this.barrierWaiting -= batch.length;
          for (const x of batch) this.refuse(x.m, x.link);
        },
      );
    });
  }

  /** RESULTS: from, n, n × (reqId, codes). */
  private takeResults(f: string[]): void {
    for (let i = 2; i < f.length; i += 2) this.acks.part(f[i], f[0], f[i + 1]);
  }

  /** Writes a push to `player`'s binding of `epoch` here, if any; true when the binding holds the write. */
  private deliverTo(
    player: string,
    epoch: string,
    cmd: number,
    body: Buffer,
    writes: Array<Delivery | Promise<Delivery>>,
  ): boolean {
    const b = this.hub.get(player);
    const r = b === undefined ? Delivery.NOT_HERE : this.hub.deliver(b, cmd, body, Number(epoch));
    writes.push(r);
    return typeof r !== 'number';
  }

  /** Answers a PUSH or DIRECT with one code per entry; a binding still being confirmed holds its writes, so then once all are settled. */
  private answerWrites(
    to: ReplyTo,
    reqId: string,
    writes: Array<Delivery | Promise<Delivery>>,
    held: boolean,
  ): void {
    const answer = (all: Delivery[]) => this.answerResults(to, reqId, all.map(pushCode).join(''));
    if (held) Promise.all(writes).then(answer);
    else answer(writes as Delivery[]);
  }

  /** Sends an ack (batched per node and event-loop turn); to itself, directly. */
  private answer(to: string, reqId: string, result: number | Promise<number>): void {
    if (reqId === '') return;
    if (typeof result !== 'number') {
      result.then((r) => this.answer(to, reqId, r));
      return;
    }
    if (to === this.conn.nodeId) {
      this.acks.ack(reqId, result);
      return;
    }
    let list = this.acksOut.get(to);
    if (list === undefined) {
      list = [];
      this.acksOut.set(to, list);
    }
    list.push(reqId, String(result));
    this.scheduleFlush();
  }

  /** Sends a push message's per-entry codes (batched with the acks); to itself, directly. */
  private answerResults(to: ReplyTo, reqId: string, codes: string): void {
    if (to === this.conn.nodeId) {
      this.acks.part(reqId, to, codes);
      return;
    }
    let list = this.resultsOut.get(to);
    if (list === undefined) {
      list = [];
      this.resultsOut.set(to, list);
    }
    list.push(reqId, codes);
    this.scheduleFlush();
  }

  private scheduleFlush(): void {
    if (!this.acksScheduled) {
      this.acksScheduled = true;
      setImmediate(() => this.flushAcks());
    }
  }

  private flushAcks(): void {
    this.acksScheduled = false;
    for (const [node, list] of this.acksOut) {
      this.sendAnswers(node, encodeMessage(MessageKind.ACK, [String(list.length / 2), ...list]));
    }
    for (const [to, list] of this.resultsOut) {
      const msg = encodeMessage(MessageKind.RESULTS, [this.conn.nodeId, String(list.length / 2), ...list]);
      if (typeof to === 'string') this.sendAnswers(to, msg);
      // A link that went down or is full: the answer goes over Redis, to the same waits.
      else if (to.usable) {
        this.linkSent.inc();
        to.send(0, msg);
      } else this.sendAnswers(to.peer, msg);
    }
    this.acksOut.clear();
    this.resultsOut.clear();
  }

  private sendAnswers(node: string, msg: Buffer): void {
    this.sent.ack.inc();
    // A lost ack makes the sender wait out its timeout, then queue: at least once.
    if (this.conn.connected)
      this.conn.cmd.publish(this.conn.keys.channel(node), msg).catch((err) => this.conn.failed('ack', err));
  }
}

function pushCode(d: Delivery): string {
  return d === Delivery.WRITTEN
    ? PushCode.WRITTEN
    : d === Delivery.NOT_HERE
      ? PushCode.NOT_HERE
      : PushCode.WRITE_FAILED;
}
