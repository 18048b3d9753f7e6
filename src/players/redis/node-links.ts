import { randomBytes, timingSafeEqual } from 'node:crypto';
import { connect, createServer, type Server } from 'node:net';
import type { Address } from '../../config/schema.js';
import { advertisedAddress } from '../../registry/advertise.js';
import { LINK_VERSION, LinkConnection, type LinkHandlers } from './link-connection.js';
import { NODE_TTL_MS } from './node-registration.js';
import type { RedisConnection } from './redis-connection.js';

/** Longest a dial may take before the link is given up (for now: pushes go over Redis). */
const DIAL_TIMEOUT_MS = 1_000;
/** After a failed dial (or no link advertised), how long pushes to that node go over Redis before the next try. */
const REDIAL_MS = 1_000;
/** A refusal logged for a dialer is not logged again for it (same reason) within this; then with a count. */
const REFUSAL_LOG_MS = 60_000;
/** Most dialers whose refusals are remembered for that (past it, the memory starts over). */
const MAX_REFUSALS_REMEMBERED = 1_000;

/** This node's links to one other node: the one in use, and when to dial again. */
interface Peer {
  conn: LinkConnection | null;
  dialing: boolean;
  retryAt: number;
}

/**
 * Node links (`cluster.link.listen`): direct TCP connections between nodes, so a push
 * sent from the route cache skips Redis' two publishes (docs/cluster.md, "Node links").
 * A node with a listener advertises `host:port token` under `<prefix>link:<node>` with
 * its heartbeat; a node that has a listener too dials it on first use and proves it read
 * that key by the token in its HELLO (the trust boundary stays Redis access). Only DIRECT
 * messages go one way and RESULTS the other; everything else, and any push while a link
 * is down, dialing or full, goes over Redis as before.
 */
export class NodeLinks {
  private readonly token = randomBytes(24).toString('base64url');
  private server: Server | null = null;
  /** `host:port token`, once listening. */
  private advertised: string | null = null;
  private readonly peers = new Map<string, Peer>();
  private readonly accepted = new Set<LinkConnection>();
  private readonly handlers: LinkHandlers;
  /** By reason and dialer: until when its refusals are not logged, and how many were not. */
  private readonly refusals = new Map<string, { until: number; unlogged: number }>();
  private closed = false;

  constructor(
    private readonly conn: RedisConnection,
    onMessage: (conn: LinkConnection, deadline: number, message: Buffer) => void,
  ) {
    this.handlers = {
      hello: (c, text) => this.onHello(c, text),
      message: onMessage,
      close: (c, wasReady) => this.onClose(c, wasReady),
    };
  }

