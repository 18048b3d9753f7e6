import { ApiServer } from './api/api-server.js';
import { httpLimits } from './api/http-limits.js';
import { MetricsServer } from './api/metrics-server.js';
import { BackendClient } from './backend/backend-client.js';
import { LifecycleEvents } from './backend/lifecycle-events.js';
import { buildConfig } from './config/load.js';
import { type Address, type GatewayConfig, type GatewayConfigInput, parseAddress } from './config/schema.js';
import { createLogger, type Logger } from './logger.js';
import { GatewayMetrics } from './metrics/metrics.js';
import { createPlayers } from './players/create-players.js';
import type { PlayerService } from './players/player-service.js';
import type { Players } from './players/players.js';
import { PluginHost } from './plugins/plugin-host.js';
import { Status } from './protocol/status.js';
import { ServiceRegistry } from './registry/service-registry.js';
import { AdmissionStage, requestBurst } from './request/admission-stage.js';
import { DirectivesStage } from './request/directives-stage.js';
import { ForwardStage } from './request/forward-stage.js';
import { RequestFinisher } from './request/request-finisher.js';
import { RequestPipeline } from './request/request-pipeline.js';
import { RequestSlots } from './request/request-slots.js';
import { RouteTable } from './request/route-table.js';
import type { Stage } from './request/stage.js';
import type { SessionHost } from './session/session.js';
import { SessionManager } from './session/session-manager.js';
import type { Transport } from './transport/connection.js';
import { ListenerTls } from './transport/listener-tls.js';
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
 * The composition root: builds the parts from the config in dependency order (metrics →
 * sessions → backends → players → plugins → request path → listeners), wires their events,
 * starts the listeners, and runs the graceful shutdown of SPEC §10. It is none of the parts.
 */
export class Gateway {
  readonly config: GatewayConfig;
  readonly log: Logger;
  readonly metrics: GatewayMetrics;
  readonly sessions: SessionManager;
  readonly backends: BackendClient;
  readonly plugins: PluginHost;
  readonly baseDir: string;
  addresses: BoundAddresses | null = null;
  /** The stages of the request path, outermost first, once started (no `plugins` stage when no plugin needs one). */
  stageNames: readonly string[] = [];

  private readonly playersStore: Players;
  /** The etcd registry (SPEC §11); null unless registry.etcd is set. */
  private readonly registry: ServiceRegistry | null;
  private readonly events: LifecycleEvents | null;
  private readonly slots: RequestSlots;
  private readonly transports: Transport[] = [];
  /** listen.tls: null when off. */
  private readonly tls: ListenerTls | null;
  readonly api: ApiServer;
  private metricsServer: MetricsServer | null = null;
  private state: 'new' | 'running' | 'draining' | 'stopped' = 'new';

  constructor(options: GatewayOptions) {
    this.config = isValidated(options.config) ? options.config : buildConfig(options.config);
    const config = this.config;
    this.baseDir = options.baseDir ?? process.cwd();
    this.log = options.logger ?? createLogger(config.log.level);
    this.metrics = new GatewayMetrics({ defaultMetrics: config.metrics.enabled });
    this.sessions = new SessionManager(config, this.metrics);
    this.tls = config.listen.tls === null ? null : new ListenerTls(config.listen.tls, this.metrics, this.log);
    this.backends = new BackendClient(
      config.targets,
      config.node.id,
      this.log,
      config.limits.maxResponseBytes ?? config.limits.maxWriteBufferBytes,
    );
    this.registry = ServiceRegistry.fromConfig({
      config,
      log: this.log,
      metrics: this.metrics,
      onInstances: (target, instances) => this.backends.updateInstances(target, instances),
    });
    const eventsTarget =
      config.events.target === null ? null : this.backends.targets.get(config.events.target)!;
    this.events =
      eventsTarget === null
        ? null
        : new LifecycleEvents(eventsTarget, this.backends, this.metrics, this.log, config.node.id);
    this.playersStore = createPlayers(config, this.sessions, this.metrics, this.log);
    const events = this.events;
    if (events !== null)
      this.playersStore.onLifecycle((event, playerId, session) => events.send(event, playerId, session));
    this.plugins = new PluginHost({
      config,
      players: this.playersStore,
      metrics: this.metrics,
      log: this.log,
      targets: new Set(this.backends.targets.keys()),
    });
    const plugins = this.plugins;
    this.playersStore.onLifecycle((event, playerId, session) => {
      if (event === 'online') plugins.bound(session, playerId);
    });
    this.slots = new RequestSlots(requestBurst(config));
    this.api = new ApiServer(listenAddress(config.listen.api, 'listen.api'), {
      config,
      engine: this.playersStore,
      metrics: this.metrics,
      log: this.log,
      ready: () => this.ready,
      stats: () => this.stats(),
      targets: this.backends.targets,
      nodes: () => this.playersStore.nodes(),
      tls: this.tls?.for('api') ?? null,
    });
    this.metrics.readGaugesFrom({
      sessions: () => ({ connected: this.sessions.connected, authed: this.sessions.authed }),
      inFlight: () => this.slots.total,
      players: () => this.playersStore.counts(),
      offlineMessages: () => this.playersStore.counts().offlineMessages,
      pools: () => this.backends.poolStats(),
    });
  }

