import type { Logger } from 'pino';
import { type BackendCall, CallOutcome, type Directives } from '../backend/backend-call.js';
import type { BackendTarget } from '../backend/backend-target.js';
import type { CmdSet } from '../config/cmd-set.js';
import type { GatewayMetrics, RequestResult } from '../metrics/metrics.js';
import { FrameType } from '../protocol/frame.js';
import { Status, type StatusCode, statusRow } from '../protocol/status.js';
import { AdmittedRequest } from '../request/admitted-request.js';
import type { Forwarder } from '../request/forwarder.js';
import type { Session } from '../session/session.js';
import type { HookName, Hooks } from './hooks.js';
import { type Reply, toReply } from './local-reply.js';
import type { LocalHandler, MaybeReply, RequestContext, ResponseContext } from './plugin.js';
import { PluginSessionView } from './plugin-session.js';

export interface HookEntry<H extends HookName> {
  readonly plugin: string;
  readonly fn: Hooks[H];
}

export interface HandlerEntry {
  readonly plugin: string;
  readonly cmds: CmdSet;
  readonly handler: LocalHandler;
}

/** Statuses that mean "never forwarded" (result `drop`) when a plugin answers with them, as when the gateway does. */
const DROP_STATUSES = new Set<number>([
  Status.ROUTE_NOT_FOUND,
  Status.NOT_AUTHENTICATED,
  Status.RATE_LIMITED,
  Status.TOO_MANY_IN_FLIGHT,
]);
const MAX_CACHED = 65_536;

/**
 * One request on the plugin path: the context hooks and handlers see, on top of what the
 * forwarder needs to finish it. Allocated only for requests a plugin intercepts.
 */
export class PluginRequest extends AdmittedRequest implements RequestContext {
  readonly kind: 'request' | 'notify';
  readonly session: PluginSessionView;
  target: string | null;

  constructor(
    client: Session,
    notify: boolean,
    cmd: number,
    seq: number,
    body: Buffer,
    routeTarget: string | null,
    requestId: string,
    playerLabel: string,
    startedAt: number,
  ) {
    // The cell is set at forward, once the target is final.
    super(client, notify, cmd, seq, body, requestId, playerLabel, startedAt, null);
    this.kind = notify ? 'notify' : 'request';
    this.session = new PluginSessionView(client);
    this.target = routeTarget;
  }
}

class ResponseView implements ResponseContext {
  constructor(
    readonly request: PluginRequest,
    readonly target: string,
    readonly ok: boolean,
    readonly status: number,
    readonly httpStatus: number,
    readonly body: Buffer,
    readonly directives: Readonly<Directives> | null,
  ) {}

  header(name: string): string | undefined {
    const d = this.directives;
    if (d === null) return undefined;
    const key = name.toLowerCase();
    switch (key) {
      case 'x-gateway-status':
        return d.status ?? undefined;
      case 'x-gateway-bind':
        return d.bind ?? undefined;
      case 'x-gateway-unbind':
        return d.unbind ?? undefined;
      case 'x-gateway-join':
        return d.join ?? undefined;
      case 'x-gateway-leave':
        return d.leave ?? undefined;
      case 'x-gateway-close':
        return d.close ?? undefined;
      default:
        return d.extra?.[key];
    }
  }
}

/**
 * The plugin stages of the request path (docs/lifecycle.md): onRequest hooks, then
 * a local handler or the target the hooks chose, then (after the backend) onResponse hooks.
 * Hooks run in registration order; the chain stays synchronous until a hook returns a
 * promise. Every throw or rejection is caught here: the request is answered INTERNAL,
 * logged with its request id and counted as gateway_errors_total{type="plugin_error"}.
 */
export class PluginPipeline {
  /** True when every request must take the plugin path (some hook wants to see it). */
  private readonly interceptAll: boolean;
  readonly hasResponseHooks: boolean;
  private readonly cache = new Map<number, HandlerEntry | null>();

