import type { Logger } from 'pino';
import { CmdCache, firstMatch } from '../config/cmd-cache.js';
import type { CmdSet } from '../config/cmd-set.js';
import type { GatewayMetrics, RequestResult } from '../metrics/metrics.js';
import { Status, statusRow } from '../protocol/status.js';
import type { ClientRequest } from '../request/client-request.js';
import type { Dispatch, Stage } from '../request/stage.js';
import type { HookName, Hooks } from './hooks.js';
import { toReply } from './local-reply.js';
import type { LocalHandler, MaybeReply } from './plugin-context.js';
import { PluginRequest } from './plugin-request.js';
import { PluginResponse } from './plugin-response.js';

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

/**
 * The plugin stage of the request path: onRequest hooks, then a local handler (which
 * answers) or on to forwarding with the target the hooks chose; on the way back, the
 * onResponse hooks see a forwarded answer before the client does. Hooks run in
 * registration order; the chain stays synchronous until a hook returns a promise. Every
 * throw or rejection is caught here: the request is answered INTERNAL, logged with its
 * request id and counted as gateway_errors_total{type="plugin_error"}.
 */
export class PluginStage implements Stage {
  readonly name = 'plugins';
  /** True when every request must take the plugin path (some hook wants to see it). */
  private readonly interceptAll: boolean;
  private readonly handlerFor: CmdCache<HandlerEntry | null>;
  readonly response?: Stage['response'];

  constructor(
    private readonly targets: ReadonlySet<string>,
    handlers: readonly HandlerEntry[],
    private readonly requestHooks: ReadonlyArray<HookEntry<'onRequest'>>,
    private readonly responseHooks: ReadonlyArray<HookEntry<'onResponse'>>,
    private readonly metrics: GatewayMetrics,
    private readonly log: Logger,
  ) {
    this.interceptAll = requestHooks.length > 0 || responseHooks.length > 0;
    this.handlerFor = new CmdCache((cmd) => firstMatch(handlers, cmd));
    // Only a stage with onResponse hooks takes part in the way back.
    if (responseHooks.length > 0) this.response = (req, next) => this.responseStage(req, next);
  }

  request(req: ClientRequest, next: Dispatch, reply: Dispatch): void {
    if (!this.interceptAll && this.handlerFor.get(req.cmd) === null) {
      next(req);
      return;
    }
    const ctx = new PluginRequest(req);
    req.extension = ctx;
    this.requestHooksFrom(ctx, 0, next, reply);
  }

  private requestHooksFrom(ctx: PluginRequest, from: number, next: Dispatch, reply: Dispatch): void {
    const hooks = this.requestHooks;
    for (let i = from; i < hooks.length; i++) {
      const hook = hooks[i];
      const before = ctx.target;
      let out: ReturnType<Hooks['onRequest']>;
      try {
        out = hook.fn(ctx);
      } catch (err) {
        this.failed(ctx.req, hook.plugin, 'onRequest', err, reply);
        return;
      }
      if (isPromiseLike(out)) {
        this.later(
          out,
          (value) => {
            if (this.afterRequestHook(ctx, hook.plugin, before, value, reply))
              this.requestHooksFrom(ctx, i + 1, next, reply);
          },
          (err) => this.failed(ctx.req, hook.plugin, 'onRequest', err, reply),
        );
        return;
      }
      if (!this.afterRequestHook(ctx, hook.plugin, before, out, reply)) return;
    }
    this.dispatch(ctx, next, reply);
  }

  /** False when the hook settled the request: it replied, or it chose a target that does not exist. */
  private afterRequestHook(
    ctx: PluginRequest,
    plugin: string,
    before: string | null,
    out: MaybeReply,
    reply: Dispatch,
  ): boolean {
    if (out !== undefined) {
      this.answer(ctx.req, plugin, 'onRequest', out, reply);
      return false;
    }
    if (ctx.target !== before && ctx.target !== null && !this.targets.has(ctx.target)) {
      const err = new Error(`set ctx.target to "${ctx.target}", which is not under targets`);
      this.failed(ctx.req, plugin, 'onRequest', err, reply);
      return false;
    }
    return true;
  }

