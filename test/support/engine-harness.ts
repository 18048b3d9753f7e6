/**
 * Engines under test without sockets: a SessionManager fed by in-memory connections that
 * decode what the gateway writes, so a test can bind sessions, push, and read the frames.
 * One EngineNode is one gateway node; several Redis nodes can share one Redis.
 */

import { buildConfig } from '../../src/config/load.js';
import type { GatewayConfig, GatewayConfigInput } from '../../src/config/schema.js';
import { createLogger } from '../../src/logger.js';
import { GatewayMetrics } from '../../src/metrics/metrics.js';
import { createPlayers } from '../../src/players/create-players.js';
import type { Players } from '../../src/players/players.js';
import { type Frame, FrameType } from '../../src/protocol/frame.js';
import { FrameDecoder } from '../../src/protocol/frame-decoder.js';
import type { Session, SessionHost, SessionLimits } from '../../src/session/session.js';
import { SessionManager } from '../../src/session/session-manager.js';
import type { Connection, ConnectionEvents } from '../../src/transport/connection.js';
import { LogCapture } from './gateway-fixture.js';

/**
 * A connection that keeps every frame written to it. Like a socket whose client reads once
 * per event-loop turn, what is written in one turn counts as unsent (`bufferedBytes`) until
 * the next, so the write bound applies as it does on a real socket. end()/destroy() close
 * it on the next turn.
 */
export class MemoryConnection implements Connection {
  readonly transport = 'tcp' as const;
  readonly remoteAddress = '127.0.0.1';
  bufferedBytes = 0;
  private readScheduled = false;
  readonly frames: Frame[] = [];
  closed = false;
  events: ConnectionEvents | null = null;
  get writable(): boolean {
    return !this.closed;
  }
  private readonly decoder = new FrameDecoder(64 * 1024 * 1024, (type, status, cmd, seq, body) => {
    this.frames.push({ type, flags: 0, status, cmd, seq, body: Buffer.from(body) });
  });

  write(frame: Buffer): void {
    if (this.closed) return;
    this.decoder.push(frame);
    this.bufferedBytes += frame.length;
    if (this.readScheduled) return;
    this.readScheduled = true;
    setImmediate(() => {
      this.readScheduled = false;
      this.bufferedBytes = 0;
    });
  }
  cork(): void {}
  uncork(): void {}
  end(): void {
    this.close();
  }
  destroy(): void {
    this.close();
  }
  /** The client goes away. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    setImmediate(() => this.events?.close());
  }
  /** Frames of `type`, taken out of `frames`. */
  take(type: number): Frame[] {
    const out = this.frames.filter((f) => f.type === type);
    for (const f of out) this.frames.splice(this.frames.indexOf(f), 1);
    return out;
  }
}

export interface Client {
  session: Session;
  conn: MemoryConnection;
}

export type EngineKind = 'local' | 'redis';

export class EngineNode {
  readonly config: GatewayConfig;
  readonly metrics: GatewayMetrics;
  readonly sessions: SessionManager;
  /** The players of this node: the hub and the engine under test, behind the facade the gateway uses. */
  readonly players: Players;
  private readonly host: SessionHost;
  readonly lifecycle: Array<[string, string, string]> = [];
  /** What the node logged at warn and above (every level with TEST_LOG_LEVEL, also printed). */
  private readonly logCapture = new LogCapture(process.env.TEST_LOG_LEVEL ? process.stdout : undefined);
  private readonly closing = new Set<Promise<void>>();

  constructor(input: GatewayConfigInput) {
    this.config = buildConfig(input);
    const limits: SessionLimits = {
      maxFrameBytes: this.config.limits.maxFrameBytes,
      maxWriteBufferBytes: this.config.limits.maxWriteBufferBytes,
    };
    this.metrics = new GatewayMetrics({ defaultMetrics: false });
    this.host = {
      limits,
      metrics: this.metrics,
      onRequest: () => {},
      onClosed: (session) => {
        this.sessions.remove(session);
        if (session.playerId !== null) {
          const p = this.players.unbind(session);
          this.closing.add(p);
          p.finally(() => this.closing.delete(p));
        }
      },
    };
    this.sessions = new SessionManager(this.config, this.metrics);
    this.players = createPlayers(
      this.config,
      this.sessions,
      this.metrics,
      createLogger(process.env.TEST_LOG_LEVEL ?? 'warn', this.logCapture),
    );
    this.players.onLifecycle((event, playerId, session) =>
      this.lifecycle.push([event, playerId, session.id]),
    );
  }