  /** Players as the push API and plugins see them. */
  get players(): PlayerService {
    return this.playersStore;
  }

  /** Requests admitted and not yet answered, all sessions. */
  get inFlight(): number {
    return this.slots.total;
  }

  /** Ready: every listener is up, the engine is connected, every discovered target was read once, and we are not draining. */
  get ready(): boolean {
    return this.state === 'running' && this.playersStore.ready && (this.registry?.ready ?? true);
  }

  async start(): Promise<BoundAddresses> {
    await this.playersStore.start();
    // Every plugin is set up before anything listens; one that fails stops the start.
    try {
      await this.plugins.start(this.baseDir);
    } catch (err) {
      await this.playersStore.stop();
      throw err;
    }
    // Built now: the plugins' handlers and hooks are part of the request path.
    this.buildTransports(this.sessionHost(this.buildPipeline()));
    // Discovery starts before the listeners; /readyz waits until each target was read once.
    this.registry?.startDiscovery();
    const bound: BoundAddresses = { tcp: null, ws: null, api: '', metrics: null };
    try {
      for (const t of this.transports) bound[t.name] = format(await t.listen());
      bound.api = format(await this.api.listen());
      if (this.config.listen.metrics !== null)
        bound.metrics = await this.listenMetrics(listenAddress(this.config.listen.metrics, 'listen.metrics'));
    } catch (err) {
      await this.closeListeners();
      await this.plugins.close();
      await this.registry?.close();
      await this.playersStore.stop();
      throw err;
    }
    this.sessions.startSweeping();
    this.addresses = bound;
    this.state = 'running';
    this.log.info(
      { node: this.config.node.id, ...bound, engine: this.playersStore.name },
      'gateway listening',
    );
    // Registered once every listener is bound; it retries by itself while etcd is away.
    this.registry
      ?.register(bound)
      .catch((err: Error) => this.log.error({ err: err.message }, 'registry: register failed'));
    return bound;
  }

  /** The request path, outermost stage first (docs/architecture.md). */
  private buildPipeline(): RequestPipeline {
    const { config, metrics, log } = this;
    const plugins = this.plugins.stage();
    const stages: Stage[] = [
      new AdmissionStage(config, this.slots, this.playersStore, metrics),
      new DirectivesStage(this.playersStore, metrics, log),
      ...(plugins === null ? [] : [plugins]),
      new ForwardStage(this.backends, metrics, log),
    ];
    this.stageNames = stages.map((s) => s.name);
    const routes = new RouteTable(config.routes, this.plugins.localCmds());
    return new RequestPipeline(routes, stages, new RequestFinisher(this.slots, metrics), this.slots);
  }

  /** What every session reports to: its requests go to the pipeline; its close ends its binding. */
  private sessionHost(pipeline: RequestPipeline): SessionHost {
    const { limits } = this.config;
    return {
      limits: { maxFrameBytes: limits.maxFrameBytes, maxWriteBufferBytes: limits.maxWriteBufferBytes },
      metrics: this.metrics,
      onRequest: (session, type, cmd, seq, body) => pipeline.handle(session, type, cmd, seq, body),
      onClosed: (session) => {
        this.plugins.sessionClosed(session);
        this.sessions.remove(session);
        pipeline.sessionClosed(session);
        if (session.playerId !== null) {
          this.playersStore
            .unbind(session)
            .catch((err: Error) => this.log.error({ err: err.message }, 'unbind failed'));
        }
      },
    };
  }

