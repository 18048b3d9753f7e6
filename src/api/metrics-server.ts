import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Address } from '../config/schema.js';
import type { Logger } from '../logger.js';
import { GatewayMetrics } from '../metrics/metrics.js';
import { type BoundAddress, listen } from '../transport/listen.js';
import type { ListenerTls } from '../transport/listener-tls.js';
import { closeServer, createLimitedServer, type HttpLimits } from './http-limits.js';

/**
 * Scrapes whose answer is being rendered or written at once, over every listener of a
 * gateway; more get 503 at once. With connections answered one request at a time this
 * bounds the copies of the text held for clients that do not read.
 */
export const MAX_CONCURRENT_SCRAPES = 8;

/** What a scrape renders, and where its refusals are counted. */
export interface ScrapeSource {
  text(): Promise<string>;
  readonly contentType: string;
  rejected(reason: 'busy' | 'pipelined' | 'max_connections'): void;
}

/**
 * Answers `GET /metrics`: concurrent scrapes share one rendering of the text (rendering
 * walks every series on the event loop the players share), and at most
 * MAX_CONCURRENT_SCRAPES are in progress.
 */
export class Scrapes {
  private rendering: Promise<string> | null = null;
  private active = 0;

  constructor(private readonly source: ScrapeSource) {}

  /** Counts a connection the listener turned away, where this source counts refusals. */
  refused(reason: 'pipelined' | 'max_connections'): void {
    this.source.rejected(reason);
  }

  async serve(res: ServerResponse): Promise<void> {
    if (this.active >= MAX_CONCURRENT_SCRAPES) {
      this.source.rejected('busy');
      const body = JSON.stringify({ error: 'busy', message: 'too many scrapes in progress; retry later' });
      res.writeHead(503, { 'content-type': 'application/json', 'retry-after': '1' }).end(body);
      return;
    }
    this.active++;
    let released = false;
    const release = (): void => {
      if (released) return;
      released = true;
      this.active--;
    };
    res.once('finish', release);
    res.once('close', release);
    try {
      const text = await this.text();
      res.writeHead(200, { 'content-type': this.source.contentType }).end(text);
    } catch (err) {
      release();
      throw err;
    }
  }

  /** The text of the rendering in progress, or a new one; never a stale one. */
  private text(): Promise<string> {
    this.rendering ??= this.source.text().finally(() => {
      this.rendering = null;
    });
    return this.rendering;
  }
}

const shared = new WeakMap<GatewayMetrics, Scrapes>();

/** The one Scrapes of a gateway's metrics, shared by the API and `listen.metrics`. */
export function scrapesOf(metrics: GatewayMetrics): Scrapes {
  let s = shared.get(metrics);
  if (s === undefined) {
    s = new Scrapes({
      text: () => metrics.text(),
      contentType: metrics.registry.contentType,
      rejected: (reason) => metrics.apiRejected.child(reason).inc(),
    });
    shared.set(metrics, s);
  }
  return s;
}

/**
 * `listen.metrics`: `/metrics` only, no token, the same limits as the API listener. Serves
 * a gateway's metrics, or any other source (the `--workers` primary's summed registry).
 */
export class MetricsServer {
  private readonly server: Server;

  constructor(
    private readonly address: Address,
    from: GatewayMetrics | ScrapeSource,
    limits: HttpLimits,
    log: Logger,
    tls: ListenerTls | null = null,
  ) {
    const scrapes = from instanceof GatewayMetrics ? scrapesOf(from) : new Scrapes(from);
    this.server = createLimitedServer(
      limits,
      async (req, res) => {
        try {
          await route(req, res, scrapes);
        } catch (err) {
          log.error({ err: (err as Error).message }, 'metrics scrape failed');
          if (!res.headersSent) res.writeHead(500).end();
          else res.destroy();
        }
      },
      (reason) => scrapes.refused(reason),
      tls,
    );
  }

  listen(): Promise<BoundAddress> {
    return listen(this.server, this.address, 511);
  }

  close(): Promise<void> {
    return closeServer(this.server);
  }
}

async function route(req: IncomingMessage, res: ServerResponse, scrapes: Scrapes): Promise<void> {
  const path = (req.url ?? '').split('?')[0];
  if (path !== '/metrics') {
    res.writeHead(404).end();
    return;
  }
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, { allow: 'GET, HEAD' }).end();
    return;
  }
  await scrapes.serve(res);
}