  get logs(): LogCapture['lines'] {
    return this.logCapture.lines;
  }

  /** A new session (HELLO already written and taken). */
  connect(): Client {
    const conn = new MemoryConnection();
    this.sessions.acceptor(this.host)(conn, (events) => {
      conn.events = events;
    });
    const session = [...this.sessions.values()].at(-1)!;
    conn.frames.length = 0;
    return { session, conn };
  }

  /** Connects and binds to `player`. */
  async login(player: string): Promise<Client> {
    const c = this.connect();
    await this.players.bind(c.session, player);
    return c;
  }

  /** Closes the client's connection and waits until its unbind is done. */
  async disconnect(c: Client): Promise<void> {
    c.conn.close();
    await new Promise((r) => setImmediate(r));
    await Promise.all([...this.closing]);
  }

  async stop(): Promise<void> {
    for (const s of [...this.sessions.values()]) s.connection.destroy();
    await new Promise((r) => setImmediate(r));
    await Promise.all([...this.closing]);
    await this.players.stop();
  }
}

let prefixes = 0;
/** A key prefix no other test uses, so tests sharing one Redis never see each other's keys. */
export function uniquePrefix(): string {
  return `t${process.pid}-${++prefixes}:`;
}

/** Config of one node of `kind`; Redis nodes with the same prefix form one cluster. */
export function nodeConfig(
  kind: EngineKind,
  nodeId: string,
  redisUrl: string,
  prefix: string,
  overrides: Partial<GatewayConfigInput> = {},
): GatewayConfigInput {
  return {
    node: { id: nodeId },
    // Never bound here (only the engine runs); a client listener keeps the config valid.
    listen: { tcp: '127.0.0.1:0', api: '127.0.0.1:0' },
    cluster: { engine: kind, redis: { url: redisUrl, keyPrefix: prefix, commandTimeoutMs: 1_000 } },
    ...overrides,
  };
}

export async function startNode(input: GatewayConfigInput): Promise<EngineNode> {
  const node = new EngineNode(input);
  await node.players.start();
  return node;
}

/** A node's cluster.link section. */
export type LinkSection = NonNullable<NonNullable<GatewayConfigInput['cluster']>['link']>;
/** A node's cluster.link: its listen address (null: no link), or the whole section. */
export type LinkInput = string | null | LinkSection;

/**
 * Nodes a, b, c… of a new cluster (one key prefix) on the Redis engine, one per entry of
 * `links` (its cluster.link); each is also added to `started`.
 */
export async function startCluster(
  redisUrl: string,
  links: LinkInput[],
  started: EngineNode[],
  overrides: Partial<GatewayConfigInput> = {},
): Promise<EngineNode[]> {
  const prefix = uniquePrefix();
  const nodes: EngineNode[] = [];
  for (const [i, link] of links.entries()) {
    const config = nodeConfig('redis', String.fromCharCode(97 + i), redisUrl, prefix, overrides);
    config.cluster = {
      ...config.cluster,
      link: typeof link === 'object' && link !== null ? link : { listen: link },
    };
    const nd = await startNode(config);
    started.push(nd);
    nodes.push(nd);
  }
  return nodes;
}

/** The bodies of the PUSH frames `c` received since the last take, as text. */
export const pushBodies = (c: Client): string[] => c.conn.take(FrameType.PUSH).map((f) => f.body.toString());
/** Messages `nd` sent over node links (DIRECT and RESULTS). */
export const linkOut = (nd: EngineNode): number => nd.metrics.clusterLinkMessages.total({ direction: 'out' });
/** DIRECT messages `nd` sent over Redis (not over a link). */
export const directOverRedis = (nd: EngineNode): number =>
  nd.metrics.clusterMessages.total({ direction: 'out', kind: 'direct' });

export { sleep, waitFor as until } from './wait.js';
