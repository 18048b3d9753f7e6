import { collectDefaultMetrics, Gauge, type Metric, Registry } from 'prom-client';
import type { ErrorType } from '../protocol/status.js';
import { VERSION } from '../version.js';
import { type CounterChild, CounterFamily, type HistogramChild, HistogramFamily } from './families.js';

/** The `cmd` label of requests for cmds that no route or plugin covers. */
export const UNROUTED_LABEL = 'unrouted';
const UNROUTED = -1;
/** Distinct player ids that get series of their own in gateway_requests_total. */
export const MAX_LABELLED_PLAYERS = 2_000;
const OVERFLOW_LABEL = 'overflow';
const cmdLabel = (cmd: number): string => (cmd === UNROUTED ? UNROUTED_LABEL : String(cmd));

export type RequestResult = 'success' | 'error' | 'drop';
export type PushKind = 'direct' | 'broadcast' | 'group';
/** A push's outcome for one player: what the push API answers and gateway_push_total{result} counts. */
export type PushResult = 'delivered' | 'cached' | 'dropped';

/** The cached children of one (cmd, route_target) pair, so a request touches no label map. */
export interface RequestCell {
  readonly success: CounterChild;
  readonly error: CounterChild;
  readonly drop: CounterChild;
  readonly duration: HistogramChild;
}

const NO_SOURCES: GaugeSources = {
  sessions: () => ({ connected: 0, authed: 0 }),
  inFlight: () => 0,
  players: () => ({ online: 0, offline: 0 }),
  offlineMessages: () => 0,
  pools: () => [],
};

/** Gauges read at scrape time from the parts that own the numbers. */
export interface GaugeSources {
  sessions(): { connected: number; authed: number };
  inFlight(): number;
  players(): { online: number; offline: number };
  offlineMessages(): number;
  pools(): Array<{ target: string; pending: number; connected: number }>;
}

/**
 * Every metric of the gateway, defined in this one file (SPEC.md §8; names exactly as
 * the seed's design gives them). Each gateway instance owns its registry, so several
 * gateways can live in one process (tests) without sharing counters.
 */
export class GatewayMetrics {
  readonly registry = new Registry();

  readonly requests = new CounterFamily(
    'gateway_requests_total',
    'Client requests by cmd, player (suspects only by default), route target and result.',
    ['cmd', 'player_id', 'route_target', 'result'],
  );
  readonly requestDuration = new HistogramFamily(
    'gateway_request_duration_seconds',
    'Frame in to response written, per cmd and route target.',
    ['cmd', 'route_target'],
  );
  readonly errors = new CounterFamily('gateway_errors_total', 'Gateway errors by type.', ['type']);
  readonly backendErrors = new CounterFamily(
    'gateway_backend_errors_total',
    'Failed backend calls by target, HTTP status ("0" without an answer) and error type.',
    ['target_service', 'status_code', 'error_type'],
  );
  readonly backendDuration = new HistogramFamily(
    'gateway_backend_duration_seconds',
    'Backend call time, request sent to response body read.',
    ['target_service'],
  );
  readonly push = new CounterFamily('gateway_push_total', 'Push outcomes per recipient.', ['kind', 'result']);
  readonly offlineDropped = new CounterFamily(
    'gateway_offline_dropped_total',
    'Offline messages dropped: overflow (queue bound), expired (ttl), forgotten (player swept).',
    ['reason'],
  );
  readonly kicks = new CounterFamily('gateway_kicks_total', 'Sessions kicked, by reason.', ['reason']);
  readonly connectionsRejected = new CounterFamily(
    'gateway_connections_rejected_total',
    'Connections closed at accept.',
    ['reason'],
  );
  /** The API and metrics listeners (src/api/: the API and listen.metrics). */
  readonly apiRejected = new CounterFamily(
    'gateway_api_rejected_total',
    'API and metrics listener calls refused, by reason: unauthorized, payload_too_large, invalid_request, not_found, method_not_allowed, pipelined, max_connections, busy.',
    ['reason'],
  );
  /** TLS listeners (src/transport/listener-tls.ts): connections closed before their handshake finished. */
  readonly tlsHandshakeErrors = new CounterFamily(
    'gateway_tls_handshake_errors_total',
    'TLS connections closed before their handshake finished, by reason: timeout (listen.tls.handshakeTimeoutMs), error (no TLS, an old version, no or a bad client certificate, a reset).',
    ['reason'],
  );
  readonly events = new CounterFamily('gateway_events_total', 'Lifecycle events posted to events.target.', [
    'event',
    'result',
  ]);
  private readonly heartbeatTimeoutsFamily = new CounterFamily(
    'gateway_heartbeat_timeouts_total',
    'Sessions closed for sending nothing within heartbeat.timeoutMs.',
    [],
  );
  private readonly bytesInFamily = new CounterFamily(
    'gateway_bytes_in_total',
    'Bytes received from clients, frame headers included.',
    [],
  );
  private readonly bytesOutFamily = new CounterFamily(
    'gateway_bytes_out_total',
    'Bytes sent to clients, frame headers included.',
    [],
  );
  /** Cluster engine (src/players/redis/); all stay at zero with the local engine. */
  readonly clusterMessages = new CounterFamily(
    'gateway_cluster_messages_total',
    'Messages between gateway nodes over Redis pub/sub, by direction (in, out) and kind (push, direct, kick, group, broadcast, ack).',
    ['direction', 'kind'],
  );
  readonly clusterLinkMessages = new CounterFamily(
    'gateway_cluster_link_messages_total',
    'Messages between gateway nodes over node links (cluster.link), by direction (in, out): DIRECT pushes one way, their results the other.',
    ['direction'],
  );
  readonly clusterRedisErrors = new CounterFamily(
    'gateway_cluster_redis_errors_total',
    'Redis commands of the cluster engine that failed, timed out or were refused while disconnected, by operation.',
    ['op'],
  );
  readonly clusterAckTimeouts = new CounterFamily(
    'gateway_cluster_ack_timeouts_total',
    'Operations routed to another node that got no acknowledgement within cluster.redis.commandTimeoutMs, by kind.',
    ['kind'],
  );
  readonly clusterPushDuration = new HistogramFamily(
    'gateway_cluster_push_duration_seconds',
    'A push routed to another node: accepted to acknowledged by the holding node.',
    [],
  );
  readonly clusterConnected: Gauge;
  /** Service registry (src/registry/): registryUp stays 0 while registry.etcd is off. */
  private readonly registryUp: Gauge;
  private readonly targetInstances: Gauge;
  readonly heartbeatTimeouts = this.heartbeatTimeoutsFamily.child();
  readonly bytesIn = this.bytesInFamily.child();
  readonly bytesOut = this.bytesOutFamily.child();