  /** A local handler answers; anything else goes on to forwarding. */
  private dispatch(ctx: PluginRequest, next: Dispatch, reply: Dispatch): void {
    const entry = this.handlerFor.get(ctx.cmd);
    if (entry === null) {
      next(ctx.req);
      return;
    }
    let out: ReturnType<LocalHandler>;
    try {
      out = entry.handler(ctx);
    } catch (err) {
      this.failed(ctx.req, entry.plugin, 'handler', err, reply);
      return;
    }
    if (isPromiseLike(out)) {
      this.later(
        out,
        (value) => this.answer(ctx.req, entry.plugin, 'handler', value, reply),
        (err) => this.failed(ctx.req, entry.plugin, 'handler', err, reply),
      );
    } else this.answer(ctx.req, entry.plugin, 'handler', out, reply);
  }

  /** onResponse hooks for a forwarded answer; the answer goes on once all of them settled. */
  private responseStage(req: ClientRequest, next: Dispatch): void {
    // Requests that were not forwarded (no target) have nothing for onResponse hooks.
    const ctx = req.extension instanceof PluginRequest ? req.extension : null;
    if (ctx === null || !req.forwarded) {
      next(req);
      return;
    }
    this.responseHooksFrom(new PluginResponse(ctx), 0, next);
  }

  private responseHooksFrom(res: PluginResponse, from: number, next: Dispatch): void {
    const hooks = this.responseHooks;
    const req = res.request.req;
    for (let i = from; i < hooks.length; i++) {
      const hook = hooks[i];
      let out: ReturnType<Hooks['onResponse']>;
      try {
        out = hook.fn(res);
      } catch (err) {
        this.failed(req, hook.plugin, 'onResponse', err, next, res.target);
        return;
      }
      if (isPromiseLike(out)) {
        this.later(
          out,
          () => this.responseHooksFrom(res, i + 1, next),
          (err) => this.failed(req, hook.plugin, 'onResponse', err, next, res.target),
        );
        return;
      }
    }
    next(req);
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

  /** A handler's or hook's reply becomes the request's answer, labelled with the plugin. */
  private answer(
    req: ClientRequest,
    plugin: string,
    where: string,
    value: MaybeReply,
    reply: Dispatch,
  ): void {
    let r: ReturnType<typeof toReply>;
    try {
      r = toReply(value);
    } catch (err) {
      this.failed(req, plugin, where, err, reply);
      return;
    }
    req.label = plugin;
    if (r.error === null) {
      req.status = r.status;
      req.answer = r.body;
      req.result = 'success';
    } else {
      const type = statusRow(r.error).errorType;
      if (type !== null) this.metrics.error(type);
      const result: RequestResult = DROP_STATUSES.has(r.error) ? 'drop' : 'error';
      req.fail(r.error, result, r.message);
    }
    reply(req);
  }

  /** A plugin threw or rejected: INTERNAL for the client, the error in the log with the request id. */
  private failed(
    req: ClientRequest,
    plugin: string,
    where: string,
    err: unknown,
    reply: Dispatch,
    label = plugin,
  ): void {
    this.metrics.error('plugin_error');
    const e = err instanceof Error ? err : new Error(String(err));
    this.log.error(
      {
        requestId: req.requestId,
        plugin,
        hook: where,
        cmd: req.cmd,
        sessionId: req.session.id,
        err: e.message,
        stack: e.stack,
      },
      'plugin failed',
    );
    req.label = label;
    req.fail(Status.INTERNAL, 'error', `internal error (request ${req.requestId})`);
    reply(req);
  }
}

export function isPromiseLike<T>(value: T | PromiseLike<T>): value is PromiseLike<T> {
  return typeof (value as { then?: unknown } | null | undefined)?.then === 'function';
}
