import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { z } from 'zod';
import type { Address, GatewayConfig } from '../config/schema.js';
import type { GatewayMetrics } from '../metrics/metrics.js';
import type { Engine } from '../players/engine.js';
import { EngineUnavailableError } from '../players/engine-unavailable.js';
import { type BoundAddress, listen } from '../transport/listen.js';
import { ApiError, invalid } from './api-error.js';
import { readBody } from './request-body.js';
import { groupNameProblem } from '../players/names.js';
import { kickBody, membersBody, messageBody, pushBody } from './schemas.js';

/** What the API reads from the rest of the gateway. */
export interface ApiDeps {
  config: GatewayConfig;
  engine: Engine;
  metrics: GatewayMetrics;
  log: Logger;
  ready(): boolean;
  stats(): Record<string, unknown>;
}

type Handler = (req: IncomingMessage, params: string[], url: URL) => Promise<unknown>;
interface Route {
  pattern: RegExp;
  methods: Partial<Record<string, Handler>>;
  open?: boolean;
}

/** Results per player are listed only for pushes to at most this many players. */
const MAX_RESULTS_LISTED = 100;

/** The push and admin API of SPEC §5, plus /healthz, /readyz and /metrics. */
export class ApiServer {
  private readonly server: Server;
  private readonly routes: Route[];
  private readonly tokenDigest: Buffer | null;

  constructor(
    private readonly address: Address,
    private readonly deps: ApiDeps,
  ) {
    const token = deps.config.api.token;
    this.tokenDigest = token === null ? null : sha256(`Bearer ${token}`);
    this.routes = [
      { pattern: /^\/healthz$/, open: true, methods: { GET: async () => ({ status: 'ok' }) } },
      { pattern: /^\/readyz$/, open: true, methods: { GET: async () => this.readiness() } },
      { pattern: /^\/metrics$/, methods: { GET: async () => new MetricsText(await deps.metrics.text()) } },
      { pattern: /^\/v1\/push$/, methods: { POST: (req, _p, url) => this.push(req, url) } },
      { pattern: /^\/v1\/broadcast$/, methods: { POST: (req) => this.broadcast(req) } },
      { pattern: /^\/v1\/groups\/([^/]+)\/push$/, methods: { POST: (req, p) => this.groupPush(req, p[0]) } },
      {
        pattern: /^\/v1\/groups\/([^/]+)\/members$/,
        methods: {
          PUT: (req, p) => this.members(req, p[0], 'join'),
          DELETE: (req, p) => this.members(req, p[0], 'leave'),
        },
      },
      { pattern: /^\/v1\/kick$/, methods: { POST: (req) => this.kick(req) } },
      { pattern: /^\/v1\/players\/([^/]+)$/, methods: { GET: (_req, p) => this.player(p[0]) } },
      { pattern: /^\/v1\/stats$/, methods: { GET: async () => deps.stats() } },
    ];
    this.server = createServer((req, res) => {
      this.dispatch(req, res).catch((err: Error) => {
        deps.log.error({ err: err.message, url: req.url }, 'api handler failed');
        send(res, 500, { error: 'internal', message: 'internal error' });
      });
    });
    this.server.keepAliveTimeout = 65_000;
  }