  private readonly cells = new Map<number, Map<string, RequestCell>>();
  private readonly errorChildren = new Map<ErrorType, CounterChild>();
  private readonly labelledPlayers = new Set<string>();

  /** Where the gauges read their numbers at scrape time; zeros until readGaugesFrom(). */
  private gaugeSources: GaugeSources = NO_SOURCES;

  constructor(options: { defaultMetrics: boolean } = { defaultMetrics: true }) {
    const r = this.registry;
    const sources = (): GaugeSources => this.gaugeSources;
    for (const family of [
      this.requests,
      this.requestDuration,
      this.errors,
      this.backendErrors,
      this.backendDuration,
      this.push,
      this.offlineDropped,
      this.kicks,
      this.connectionsRejected,
      this.apiRejected,
      this.tlsHandshakeErrors,
      this.events,
      this.heartbeatTimeoutsFamily,
      this.bytesInFamily,
      this.bytesOutFamily,
      this.clusterMessages,
      this.clusterLinkMessages,
      this.clusterRedisErrors,
      this.clusterAckTimeouts,
      this.clusterPushDuration,
    ]) {
      r.registerMetric(family as unknown as Metric);
    }

    new Gauge({
      name: 'gateway_sessions_current',
      help: 'Open sessions: connected (not bound to a player) and authed.',
      labelNames: ['status'],
      registers: [r],
      collect() {
        const s = sources().sessions();
        this.set({ status: 'connected' }, s.connected);
        this.set({ status: 'authed' }, s.authed);
      },
    });
    new Gauge({
      name: 'gateway_requests_in_flight',
      help: 'Requests received and not yet answered.',
      registers: [r],
      collect() {
        this.set(sources().inFlight());
      },
    });
    new Gauge({
      name: 'gateway_players',
      help: 'Players known to this node: online (bound to a session) and offline (retained).',
      labelNames: ['status'],
      registers: [r],
      collect() {
        const p = sources().players();
        this.set({ status: 'online' }, p.online);
        this.set({ status: 'offline' }, p.offline);
      },
    });
    new Gauge({
      name: 'gateway_offline_messages',
      help: 'Messages waiting in offline queues.',
      registers: [r],
      collect() {
        this.set(sources().offlineMessages());
      },
    });
    const pending = new Gauge({
      name: 'gateway_backend_pool_pending',
      help: 'Requests waiting for a free backend connection, per target.',
      labelNames: ['target_service'],
      registers: [r],
    });
    new Gauge({
      name: 'gateway_backend_pool_connected',
      help: 'Open backend connections, per target.',
      labelNames: ['target_service'],
      registers: [r],
      collect() {
        for (const p of sources().pools()) {
          this.set({ target_service: p.target }, p.connected);
          pending.set({ target_service: p.target }, p.pending);
        }
      },
    });
    this.clusterConnected = new Gauge({
      name: 'gateway_cluster_redis_connected',
      help: '1 while the cluster engine reaches Redis and its node is registered (always 1 with the local engine).',
      registers: [r],
      // Summed over --workers it would count workers; the lowest says whether all are connected.
      aggregator: 'min',
    });
    this.clusterConnected.set(1);
    this.registryUp = new Gauge({
      name: 'gateway_registry_up',
      help: "1 while this gateway's record is in the etcd service registry, else 0.",
      registers: [r],
      // As for Redis: under --workers the lowest says whether every worker is registered.
      aggregator: 'min',
    });
    this.targetInstances = new Gauge({
      name: 'gateway_target_instances',
      help: 'Instances of a discovered target (targets.<name>.discover) known from etcd.',
      labelNames: ['target'],
      registers: [r],
      aggregator: 'min',
    });
    new Gauge({
      name: 'gateway_build_info',
      help: 'Always 1; labels carry the gateway and Node.js versions.',
      labelNames: ['version', 'node_version'],
      registers: [r],
      aggregator: 'first',
    }).set({ version: VERSION, node_version: process.version }, 1);

    if (options.defaultMetrics) collectDefaultMetrics({ register: r });
  }

