import { createServer, type Server } from 'node:http';
import { ApiServer } from './api/api-server.js';
import { BackendClient } from './backend/backend-client.js';
import { LifecycleEvents } from './backend/lifecycle-events.js';
import { buildConfig } from './config/load.js';
import { type Address, type GatewayConfig, type GatewayConfigInput, parseAddress } from './config/schema.js';
import { createLogger, type Logger } from './logger.js';
import { GatewayMetrics } from './metrics/metrics.js';
import { createEngine } from './players/create-engine.js';
import type { Engine } from './players/engine.js';
import { PluginHost } from './plugins/plugin-host.js';
import { Status } from './protocol/status.js';
import { Forwarder } from './request/forwarder.js';
import { RouteTable } from './request/route-table.js';
import type { Session } from './session/session.js';
import type { SessionHost, SessionLimits } from './session/session-host.js';
import { SessionManager } from './session/session-manager.js';
import type { Transport } from './transport/connection.js';
import { listen } from './transport/listen.js';
import { TcpTransport } from './transport/tcp-transport.js';
import { WsTransport } from './transport/ws-transport.js';

export interface GatewayOptions {
  /** A validated config, or raw input (validated here, without env overrides). */
  config: GatewayConfig | GatewayConfigInput;
  /** Directory that relative plugin paths are resolved against. */
  baseDir?: string;
  logger?: Logger;
}

export interface BoundAddresses {
  tcp: string | null;
  ws: string | null;
  api: string;
  metrics: string | null;
}

/**
 * The composition root: builds every part from the config, starts the listeners, and
 * runs the graceful shutdown of SPEC §10. It is also the SessionHost that sessions call.
 */
export class Gateway implements SessionHost {
  readonly config: GatewayConfig;
  readonly log: Logger;
  readonly metrics: GatewayMetrics;
  readonly sessions: SessionManager;
  readonly engine: Engine;
  readonly backends: BackendClient;
  readonly forwarder: Forwarder;
  readonly plugins: PluginHost;
  readonly limits: SessionLimits;
  readonly baseDir: string;
  addresses: BoundAddresses | null = null;

  private readonly transports: Transport[] = [];
  private readonly api: ApiServer;
  private metricsServer: Server | null = null;
  private readonly events: LifecycleEvents | null;
  private state: 'new' | 'running' | 'draining' | 'stopped' = 'new';

  constructor(options: GatewayOptions) {
    this.config = isValidated(options.config) ? options.config : buildConfig(options.config);
    const config = this.config;
    this.baseDir = options.baseDir ?? process.cwd();
    this.log = options.logger ?? createLogger(config.log.level);
    const { limits } = config;
    this.limits = {
      maxFrameBytes: limits.maxFrameBytes,
      maxWriteBufferBytes: limits.maxWriteBufferBytes,
      requestsPerSecond: limits.requestsPerSecond,
      requestBurst: limits.requestBurst ?? Math.max(1, limits.requestsPerSecond * 2),
    };
    this.metrics = new GatewayMetrics(
      {
        sessions: () => ({ connected: this.sessions.connected, authed: this.sessions.authed }),
        inFlight: () => this.forwarder.inFlight,
        players: () => this.engine.counts(),
        offlineMessages: () => this.engine.counts().offlineMessages,
        pools: () => [...this.backends.targets.values()].map((t) => ({ target: t.name, ...t.stats() })),
      },
      { defaultMetrics: config.metrics.enabled },
    );
    this.backends = new BackendClient(config.targets, config.node.id, this.log);
    this.sessions = new SessionManager(config, this, this.metrics);
    const eventsTarget =
      config.events.target === null ? null : this.backends.targets.get(config.events.target)!;
    this.events =
      eventsTarget === null
        ? null
        : new LifecycleEvents(eventsTarget, this.backends, this.metrics, this.log, config.node.id);
    this.engine = createEngine(config, this.sessions, this.metrics, this.log, (event, playerId, session) => {
      this.events?.send(event, playerId, session);
      if (event === 'online') this.plugins.bound(session, playerId);
    });
    this.forwarder = new Forwarder(
      config,
      new RouteTable(config.routes),
      this.backends,
      this.engine,
      this.metrics,
      this.log,
    );
    this.plugins = new PluginHost({
      config,
      engine: this.engine,
      metrics: this.metrics,
      log: this.log,
      targets: this.backends.targets,
    });
    this.api = new ApiServer(address(config.listen.api), {
      config,
      engine: this.engine,
      metrics: this.metrics,
      log: this.log,
      ready: () => this.ready,
      stats: () => this.stats(),
    });
    if (config.listen.tcp !== null) {
      this.transports.push(new TcpTransport(address(config.listen.tcp), this.sessions.accept));
    }
    if (config.listen.ws !== null) {
      this.transports.push(
        new WsTransport(address(config.listen.ws), this.sessions.accept, {
          maxFrameBytes: limits.maxFrameBytes,
        }),
      );
    }
  }

