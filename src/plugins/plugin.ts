import type { Logger } from 'pino';
import type {
  Counter,
  CounterConfiguration,
  Gauge,
  GaugeConfiguration,
  Histogram,
  HistogramConfiguration,
  Registry,
} from 'prom-client';
import type { Directives } from '../backend/backend-call.js';
import type { CmdSpec } from '../config/cmd-set.js';
import type { GatewayConfig } from '../config/schema.js';
import type { PlayerInfo, PushResult } from '../players/engine.js';
import type { StatusName } from '../protocol/status.js';
import type { HookName, Hooks } from './hooks.js';

/**
 * A plugin module's default export. `setup` runs once, in config order, before the
 * gateway listens; it registers handlers and hooks through `gw` (only during setup).
 * A setup that throws or rejects stops the gateway's start.
 */
export interface Plugin<Options = unknown> {
  /** Unique among the loaded plugins; labels its logs and its local requests' route_target. */
  readonly name: string;
  setup(gw: PluginApi, options: Options): void | Promise<void>;
}

/** Bytes as the gateway sends them; a string is sent as UTF-8. */
export type Body = Uint8Array | string;

/**
 * How a local handler or an onRequest hook answers. `status` is 0 (the default), an
 * application code 1000–65535 (sent with `body`, like a backend's x-gateway-status), or a
 * gateway status of SPEC §6 by code or name (`'ROUTE_NOT_FOUND'`), sent as the SPEC's JSON
 * error body with `message`.
 */
export interface LocalReply {
  body?: Body;
  status?: number | StatusName;
  message?: string;
}

/** One session as plugins see it. */
export interface PluginSession {
  readonly id: string;
  /** The bound player, or null before login. */
  readonly playerId: string | null;
  readonly remoteAddress: string;
  /** Per-session storage shared by all plugins (prefix keys with the plugin name); gone with the session. */
  readonly state: Map<string, unknown>;
}

/** A REQUEST or NOTIFY past the limits and the auth gate. */
export interface RequestContext {
  readonly cmd: number;
  readonly seq: number;
  readonly kind: 'request' | 'notify';
  /** The frame body, unchanged. */
  readonly body: Buffer;
  readonly session: PluginSession;
  /** Sent to the backend as x-request-id and logged with any failure. */
  readonly requestId: string;
  /**
   * The target this request is forwarded to: the route table's choice (null without a
   * route) until a hook sets it. Must name a target of the config; null → ROUTE_NOT_FOUND.
   * Ignored for cmds answered by a local handler.
   */
  target: string | null;
}

/** A forwarded request's outcome, seen by onResponse hooks before the client. */
export interface ResponseContext {
  readonly request: RequestContext;
  /** The target that was called. */
  readonly target: string;
  /** True when the backend answered 2xx. */
  readonly ok: boolean;
  /** The RESPONSE status the client gets: 0, an application code, or a gateway status (BACKEND_*). */
  readonly status: number;
  /** The backend's HTTP status; 0 when it did not answer (timeout, unreachable). */
  readonly httpStatus: number;
  /** The backend's response body (empty when it failed without one). */
  readonly body: Buffer;
  /** The x-gateway-* headers of the answer (`extra` holds the ones the gateway does not know). */
  readonly directives: Readonly<Directives> | null;
  /** One x-gateway-* header of the answer by name (case-insensitive), e.g. 'x-gateway-map'. */
  header(name: string): string | undefined;
}

export interface BindContext {
  readonly session: PluginSession;
  readonly playerId: string;
}

export interface SessionCloseContext {
  /** `playerId` is still set when the session was bound at close. */
  readonly session: PluginSession;
}

/** What a handler or an onRequest hook returns: a reply, or nothing (`void` so `() => {}` fits). */
// biome-ignore lint/suspicious/noConfusingVoidType: handlers and hooks may return nothing, sync or async.
export type MaybeReply = LocalReply | undefined | void;

export type LocalHandler = (ctx: RequestContext) => MaybeReply | Promise<MaybeReply>;

/** Metric factories on the gateway's registry (what GET /metrics serves). */
export interface PluginMetrics {
  readonly registry: Registry;
  counter<T extends string>(config: Omit<CounterConfiguration<T>, 'registers'>): Counter<T>;
  gauge<T extends string>(config: Omit<GaugeConfiguration<T>, 'registers'>): Gauge<T>;
  histogram<T extends string>(config: Omit<HistogramConfiguration<T>, 'registers'>): Histogram<T>;
}

/** What a plugin's setup receives: the gateway, as far as plugins may touch it. */
export interface PluginApi {
  /** The plugin's name. */
  readonly name: string;
  /** The gateway's validated, frozen config. */
  readonly config: GatewayConfig;
  /** The gateway's logger with `plugin: <name>` on every line. */
  readonly log: Logger;
  readonly metrics: PluginMetrics;
  /** Names of the configured targets, for validating options. */
  readonly targets: ReadonlySet<string>;

  /**
   * Answers `cmds` (a number, a list, or a range string like "1000-1999") locally, without
   * a backend and without a route. The auth gate still applies unless the cmd is in
   * auth.anonymousCmds. Throws when a cmd is already handled by another handler.
   */
  handle(cmds: CmdSpec, handler: LocalHandler): void;
  addHook<H extends HookName>(name: H, fn: Hooks[H]): void;

  /** Pushes to players (SPEC §5 semantics); `offline: false` drops instead of caching. */
  push(
    players: string | readonly string[],
    cmd: number,
    body: Body,
    options?: { offline?: boolean },
  ): Promise<PushResult[]>;
  broadcast(cmd: number, body: Body): Promise<number>;
  groupPush(group: string, cmd: number, body: Body): Promise<number>;
  /** Adds known players to a group; returns the member count after. */
  join(group: string, players: string | readonly string[]): Promise<number>;
  leave(group: string, players: string | readonly string[]): Promise<number>;
  kick(players: string | readonly string[], reason?: string): Promise<number>;
  player(playerId: string): Promise<PlayerInfo | null>;
}

/** Identity function that gives a plugin object its type (and its options' type). */
export function definePlugin<Options = unknown>(plugin: Plugin<Options>): Plugin<Options> {
  return plugin;
}
