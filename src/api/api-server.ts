import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { z } from 'zod';
import { type Address, apiTokens, type GatewayConfig } from '../config/schema.js';
import type { GatewayMetrics } from '../metrics/metrics.js';
import type { PushResult } from '../players/engine.js';
import { EngineUnavailableError } from '../players/engine-unavailable.js';
import { groupNameProblem, playerIdProblem } from '../players/names.js';
import type { PlayerService } from '../players/player-service.js';
import { type BoundAddress, listen } from '../transport/listen.js';
import type { ListenerTls } from '../transport/listener-tls.js';
import { ApiError, invalid } from './api-error.js';
import { serveConsoleFile } from './console-page.js';
import {
  closeAfterAnswer,
  closeServer,
  createLimitedServer,
  type HttpLimits,
  httpLimits,
} from './http-limits.js';
import { type Scrapes, scrapesOf } from './metrics-server.js';
import { openApiDocument } from './openapi.js';
import { ClientAbortedError, readBody } from './request-body.js';
import { kickBody, membersBody, messageBody, plainPushBody, pushBody } from './schemas.js';
import { cmdStats, nodeList, type StatsSources, targetStats } from './stats-routes.js';

/** What the API reads from the rest of the gateway. */
export interface ApiDeps {
  config: GatewayConfig;
  engine: PlayerService;
  metrics: GatewayMetrics;
  log: Logger;
  ready(): boolean;
  stats(): Record<string, unknown>;
  /** The backend targets, for GET /v1/stats/targets; absent: none. */
  targets?: StatsSources['targets'];
  /** The cluster's nodes, for GET /v1/nodes; absent: this node only. */
  nodes?: StatsSources['nodes'];
  /** https (listen.tls); null or absent: http. */
  tls?: ListenerTls | null;
}

type Handler = (
  req: IncomingMessage,
  params: string[],
  url: RequestTarget,
  res: ServerResponse,
) => Promise<unknown>;
interface Route {
  pattern: RegExp;
  methods: Partial<Record<string, Handler>>;
  open?: boolean;
}

/** Results per player are listed only for pushes to at most this many players. */
const MAX_RESULTS_LISTED = 100;
/** Players one push may name (the JSON form's bound, also for the query form). */
const MAX_PLAYERS = 100_000;

/** A handler's result when it has written the answer itself (the metrics text). */
const ANSWERED = Symbol('answered');

/** Refusals after which the request body is not read: the connection closes (lingering). */
const CLOSES_CONNECTION = new Set([401, 413]);

/** The push and admin API of SPEC §5, plus /healthz, /readyz and /metrics. */
export class ApiServer {
  private readonly server: Server;
  private readonly routes: Route[];
  private readonly limits: HttpLimits;
  private readonly scrapes: Scrapes;
  /** sha256 of every accepted token; empty: no token needed (loopback only, see config). */
  private tokenDigests: Buffer[];

  constructor(
    private readonly address: Address,
    private readonly deps: ApiDeps,
  ) {
    this.tokenDigests = digests(apiTokens(deps.config.api));
    this.limits = httpLimits(deps.config.api);
    this.scrapes = scrapesOf(deps.metrics);
    this.routes = [
      { pattern: /^\/healthz$/, open: true, methods: { GET: async () => ({ status: 'ok' }) } },
      { pattern: /^\/readyz$/, open: true, methods: { GET: async () => this.readiness() } },
      {
        pattern: /^\/metrics$/,
        methods: {
          GET: async (_req, _p, _u, res) => {
            await this.scrapes.serve(res);
            return ANSWERED;
          },
        },
      },
      { pattern: /^\/v1\/push$/, methods: { POST: (req, _p, url) => this.push(req, url) } },
      { pattern: /^\/v1\/broadcast$/, methods: { POST: (req) => this.broadcast(req) } },
      { pattern: /^\/v1\/groups\/([^/]+)\/push$/, methods: { POST: (req, p) => this.groupPush(req, p[0]) } },
      {
        pattern: /^\/v1\/groups\/([^/]+)\/members$/,
        methods: {
          GET: (_req, p) => this.listMembers(p[0]),
          PUT: (req, p) => this.members(req, p[0], 'join'),
          DELETE: (req, p) => this.members(req, p[0], 'leave'),
        },
      },
      { pattern: /^\/v1\/kick$/, methods: { POST: (req) => this.kick(req) } },
      { pattern: /^\/v1\/players\/([^/]+)$/, methods: { GET: (_req, p) => this.player(p[0]) } },
      { pattern: /^\/v1\/stats$/, methods: { GET: async () => deps.stats() } },
      { pattern: /^\/v1\/stats\/cmds$/, methods: { GET: async () => cmdStats(deps.metrics) } },
      { pattern: /^\/v1\/stats\/targets$/, methods: { GET: async () => targetStats(deps) } },
      { pattern: /^\/v1\/nodes$/, methods: { GET: () => nodeList(deps) } },
      { pattern: /^\/console\/?$/, open: true, methods: { GET: (_q, _p, _u, res) => this.console(res) } },
      {
        pattern: /^\/console\/([^/]+)$/,
        open: true,
        methods: { GET: (_q, p, _u, res) => this.console(res, p[0]) },
      },
      { pattern: /^\/v1\/openapi\.json$/, methods: { GET: async () => openApiDocument() } },
    ];
    this.server = createLimitedServer(
      this.limits,
      (req, res) =>
        this.dispatch(req, res).catch((err: Error) => {
          if (err instanceof ClientAbortedError || req.destroyed) {
            // The client went away mid-request: nothing to answer, nothing wrong here.
            deps.log.debug({ err: err.message, url: req.url }, 'api client aborted');
            return;
          }
          deps.log.error({ err: err.message, url: req.url }, 'api handler failed');
          if (!res.headersSent) send(res, 500, { error: 'internal', message: 'internal error' });
          else res.destroy();
        }),
      (reason) => deps.metrics.apiRejected.child(reason).inc(),
      deps.tls ?? null,
    );
  }