  /** Children for one (cmd, target) pair, created on first use and kept. */
  /**
   * Names the parts the gauges read (sessions, requests in flight, players, pools). Called
   * once by the composition root after it built them, so the metrics can be built first.
   */
  readGaugesFrom(sources: GaugeSources): void {
    this.gaugeSources = sources;
  }

  requestCell(cmd: number, target: string): RequestCell {
    // A cmd no route or plugin covers is the client's choice of any u32: one shared
    // series for all of them, so a client cannot mint series by sending random cmds.
    if (target === '') cmd = UNROUTED;
    let byTarget = this.cells.get(cmd);
    if (byTarget === undefined) {
      byTarget = new Map();
      this.cells.set(cmd, byTarget);
    }
    let cell = byTarget.get(target);
    if (cell === undefined) {
      const c = cmdLabel(cmd);
      cell = {
        success: this.requests.child(c, '', target, 'success'),
        error: this.requests.child(c, '', target, 'error'),
        drop: this.requests.child(c, '', target, 'drop'),
        duration: this.requestDuration.child(c, target),
      };
      byTarget.set(target, cell);
    }
    return cell;
  }

  /**
   * Counts a request whose player_id label is not empty (suspects, or every player in
   * `all` mode). At most MAX_LABELLED_PLAYERS distinct ids get series of their own; later
   * ones count under player_id="overflow", with their cmd, route_target and result kept.
   */
  countPlayerRequest(cmd: number, playerId: string, target: string, result: RequestResult): void {
    let label = playerId;
    if (!this.labelledPlayers.has(playerId)) {
      if (this.labelledPlayers.size < MAX_LABELLED_PLAYERS) this.labelledPlayers.add(playerId);
      else label = OVERFLOW_LABEL;
    }
    this.requests.child(target === '' ? UNROUTED_LABEL : String(cmd), label, target, result).inc();
  }

  error(type: ErrorType): void {
    let child = this.errorChildren.get(type);
    if (child === undefined) {
      child = this.errors.child(type);
      this.errorChildren.set(type, child);
    }
    child.value++;
  }

  /** gateway_errors_total by type, since start (GET /v1/stats `errors`); types never counted are absent. */
  errorTotals(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const c of this.errors.all()) out[c.labels.type] = (out[c.labels.type] ?? 0) + c.value;
    return out;
  }

  /** SelfRegistration's onChange. */
  setRegistryUp(up: boolean): void {
    this.registryUp.set(up ? 1 : 0);
  }

  /** A discovered target's ServiceWatch onChange: the number of instances it now has. */
  setTargetInstances(target: string, count: number): void {
    this.targetInstances.set({ target }, count);
  }

  async text(): Promise<string> {
    return this.registry.metrics();
  }
}