  /** Ready: every listener is up, the engine is connected, and we are not draining. */
  get ready(): boolean {
    return this.state === 'running' && this.engine.ready;
  }

  async start(): Promise<BoundAddresses> {
    await this.engine.start();
    // Every plugin is set up before anything listens; one that fails stops the start.
    try {
      await this.plugins.start(this.baseDir);
    } catch (err) {
      await this.engine.stop();
      throw err;
    }
    this.forwarder.plugins = this.plugins.pipeline(this.forwarder);
    const bound: BoundAddresses = { tcp: null, ws: null, api: '', metrics: null };
    try {
      for (const t of this.transports) bound[t.name] = format(await t.listen());
      bound.api = format(await this.api.listen());
      if (this.config.listen.metrics !== null)
        bound.metrics = await this.listenMetrics(address(this.config.listen.metrics));
    } catch (err) {
      await this.closeListeners();
      await this.plugins.close();
      await this.engine.stop();
      throw err;
    }
    this.sessions.startSweeping();
    this.addresses = bound;
    this.state = 'running';
    this.log.info({ node: this.config.node.id, ...bound, engine: this.engine.name }, 'gateway listening');
    return bound;
  }

  /**
   * Graceful shutdown (SPEC §10): stop accepting, report not-ready, let requests in
   * flight finish for up to shutdown.drainMs, KICK SERVER_SHUTDOWN, close everything.
   */
  async stop(): Promise<void> {
    if (this.state === 'draining' || this.state === 'stopped') return;
    this.state = 'draining';
    this.log.info({ inFlight: this.forwarder.inFlight, sessions: this.sessions.size }, 'draining');
    this.sessions.stopAccepting();
    await Promise.all(this.transports.map((t) => t.close()));
    const until = Date.now() + this.config.shutdown.drainMs;
    while (this.forwarder.inFlight > 0 && Date.now() < until) await sleep(10);
    await this.sessions.kickAll(Status.SERVER_SHUTDOWN, 1_000);
    this.sessions.stop();
    await this.closeListeners();
    await this.plugins.close();
    await this.engine.stop();
    // Offline events of the sessions just closed are still on their way to events.target.
    await this.backends.close(1_000);
    this.state = 'stopped';
    this.log.info('stopped');
  }

  private async closeListeners(): Promise<void> {
    await Promise.all([
      ...this.transports.map((t) => t.close()),
      this.api.close(),
      new Promise<void>((resolve) => {
        if (this.metricsServer === null || !this.metricsServer.listening) return resolve();
        this.metricsServer.close(() => resolve());
        // A scraper's keep-alive connection would hold close() open until it idles out.
        this.metricsServer.closeAllConnections();
      }),
    ]);
  }

  private async listenMetrics(at: Address): Promise<string> {
    const server = createServer((req, res) => {
      if (req.url !== '/metrics') {
        res.writeHead(404).end();
        return;
      }
      this.metrics.text().then(
        (text) => res.writeHead(200, { 'content-type': this.metrics.registry.contentType }).end(text),
        () => res.writeHead(500).end(),
      );
    });
    this.metricsServer = server;
    return format(await listen(server, at, 511));
  }

  stats(): Record<string, unknown> {
    const players = this.engine.counts();
    return {
      node: this.config.node.id,
      sessions: { connected: this.sessions.connected, authed: this.sessions.authed },
      players: { online: players.online, offline: players.offline },
      offlineMessages: players.offlineMessages,
      requestsInFlight: this.forwarder.inFlight,
      // Totals since start, for dashboards without Prometheus (the demo page derives rates).
      requests: {
        success: this.metrics.requests.total({ result: 'success' }),
        error: this.metrics.requests.total({ result: 'error' }),
        drop: this.metrics.requests.total({ result: 'drop' }),
      },
      ready: this.ready,
    };
  }

  // SessionHost
  onRequest(session: Session, type: number, cmd: number, seq: number, body: Buffer): void {
    this.forwarder.handle(session, type, cmd, seq, body);
  }

  onClosed(session: Session): void {
    this.plugins.sessionClosed(session);
    this.sessions.remove(session);
    if (session.playerId !== null) {
      this.engine
        .unbind(session)
        .catch((err: Error) => this.log.error({ err: err.message }, 'unbind failed'));
    }
  }
}

function isValidated(c: GatewayConfig | GatewayConfigInput): c is GatewayConfig {
  return Object.isFrozen(c);
}

function address(text: string): Address {
  return parseAddress(text)!;
}

function format(a: { host: string; port: number }): string {
  return a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