  /**
   * Replaces the accepted bearer tokens (SIGHUP: `api.tokens` rotation). Requests already
   * authorized are not affected. An empty list is refused when the listener is not on a
   * loopback address: the config check said the same at start.
   */
  setTokens(tokens: readonly string[]): void {
    this.tokenDigests = digests(tokens);
  }

  listen(): Promise<BoundAddress> {
    return listen(this.server, this.address, 511);
  }

  close(): Promise<void> {
    return closeServer(this.server);
  }

  private async dispatch(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      const url = requestTarget(req.url);
      const route = this.routes.find((r) => r.pattern.test(url.pathname));
      // The token first: without it, 404 and 405 would list the routes to anyone.
      if (route === undefined || !route.open) this.authorize(req);
      if (route === undefined) throw new ApiError(404, 'not_found', `no route ${url.pathname}`);
      // HEAD is GET without the body (Node leaves the body out of a HEAD answer).
      const method = req.method === 'HEAD' ? 'GET' : (req.method ?? 'GET');
      const handler = route.methods[method];
      if (handler === undefined) {
        res.setHeader('allow', allowed(route));
        throw new ApiError(405, 'method_not_allowed', `${req.method} is not allowed on ${url.pathname}`);
      }
      const params = (route.pattern.exec(url.pathname) ?? []).slice(1).map(decodeSegment);
      const out = await handler(req, params, url, res);
      if (out === ANSWERED) return;
      if (out instanceof Unready) send(res, 503, out.body);
      else send(res, 200, out);
    } catch (thrown) {
      // Shared state out of reach (Redis down): the request may succeed later, so 503.
      const err =
        thrown instanceof EngineUnavailableError
          ? new ApiError(503, 'engine_unavailable', `${thrown.message}; retry later`)
          : thrown;
      if (!(err instanceof ApiError)) throw err;
      this.deps.metrics.apiRejected.child(err.code).inc();
      // The body of a refused request is not read; the answer goes out, then the
      // connection closes after a bounded lingering read (src/api/http-limits.ts).
      if (CLOSES_CONNECTION.has(err.httpStatus)) closeAfterAnswer(req, res, this.limits);
      send(res, err.httpStatus, { error: err.code, message: err.message });
    }
  }

  /**
   * Bearer token check: the scheme is case-insensitive (RFC 9110); the token is compared
   * with every accepted one, each in constant time (digests have equal length whatever
   * is sent), and all of them are compared whatever matches, so timing tells nothing.
   */
  private authorize(req: IncomingMessage): void {
    const accepted = this.tokenDigests;
    if (accepted.length === 0) return;
    const m = /^bearer[ \t]+(\S+)[ \t]*$/i.exec(req.headers.authorization ?? '');
    const given = sha256(m === null ? '' : m[1]);
    let ok = false;
    for (const digest of accepted) ok = timingSafeEqual(given, digest) || ok;
    if (!ok || m === null) {
      throw new ApiError(401, 'unauthorized', 'missing or wrong "authorization: Bearer <api.token>"');
    }
  }

  /** The operator console's static files (src/api/console-page.ts); no token, no data. */
  private async console(res: ServerResponse, file = 'index.html'): Promise<typeof ANSWERED> {
    await serveConsoleFile(res, file);
    return ANSWERED;
  }

  private readiness(): unknown {
    return this.deps.ready() ? { status: 'ready' } : new Unready({ status: 'not_ready' });
  }

  /** The body as JSON, validated by `schema`; `plain` (when given) may accept it first, without zod. */
  private async json<T extends z.ZodType>(
    req: IncomingMessage,
    schema: T,
    plain?: (value: unknown) => z.output<T> | undefined,
  ): Promise<z.output<T>> {
    const body = await readBody(req, this.deps.config.api.maxBodyBytes);
    let parsed: unknown;
    try {
      parsed = JSON.parse(body.toString('utf8'));
    } catch {
      throw invalid('body is not valid JSON');
    }
    const accepted = plain?.(parsed);
    if (accepted !== undefined) return accepted;
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

  private async push(req: IncomingMessage, url: RequestTarget): Promise<unknown> {
    let players: string[];
    let cmd: number;
    let data: Buffer;
    let offline = true;
    if ((req.headers['content-type'] ?? '').startsWith('application/octet-stream')) {
      players = (url.searchParams.get('players') ?? '').split(',').filter((p) => p.length > 0);
      if (players.length === 0) throw invalid('query parameter players must list at least one player');
      if (players.length > MAX_PLAYERS)
        throw invalid(`query parameter players lists over ${MAX_PLAYERS} players`);
      // The same rule as the JSON form and the directives (src/players/names.ts).
      players.forEach((p, i) => {
        const problem = playerIdProblem(p);
        if (problem !== undefined) throw invalid(`query parameter players, item ${i}: ${problem}`);
      });
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
      const body = await this.json(req, pushBody, plainPushBody);
      ({ players, cmd, offline } = body);
      data = Buffer.from(body.data, 'base64');
    }
    const results = await this.deps.engine.push(players, cmd, data, offline);
    const answer: Record<string, unknown> = { delivered: 0, cached: 0, dropped: 0 };
    for (const r of results) (answer[r] as number)++;
    if (players.length <= MAX_RESULTS_LISTED) {
      // No prototype: a player named __proto__ is a key like any other.
      const listed: Record<string, PushResult> = Object.create(null);
      for (let i = 0; i < players.length; i++) listed[players[i]] = results[i];
      answer.results = listed;
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

  private async listMembers(group: string): Promise<unknown> {
    checkGroup(group);
    const members = await this.deps.engine.members(group);
    return { group, count: members.length, members };
  }

  private async kick(req: IncomingMessage): Promise<unknown> {
    const { players, reason } = await this.json(req, kickBody);
    return { kicked: await this.deps.engine.kick(players, reason) };
  }

  private async player(id: string): Promise<unknown> {
    const problem = playerIdProblem(id);
    if (problem !== undefined) throw invalid(problem);
    const info = await this.deps.engine.player(id);
    if (info === null) throw new ApiError(404, 'not_found', `player ${id} is not known to this gateway`);
    return info;
  }
}

class Unready {
  constructor(readonly body: unknown) {}
}

function checkGroup(group: string): void {
  const problem = groupNameProblem(group);
  if (problem !== undefined) throw invalid(problem);
}

/** What a handler reads of the request target. */
interface RequestTarget {
  readonly pathname: string;
  readonly searchParams: URLSearchParams;
}

/** Segments of letters, digits, `-` and `_` only: no dot segment, escape or query. */
const PLAIN_PATH = /^(?:\/[A-Za-z0-9_-]+)+\/?$/;
const NO_QUERY = new URLSearchParams();

/**
 * The path and query of a request target: origin form (`/v1/push?…`) or absolute form
 * (`http://host/v1/push`); anything else (`*`, `http://[/x`) is a bad request, not a bug.
 */
function requestTarget(target: string | undefined): RequestTarget {
  // Most targets are a plain path (POST /v1/push): nothing for URL to normalise or decode.
  if (target !== undefined && PLAIN_PATH.test(target)) return { pathname: target, searchParams: NO_QUERY };
  if (target !== undefined && (target.startsWith('/') || /^https?:\/\//i.test(target))) {
    try {
      return new URL(target, 'http://gateway');
    } catch {
      // fall through
    }
  }
  throw invalid('malformed request target');
}

function allowed(route: Route): string {
  const methods = Object.keys(route.methods);
  return (methods.includes('GET') ? [...methods, 'HEAD'] : methods).join(', ');
}

function digests(tokens: readonly string[]): Buffer[] {
  return tokens.map((t) => sha256(t));
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