  listen(): Promise<BoundAddress> {
    return listen(this.server, this.address, 511);
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      if (!this.server.listening) return resolve();
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  private async dispatch(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://gateway');
    const route = this.routes.find((r) => r.pattern.test(url.pathname));
    try {
      if (route === undefined) throw new ApiError(404, 'not_found', `no route ${url.pathname}`);
      const handler = route.methods[req.method ?? 'GET'];
      if (handler === undefined) {
        res.setHeader('allow', Object.keys(route.methods).join(', '));
        throw new ApiError(405, 'method_not_allowed', `${req.method} is not allowed on ${url.pathname}`);
      }
      if (!route.open) this.authorize(req);
      const params = (route.pattern.exec(url.pathname) ?? []).slice(1).map(decodeSegment);
      const out = await handler(req, params, url);
      if (out instanceof MetricsText) {
        res.writeHead(200, { 'content-type': this.deps.metrics.registry.contentType });
        res.end(out.text);
      } else if (out instanceof Unready) send(res, 503, out.body);
      else send(res, 200, out);
    } catch (thrown) {
      // Shared state out of reach (Redis down): the request may succeed later, so 503.
      const err =
        thrown instanceof EngineUnavailableError
          ? new ApiError(503, 'engine_unavailable', `${thrown.message}; retry later`)
          : thrown;
      if (!(err instanceof ApiError)) throw err;
      if (err.httpStatus === 413) res.setHeader('connection', 'close');
      send(res, err.httpStatus, { error: err.code, message: err.message });
      // A refused upload is not read further; the socket goes once the answer is out.
      if (err.httpStatus === 413) res.on('finish', () => req.socket.destroy());
    }
  }

  /** Bearer token check in constant time (digests have equal length whatever is sent). */
  private authorize(req: IncomingMessage): void {
    if (this.tokenDigest === null) return;
    const given = sha256(req.headers.authorization ?? '');
    if (!timingSafeEqual(given, this.tokenDigest)) {
      throw new ApiError(401, 'unauthorized', 'missing or wrong "authorization: Bearer <api.token>"');
    }
  }

  private readiness(): unknown {
    return this.deps.ready() ? { status: 'ready' } : new Unready({ status: 'not_ready' });
  }

  private async json<T extends z.ZodType>(req: IncomingMessage, schema: T): Promise<z.output<T>> {
    const body = await readBody(req, this.deps.config.api.maxBodyBytes);
    let parsed: unknown;
    try {
      parsed = JSON.parse(body.toString('utf8'));
    } catch {
      throw invalid('body is not valid JSON');
    }
    const result = schema.safeParse(parsed);
    if (!result.success) {
      const issue = result.error.issues[0];
      const where = issue.path.length ? `${issue.path.join('.')}: ` : '';
      const message =
        issue.code === 'unrecognized_keys'
          ? `unknown field(s) ${issue.keys.join(', ')}`
          : `${where}${issue.message}`;
      throw invalid(message);
    }
    return result.data;
  }

  private async push(req: IncomingMessage, url: URL): Promise<unknown> {
    let players: string[];
    let cmd: number;
    let data: Buffer;
    let offline = true;
    if ((req.headers['content-type'] ?? '').startsWith('application/octet-stream')) {
      players = (url.searchParams.get('players') ?? '').split(',').filter((p) => p.length > 0);
      if (players.length === 0) throw invalid('query parameter players must list at least one player');
      const cmdText = url.searchParams.get('cmd');
      cmd = Number(cmdText);
      if (cmdText === null || !/^\d+$/.test(cmdText) || cmd > 0xffffffff) {
        throw invalid('query parameter cmd must be a u32');
      }
      const off = url.searchParams.get('offline');
      if (off !== null && off !== 'true' && off !== 'false')
        throw invalid('query parameter offline must be true or false');
      offline = off !== 'false';
      data = await readBody(req, this.deps.config.api.maxBodyBytes);
    } else {
      const body = await this.json(req, pushBody);
      ({ players, cmd, offline } = body);
      data = Buffer.from(body.data, 'base64');
    }
    const results = await this.deps.engine.push(players, cmd, data, offline);
    const answer: Record<string, unknown> = { delivered: 0, cached: 0, dropped: 0 };
    for (const r of results) (answer[r] as number)++;
    if (players.length <= MAX_RESULTS_LISTED) {
      answer.results = Object.fromEntries(players.map((p, i) => [p, results[i]]));
    }
    return answer;
  }

  private async broadcast(req: IncomingMessage): Promise<unknown> {
    const { cmd, data } = await this.json(req, messageBody);
    return { delivered: await this.deps.engine.broadcast(cmd, Buffer.from(data, 'base64')) };
  }

  private async groupPush(req: IncomingMessage, group: string): Promise<unknown> {
    checkGroup(group);
    const { cmd, data } = await this.json(req, messageBody);
    return { delivered: await this.deps.engine.groupPush(group, cmd, Buffer.from(data, 'base64')) };
  }

  private async members(req: IncomingMessage, group: string, op: 'join' | 'leave'): Promise<unknown> {
    checkGroup(group);
    const { players } = await this.json(req, membersBody);
    return { members: await this.deps.engine[op](group, players) };
  }

  private async kick(req: IncomingMessage): Promise<unknown> {
    const { players, reason } = await this.json(req, kickBody);
    return { kicked: await this.deps.engine.kick(players, reason) };
  }

  private async player(id: string): Promise<unknown> {
    const info = await this.deps.engine.player(id);
    if (info === null) throw new ApiError(404, 'not_found', `player ${id} is not known to this gateway`);
    return info;
  }
}

class MetricsText {
  constructor(readonly text: string) {}
}

class Unready {
  constructor(readonly body: unknown) {}
}

function checkGroup(group: string): void {
  const problem = groupNameProblem(group);
  if (problem !== undefined) throw invalid(problem);
}

function decodeSegment(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    throw invalid(`bad percent-encoding in "${s}"`);
  }
}

function sha256(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}
