import type {
  BindContext,
  MaybeReply,
  RequestContext,
  ResponseContext,
  SessionCloseContext,
} from './plugin-context.js';

/**
 * Every hook a plugin can add, in the order a request meets them (docs/lifecycle.md
 * draws them). Hooks of one name run in registration order: plugins in config order, and
 * within a plugin in the order it called addHook. A hook may be async; the next hook of
 * the same name starts only after it settled.
 */
export const HOOK_NAMES = ['onRequest', 'onResponse', 'onBind', 'onSessionClose', 'onClose'] as const;
export type HookName = (typeof HOOK_NAMES)[number];

type MaybePromise<T> = T | Promise<T>;

/** The signature of each hook. */
export interface Hooks {
  /**
   * After the limits and the auth gate, before routing, for every REQUEST and NOTIFY.
   * May set `ctx.target` to a configured target, or return a reply, which answers the
   * request locally (later hooks, handlers and backends are skipped). A throw answers INTERNAL.
   */
  onRequest(ctx: RequestContext): MaybePromise<MaybeReply>;
  /**
   * After a forwarded request's backend answered (or failed), before its RESPONSE is
   * written and before its directives are applied. All onResponse hooks settle before the
   * client sees the RESPONSE, so state they change is visible to the client's next request.
   * A throw answers INTERNAL and the backend's directives are not applied.
   */
  onResponse(ctx: ResponseContext): MaybePromise<void>;
  /** A session was bound to a player (login). Errors are logged and counted, never fatal. */
  onBind(ctx: BindContext): MaybePromise<void>;
  /** A session's connection is gone, before its player goes offline. Errors are logged and counted. */
  onSessionClose(ctx: SessionCloseContext): MaybePromise<void>;
  /** The gateway is stopping (after draining); runs in reverse registration order. */
  onClose(): MaybePromise<void>;
}