  private buildTransports(host: SessionHost): void {
    const { listen: at, limits } = this.config;
    const accept = this.sessions.acceptor(host);
    const tls = (name: 'tcp' | 'ws') => this.tls?.for(name) ?? null;
    if (at.tcp !== null) {
      this.transports.push(new TcpTransport(listenAddress(at.tcp, 'listen.tcp'), accept, tls('tcp')));
    }
    if (at.ws !== null) {
      this.transports.push(
        new WsTransport(listenAddress(at.ws, 'listen.ws'), accept, {
          maxFrameBytes: limits.maxFrameBytes,
          tls: tls('ws'),
        }),
      );
    }
  }

  /**
   * SIGHUP: re-reads the listen.tls files, and cluster.link.tls'; every TLS listener (and
   * node link) takes them for its next handshakes, open sessions and links stay. False
   * when no TLS is on, or a file is bad (logged: the old certificate stays).
   */
  reloadTls(): boolean {
    const reloaded: boolean[] = [];
    if (this.tls !== null) reloaded.push(this.tls.reload());
    if (this.config.cluster.link.tls !== null) reloaded.push(this.playersStore.reloadTls());
    return reloaded.length > 0 && reloaded.every(Boolean);
  }

  /**
   * Graceful shutdown (SPEC §10): stop accepting, report not-ready, let requests in
   * flight finish for up to shutdown.drainMs, KICK SERVER_SHUTDOWN, close everything.
   */
  async stop(): Promise<void> {
    if (this.state === 'draining' || this.state === 'stopped') return;
    // The lease goes first (SPEC §11), so backends stop choosing this node before it drains.
    await this.registry?.deregister();
    this.state = 'draining';
    this.log.info({ inFlight: this.slots.total, sessions: this.sessions.size }, 'draining');
    this.sessions.stopAccepting();
    await Promise.all(this.transports.map((t) => t.close()));
    const until = Date.now() + this.config.shutdown.drainMs;
    while (this.slots.total > 0 && Date.now() < until) await sleep(10);
    await this.sessions.kickAll(Status.SERVER_SHUTDOWN, 1_000);
    this.sessions.stop();
    await this.closeListeners();
    await this.plugins.close();
    await this.playersStore.stop();
    // Offline events of the sessions just closed are still on their way to events.target.
    await this.backends.close(1_000);
    await this.registry?.close();
    this.state = 'stopped';
    this.log.info('stopped');
  }

  private async closeListeners(): Promise<void> {
    await Promise.all([
      ...this.transports.map((t) => t.close()),
      this.api.close(),
      this.metricsServer?.close(),
    ]);
  }

  private async listenMetrics(at: Address): Promise<string> {
    this.metricsServer = new MetricsServer(
      at,
      this.metrics,
      httpLimits(this.config.api),
      this.log,
      this.tls?.for('metrics') ?? null,
    );
    return format(await this.metricsServer.listen());
  }

  stats(): Record<string, unknown> {
    const players = this.playersStore.counts();
    return {
      node: this.config.node.id,
      sessions: { connected: this.sessions.connected, authed: this.sessions.authed },
      players: { online: players.online, offline: players.offline },
      offlineMessages: players.offlineMessages,
      requestsInFlight: this.slots.total,
      // Totals since start, for dashboards without Prometheus (the demo page derives rates).
      requests: {
        success: this.metrics.requests.total({ result: 'success' }),
        error: this.metrics.requests.total({ result: 'error' }),
        drop: this.metrics.requests.total({ result: 'drop' }),
      },
      errors: this.metrics.errorTotals(),
      ready: this.ready,
      ...(this.registry === null ? {} : { targets: this.registry.stats() }),
    };
  }
}

function isValidated(c: GatewayConfig | GatewayConfigInput): c is GatewayConfig {
  return Object.isFrozen(c);
}

/** A listener's address from the config, carrying its key for bind errors. */
function listenAddress(text: string, key: string): Address {
  return { ...parseAddress(text)!, key };
}

function format(a: { host: string; port: number }): string {
  return a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