  constructor(
    private readonly forwarder: Forwarder,
    private readonly targets: ReadonlyMap<string, BackendTarget>,
    private readonly handlers: readonly HandlerEntry[],
    private readonly requestHooks: ReadonlyArray<HookEntry<'onRequest'>>,
    private readonly responseHooks: ReadonlyArray<HookEntry<'onResponse'>>,
    private readonly metrics: GatewayMetrics,
    private readonly log: Logger,
  ) {
    this.interceptAll = requestHooks.length > 0 || responseHooks.length > 0;
    this.hasResponseHooks = responseHooks.length > 0;
  }

  /** Whether `cmd` takes the plugin path. Cheap: a flag, or one cached Map lookup. */
  intercepts(cmd: number): boolean {
    return this.interceptAll || this.handlerFor(cmd) !== null;
  }

  /** The route_target label of a request refused before the plugin stages. */
  label(cmd: number, routeTarget: string | null): string {
    return this.handlerFor(cmd)?.plugin ?? routeTarget ?? '';
  }

  private handlerFor(cmd: number): HandlerEntry | null {
    const hit = this.cache.get(cmd);
    if (hit !== undefined) return hit;
    let found: HandlerEntry | null = null;
    for (const h of this.handlers) {
      if (h.cmds.has(cmd)) {
        found = h;
        break;
      }
    }
    if (this.cache.size < MAX_CACHED) this.cache.set(cmd, found);
    return found;
  }

  /** Takes over a request the forwarder admitted (limits and auth gate passed, counted in flight). */
  run(
    session: Session,
    notify: boolean,
    cmd: number,
    seq: number,
    body: Buffer,
    routeTarget: string | null,
    requestId: string,
    playerLabel: string,
    startedAt: number,
  ): void {
    this.requestStage(
      new PluginRequest(session, notify, cmd, seq, body, routeTarget, requestId, playerLabel, startedAt),
      0,
    );
  }

  private requestStage(req: PluginRequest, from: number): void {
    const hooks = this.requestHooks;
    for (let i = from; i < hooks.length; i++) {
      const hook = hooks[i];
      const before = req.target;
      let out: ReturnType<Hooks['onRequest']>;
      try {
        out = hook.fn(req);
      } catch (err) {
        this.failed(req, hook.plugin, 'onRequest', err);
        return;
      }
      if (isPromiseLike(out)) {
        this.later(
          out,
          (value) => {
            if (this.afterRequestHook(req, hook.plugin, before, value)) this.requestStage(req, i + 1);
          },
          (err) => this.failed(req, hook.plugin, 'onRequest', err),
        );
        return;
      }
      if (!this.afterRequestHook(req, hook.plugin, before, out)) return;
    }
    this.dispatch(req);
  }

  /** False when the hook settled the request: it replied, or it chose a target that does not exist. */
  private afterRequestHook(
    req: PluginRequest,
    plugin: string,
    before: string | null,
    out: MaybeReply,
  ): boolean {
    if (out !== undefined) {
      this.answer(req, plugin, 'onRequest', out);
      return false;
    }
    if (req.target !== before && req.target !== null && !this.targets.has(req.target)) {
      this.failed(
        req,
        plugin,
        'onRequest',
        new Error(`set ctx.target to "${req.target}", which is not under targets`),
      );
      return false;
    }
    return true;
  }

  /** A local handler, or the chosen target, or ROUTE_NOT_FOUND. */
  private dispatch(req: PluginRequest): void {
    const entry = this.handlerFor(req.cmd);
    if (entry !== null) {
      let out: ReturnType<LocalHandler>;
      try {
        out = entry.handler(req);
      } catch (err) {
        this.failed(req, entry.plugin, 'handler', err);
        return;
      }
      if (isPromiseLike(out)) {
        this.later(
          out,
          (value) => this.answer(req, entry.plugin, 'handler', value),
          (err) => this.failed(req, entry.plugin, 'handler', err),
        );
      } else this.answer(req, entry.plugin, 'handler', out);
      return;
    }
    if (req.target === null) {
      this.metrics.error('route_not_found');
      this.settle(req, '', errorReply(Status.ROUTE_NOT_FOUND), 'drop');
      return;
    }
    const target = this.targets.get(req.target)!;
    req.cell = this.metrics.requestCell(req.cmd, target.name);
    this.forwarder.forward(target, req);
  }

