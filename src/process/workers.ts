import cluster, { type Worker } from 'node:cluster';
import { AggregatorRegistry, type Registry } from 'prom-client';
import { httpLimits } from '../api/http-limits.js';
import { MetricsServer, type ScrapeSource } from '../api/metrics-server.js';
import { ConfigError } from '../config/load.js';
import { type GatewayConfig, parseAddress } from '../config/schema.js';
import type { Logger } from '../logger.js';

/** A worker that dies on its own is forked again after this long (not in a tight loop). */
const RESPAWN_DELAY_MS = 1_000;
/** A worker that has not exited this long after SIGTERM is killed. */
const STOP_GRACE_EXTRA_MS = 5_000;

/** What the primary sends a worker over IPC to stop it gracefully. */
export const STOP_MESSAGE = 'gateway:stop';

/** The node id of worker `index` (0-based) of a node: `<node.id>-w<index>`. */
export function workerNodeId(nodeId: string, index: number): string {
  return `${nodeId}-w${index}`;
}

/**
 * cluster.link.listen of worker `index`: each worker is a node with a link listener of its
 * own, on port + index (port 0: each picks a free one).
 */
export function workerLinkListen(listen: string, index: number): string {
  const { host, port } = parseAddress(listen)!;
  const shown = host.includes(':') ? `[${host}]` : host;
  return `${shown}:${port === 0 ? 0 : port + index}`;
}

/**
 * Parses `--workers N`. N > 1 needs `cluster.engine: redis`: each worker is a node with
 * its own sessions, and only Redis lets them share players, queues and groups (with the
 * local engine a push to a worker would miss the players of its siblings).
 */
export function checkWorkers(text: string, config: GatewayConfig): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < 1 || n > 256) {
    throw new ConfigError(`--workers: expected a whole number from 1 to 256, got "${text}"`);
  }
  if (n > 1 && config.cluster.engine !== 'redis') {
    throw new ConfigError(
      `--workers ${n}: several workers need cluster.engine: redis (they share players through Redis); ` +
        `cluster.engine is "${config.cluster.engine}"`,
    );
  }
  const { listen } = config.cluster.link;
  if (listen !== null && parseAddress(listen)!.port + n - 1 > 65_535) {
    throw new ConfigError(
      `--workers ${n}: cluster.link.listen ${listen} would need ports past 65535 (port + worker index)`,
    );
  }
  return n;
}

/**
 * The primary process of `--workers N`: forks N workers that run the gateway and share
 * its listeners (node:cluster hands them the accepted connections). Each worker gets
 * GATEWAY_NODE_ID `<node.id>-w<i>` (and a node link listener of its own, port + i). A
 * worker that dies is forked again. On SIGTERM/SIGINT the primary asks every worker to
 * stop (over IPC, so a worker that also got the terminal's SIGINT stops once), and exits
 * 0 once they all have.
 */
export function runPrimary(count: number, config: GatewayConfig, log: Logger): Promise<number> {
  const workers = new Map<Worker, number>();
  let stopping = false;

  const fork = (index: number): void => {
    const worker = cluster.fork({
      GATEWAY_NODE_ID: workerNodeId(config.node.id, index),
      GATEWAY_WORKER_INDEX: String(index),
      // listen.metrics belongs to the primary, which serves every worker's metrics summed.
      GATEWAY_LISTEN_METRICS: 'off',
      ...(config.cluster.link.listen === null
        ? {}
        : { GATEWAY_CLUSTER_LINK_LISTEN: workerLinkListen(config.cluster.link.listen, index) }),
    });
    workers.set(worker, index);
    worker.on('exit', (code, signal) => {
      workers.delete(worker);
      if (stopping) return;
      log.error({ worker: index, code, signal }, 'worker exited; forking it again');
      // Not unref'd: if every worker died at once, this timer is what keeps the primary up.
      setTimeout(() => {
        if (!stopping) fork(index);
      }, RESPAWN_DELAY_MS);
    });
  };

  for (let i = 0; i < count; i++) fork(i);
  log.info({ node: config.node.id, workers: count, pid: process.pid }, 'primary started workers');
  const metricsServer =
    config.listen.metrics === null
      ? null
      : serveClusterMetrics(config, log).catch((err: Error) => {
          // The workers serve on; only the summed metrics are missing.
          log.error({ err: err.message }, "the primary cannot serve the workers' metrics");
          return null;
        });

  return new Promise((resolve) => {
    const onSignal = (signal: NodeJS.Signals): void => {
      if (stopping) return;
      stopping = true;
      log.info({ signal, workers: workers.size }, 'stopping workers');
      for (const w of workers.keys()) if (w.isConnected()) w.send(STOP_MESSAGE);
      const killTimer = setTimeout(() => {
        for (const w of workers.keys()) w.process.kill('SIGKILL');
      }, config.shutdown.drainMs + STOP_GRACE_EXTRA_MS);
      killTimer.unref();
      const check = setInterval(() => {
        if (workers.size > 0) return;
        clearInterval(check);
        clearTimeout(killTimer);
        metricsServer?.then((server) => server?.close());
        resolve(0);
      }, 20);
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
    // Reloads (API tokens, TLS certificates) are each worker's: pass the signal on.
    process.on('SIGHUP', () => {
      log.info({ workers: workers.size }, 'SIGHUP: passing it to every worker');
      for (const w of workers.keys()) w.process.kill('SIGHUP');
    });
  });
}

/**
 * The primary's `listen.metrics`: every worker's registry, fetched over IPC and summed
 * (prom-client's AggregatorRegistry), so one scrape sees the whole host. Without it a
 * scrape of the shared API port reaches one worker at random. Served with the limits of
 * every gateway listener (one request at a time per connection, timeouts, a cap).
 */
async function serveClusterMetrics(config: GatewayConfig, log: Logger): Promise<MetricsServer> {
  const aggregator = new AggregatorRegistry();
  const source: ScrapeSource = {
    text: () => aggregator.clusterMetrics(),
    contentType: aggregator.contentType,
    rejected: (reason) => log.debug({ reason }, 'primary metrics listener refused a scrape'),
  };
  const at = { ...parseAddress(config.listen.metrics!)!, key: 'listen.metrics' };
  const server = new MetricsServer(at, source, httpLimits(config.api), log);
  const bound = await server.listen();
  log.info({ metrics: `${bound.host}:${bound.port}` }, "primary serving the workers' metrics, summed");
  return server;
}

/** In a worker: answer the primary's requests for metrics with this gateway's registry. */
export function offerMetricsToPrimary(registry: Registry): void {
  AggregatorRegistry.setRegistries([registry]);
  // Constructing one installs prom-client's IPC listener in this worker.
  new AggregatorRegistry();
}
