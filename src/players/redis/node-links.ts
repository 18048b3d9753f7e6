import { randomBytes, timingSafeEqual } from 'node:crypto';
import { connect, createServer, type Server, type Socket } from 'node:net';
import * as tls from 'node:tls';
import type { Address, GatewayConfig } from '../../config/schema.js';
import { readTlsFiles, secureContextOptions, type TlsFiles } from '../../config/tls-files.js';
import { advertisedAddress } from '../../registry/advertise.js';
import { LINK_VERSION, LinkConnection, type LinkHandlers } from './link-connection.js';
import { NODE_TTL_MS } from './node-registration.js';
import type { RedisConnection } from './redis-connection.js';

/** Longest a dial may take before the link is given up (for now: pushes go over Redis). */
const DIAL_TIMEOUT_MS = 1_000;
/** After a failed dial (or no link advertised), how long pushes to that node go over Redis before the next try. */
const REDIAL_MS = 1_000;
/** A link warning (a refused dialer, a failed handshake) is not logged again for that peer and reason within this. */
const WARN_REPEAT_MS = 60_000;
/** Most peers whose warnings are remembered for that (past it, the memory starts over). */
const MAX_WARNINGS_REMEMBERED = 1_000;

export type LinkTlsConfig = NonNullable<GatewayConfig['cluster']['link']['tls']>;

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
 * is down, dialing or full, goes over Redis as before. With `cluster.link.tls` both ends
 * speak TLS and accept only a certificate of the cluster's CA.
 */
export class NodeLinks {
  private readonly token = randomBytes(24).toString('base64url');
  private server: Server | tls.Server | null = null;
  /** `host:port token`, once listening. */
  private advertised: string | null = null;
  private readonly peers = new Map<string, Peer>();
  private readonly accepted = new Set<LinkConnection>();
  private readonly handlers: LinkHandlers;
  /** `cluster.link.tls`'s files (null: plain TCP); re-read by reloadTls(). */
  private tlsFiles: TlsFiles | null;
  /** By reason and peer: until when its warning is not logged again, and how many were not. */
  private readonly warned = new Map<string, { until: number; unlogged: number }>();
  private closed = false;

  constructor(
    private readonly conn: RedisConnection,
    private readonly tlsConfig: LinkTlsConfig | null,
    onMessage: (conn: LinkConnection, deadline: number, message: Buffer) => void,
  ) {
    // Read now: a bad file is a ConfigError naming its key before anything listens.
    this.tlsFiles = tlsConfig === null ? null : readTlsFiles(tlsConfig, 'cluster.link.tls');
    this.handlers = {
      hello: (c, text) => this.onHello(c, text),
      message: onMessage,
      close: (c, wasReady) => this.onClose(c, wasReady),
    };
  }

  /** Listens on `at`; returns the address bound (`host:port`). */
  async listen(at: Address, advertise: string): Promise<string> {
    const accept = (socket: Socket) => {
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
    };
    const server = this.tlsFiles === null ? createServer(accept) : this.tlsServer(this.tlsFiles, accept);
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

  /**
   * TLS both ways: this node's certificate, and a dialer's must chain to the CA (as this
   * node checks a listener's when it dials). A failed handshake (a plain dialer, another
   * CA) is closed and logged at debug: the dialer sends over Redis meanwhile.
   */
  private tlsServer(files: TlsFiles, accept: (socket: Socket) => void): tls.Server {
    const server = tls.createServer(
      {
        ...secureContextOptions(files),
        requestCert: true,
        rejectUnauthorized: true,
        handshakeTimeout: DIAL_TIMEOUT_MS,
      },
      accept,
    );
    server.on('tlsClientError', (err: NodeJS.ErrnoException, socket: tls.TLSSocket) => {
      this.conn.log.debug(
        { err: err.message, remote: socket.remoteAddress },
        'cluster link: tls handshake failed',
      );
      socket.destroy();
    });
    return server;
  }

  /**
   * SIGHUP: re-reads `cluster.link.tls`' files. New links (both ways) use them; links up
   * keep theirs. A file that does not check keeps the old ones, and says why. False when
   * links have no TLS, or the files did not check.
   */
  reloadTls(): boolean {
    if (this.tlsConfig === null) return false;
    let files: TlsFiles;
    try {
      files = readTlsFiles(this.tlsConfig, 'cluster.link.tls');
    } catch (err) {
      this.conn.log.error(
        { err: (err as Error).message },
        'cluster link: tls files not reloaded; the old ones stay',
      );
      return false;
    }
    this.tlsFiles = files;
    if (this.server instanceof tls.Server) this.server.setSecureContext(secureContextOptions(files));
    this.conn.log.info({ cert: this.tlsConfig.cert }, 'cluster link: tls files reloaded');
    return true;
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
      const host = address.slice(0, at).replace(/^\[(.*)\]$/, '$1');
      const port = Number(address.slice(at + 1));
      const files = this.tlsFiles;
      // TLS: the listener's certificate must chain to the CA. Its name is not checked: nodes
      // dial the addresses they advertise (IPs, mostly); the CA is what makes a node one of ours.
      const socket =
        files === null
          ? connect({ host, port })
          : tls.connect({ host, port, ...secureContextOptions(files), checkServerIdentity: () => undefined });
      const c = new LinkConnection(socket, false, this.handlers);
      c.peer = node;
      peer.conn = c;
      socket.setTimeout(DIAL_TIMEOUT_MS, () => {
        if (!c.ready) socket.destroy();
      });
      socket.once(files === null ? 'connect' : 'secureConnect', () =>
        c.hello(`${LINK_VERSION} ${this.conn.nodeId} ${token}`),
      );
      if (files !== null) {
        // Connected, then no handshake: a certificate refused one way or the other, or a plain listener.
        socket.once('connect', () =>
          socket.once('error', (err) => {
            if (!c.ready)
              this.warnLimited(`tls ${node}`, 'cluster link: tls handshake failed', {
                peer: node,
                err: err.message,
              });
          }),
        );
      }
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

  /** Closes a connection whose HELLO is refused, and says why (warnLimited). */
  private refused(c: LinkConnection, msg: string, key: string, fields: Record<string, unknown>): void {
    c.close();
    this.warnLimited(key, msg, fields);
  }

  /**
   * A warning logged once per `key` (a reason and a peer) within WARN_REPEAT_MS, then with
   * the count of its unlogged repeats: a node of another version, or with a bad
   * certificate, dials again every REDIAL_MS.
   */
  private warnLimited(key: string, msg: string, fields: Record<string, unknown>): void {
    const now = Date.now();
    const seen = this.warned.get(key);
    if (seen !== undefined && now < seen.until) {
      seen.unlogged++;
      return;
    }
    if (this.warned.size >= MAX_WARNINGS_REMEMBERED) this.warned.clear();
    this.warned.set(key, { until: now + WARN_REPEAT_MS, unlogged: 0 });
    this.conn.log.warn({ node: this.conn.nodeId, ...fields, unloggedRepeats: seen?.unlogged ?? 0 }, msg);
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