  /**
   * Called by the forwarder once the backend answered (or failed) and the outcome is
   * classified, instead of writing the RESPONSE itself. Runs onResponse hooks, then lets
   * the forwarder write the RESPONSE and apply the directives.
   */
  responded(
    req: PluginRequest,
    call: BackendCall,
    status: number,
    httpStatus: number | undefined,
    failed: boolean,
  ): void {
    const ctx = new ResponseView(
      req,
      call.target.name,
      !failed,
      status,
      call.outcome === CallOutcome.RESPONSE ? call.statusCode : 0,
      call.body,
      call.directives,
    );
    const finish = (): void => this.forwarder.finish(call, req, status, httpStatus, failed);
    this.responseStage(req, ctx, 0, finish);
  }

  private responseStage(req: PluginRequest, ctx: ResponseView, from: number, finish: () => void): void {
    const hooks = this.responseHooks;
    for (let i = from; i < hooks.length; i++) {
      const hook = hooks[i];
      let out: ReturnType<Hooks['onResponse']>;
      try {
        out = hook.fn(ctx);
      } catch (err) {
        this.failed(req, hook.plugin, 'onResponse', err, ctx.target);
        return;
      }
      if (isPromiseLike(out)) {
        this.later(
          out,
          () => this.responseStage(req, ctx, i + 1, finish),
          (err) => this.failed(req, hook.plugin, 'onResponse', err, ctx.target),
        );
        return;
      }
    }
    finish();
  }

  /**
   * Continues the chain when a plugin's promise settles. A throw in the continuation itself
   * would be a gateway bug; it is logged, never left as an unhandled rejection (which would
   * end the process).
   */
  private later<T>(p: PromiseLike<T>, ok: (value: T) => void, fail: (err: unknown) => void): void {
    p.then(ok, fail).then(undefined, (err: unknown) => {
      this.metrics.error('internal');
      this.log.error({ err: err instanceof Error ? err.message : String(err) }, 'plugin pipeline failed');
    });
  }

  private answer(req: PluginRequest, plugin: string, where: string, value: MaybeReply): void {
    let reply: Reply;
    try {
      reply = toReply(value);
    } catch (err) {
      this.failed(req, plugin, where, err);
      return;
    }
    let result: RequestResult = 'success';
    if (reply.error !== null) {
      const type = statusRow(reply.error).errorType;
      if (type !== null) this.metrics.error(type);
      result = DROP_STATUSES.has(reply.error) ? 'drop' : 'error';
    }
    this.settle(req, plugin, reply, result);
  }

  /** A plugin threw or rejected: INTERNAL for the client, the error in the log with the request id. */
  private failed(req: PluginRequest, plugin: string, where: string, err: unknown, label = plugin): void {
    this.metrics.error('plugin_error');
    const e = err instanceof Error ? err : new Error(String(err));
    this.log.error(
      {
        requestId: req.requestId,
        plugin,
        hook: where,
        cmd: req.cmd,
        sessionId: req.client.id,
        err: e.message,
        stack: e.stack,
      },
      'plugin failed',
    );
    this.settle(
      req,
      label,
      errorReply(Status.INTERNAL, `internal error (request ${req.requestId})`),
      'error',
    );
  }

  /** Writes a reply the plugin path produced and ends the request (in flight, metrics). */
  private settle(req: PluginRequest, label: string, reply: Reply, result: RequestResult): void {
    const session = req.client;
    if (!req.notify) {
      const sent =
        reply.error !== null
          ? session.sendError(req.cmd, req.seq, reply.error, reply.message)
          : session.sendParts(FrameType.RESPONSE, reply.status, req.cmd, req.seq, reply.body);
      if (!sent) {
        result = 'error';
        this.metrics.error('send_failed');
      }
    }
    this.forwarder.settled(req, label, result);
  }
}

const EMPTY = Buffer.alloc(0);

function errorReply(status: StatusCode, message?: string): Reply {
  return { status, body: EMPTY, error: status, message };
}

export function isPromiseLike<T>(value: T | PromiseLike<T>): value is PromiseLike<T> {
  return typeof (value as { then?: unknown } | null | undefined)?.then === 'function';
}