  /** Listens on `at`; returns the address bound (`host:port`). */
  async listen(at: Address, advertise: string): Promise<string> {
    const server = createServer((socket) => {
      if (this.closed) {
        socket.destroy();
        return;
      }
      const c = new LinkConnection(socket, true, this.handlers);
      this.accepted.add(c);
      // A dialer that never says HELLO is cut off.
      socket.setTimeout(DIAL_TIMEOUT_MS, () => {
        if (!c.ready) socket.destroy();
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      // Exclusive: under --workers each worker is its own node, on its own port (never shared by node:cluster).
      server.listen({ port: at.port, host: at.host, exclusive: true }, () => resolve());
    });
    this.server = server;
    const { address, port } = server.address() as { address: string; port: number };
    const bound = `${address.includes(':') ? `[${address}]` : address}:${port}`;
    this.advertised = `${advertisedAddress(bound, advertise)} ${this.token}`;
    return bound;
  }

  /** Renews `<prefix>link:<node>` (with every heartbeat: it lives as long as the node's key). */
  async renew(): Promise<void> {
    if (this.advertised === null || !this.conn.connected) return;
    await this.conn.cmd.set(this.conn.keys.link(this.conn.nodeId), this.advertised, 'PX', NODE_TTL_MS);
  }

  /** A link to `node` that takes a message now, or null: then use Redis (a dial may start). */
  to(node: string): LinkConnection | null {
    // Links are on per node: one without a listener never looks for others' (no Redis reads).
    if (this.advertised === null) return null;
    let peer = this.peers.get(node);
    if (peer === undefined) {
      peer = { conn: null, dialing: false, retryAt: 0 };
      this.peers.set(node, peer);
    }
    if (peer.conn?.usable) return peer.conn;
    if (peer.conn === null && !peer.dialing && Date.now() >= peer.retryAt && !this.closed)
      this.dial(node, peer);
    return null;
  }

  private async dial(node: string, peer: Peer): Promise<void> {
    peer.dialing = true;
    try {
      const found = this.conn.connected ? await this.conn.cmd.get(this.conn.keys.link(node)) : null;
      const [address, token] = found?.split(' ') ?? [];
      const at = address?.lastIndexOf(':') ?? -1;
      if (token === undefined || at < 0 || this.closed) throw new Error('no link advertised');
      const socket = connect({
        host: address.slice(0, at).replace(/^\[(.*)\]$/, '$1'),
        port: Number(address.slice(at + 1)),
      });
      const c = new LinkConnection(socket, false, this.handlers);
      c.peer = node;
      peer.conn = c;
      socket.setTimeout(DIAL_TIMEOUT_MS, () => {
        if (!c.ready) socket.destroy();
      });
      socket.once('connect', () => c.hello(`${LINK_VERSION} ${this.conn.nodeId} ${token}`));
    } catch {
      peer.retryAt = Date.now() + REDIAL_MS;
    } finally {
      peer.dialing = false;
    }
  }

  private onHello(c: LinkConnection, text: string): void {
    const [version, node, token] = text.split(' ');
    if (Number(version) !== LINK_VERSION || node === undefined || node === '') {
      this.refused(c, 'cluster link: HELLO refused', `hello ${c.socket.remoteAddress}`, {
        hello: text.slice(0, 40),
      });
      return;
    }
    if (!c.incoming) {
      // The node dialed answers with its own id: it must be the one the key named.
      if (node !== c.peer) c.close();
      else this.ready(c);
      return;
    }
    if (token === undefined || !sameToken(token, this.token)) {
      this.refused(c, 'cluster link: wrong token, connection refused', `token ${node.slice(0, 64)}`, {
        from: node.slice(0, 64),
      });
      return;
    }
    c.peer = node;
    c.hello(`${LINK_VERSION} ${this.conn.nodeId}`);
    this.ready(c);
  }

  /**
   * Closes a connection whose HELLO is refused, and logs it, once per dialer and reason
   * within REFUSAL_LOG_MS: a node of another version, say, dials again every REDIAL_MS.
   */
  private refused(c: LinkConnection, msg: string, key: string, fields: Record<string, unknown>): void {
    c.close();
    const now = Date.now();
    const seen = this.refusals.get(key);
    if (seen !== undefined && now < seen.until) {
      seen.unlogged++;
      return;
    }
    if (this.refusals.size >= MAX_REFUSALS_REMEMBERED) this.refusals.clear();
    this.refusals.set(key, { until: now + REFUSAL_LOG_MS, unlogged: 0 });
    const unloggedRefusals = seen?.unlogged ?? 0;
    this.conn.log.warn({ node: this.conn.nodeId, ...fields, unloggedRefusals }, msg);
  }

  private ready(c: LinkConnection): void {
    c.ready = true;
    c.socket.setTimeout(0);
    this.conn.log.info(
      { node: this.conn.nodeId, peer: c.peer, direction: c.incoming ? 'in' : 'out' },
      'cluster link up',
    );
  }

  private onClose(c: LinkConnection, wasReady: boolean): void {
    if (wasReady && !this.closed) {
      const direction = c.incoming ? 'in' : 'out';
      this.conn.log.info({ node: this.conn.nodeId, peer: c.peer, direction }, 'cluster link down');
    }
    if (c.incoming) {
      this.accepted.delete(c);
      return;
    }
    const peer = this.peers.get(c.peer);
    if (peer?.conn !== c) return;
    peer.conn = null;
    // A link that was up dials again at the next push; one that never came up waits REDIAL_MS.
    peer.retryAt = wasReady ? 0 : Date.now() + REDIAL_MS;
  }

  /** Closes the listener and every link; deletes this node's key. */
  async close(): Promise<void> {
    this.closed = true;
    for (const c of this.accepted) c.close();
    for (const p of this.peers.values()) p.conn?.close();
    this.server?.close();
    if (this.advertised !== null && this.conn.connected)
      await this.conn.cmd.del(this.conn.keys.link(this.conn.nodeId)).catch(() => {});
  }
}

function sameToken(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
