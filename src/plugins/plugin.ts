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
import type { CmdSpec } from '../config/cmd-set.js';
import type { GatewayConfig } from '../config/schema.js';
import type { PlayerInfo, PushResult } from '../players/engine.js';
import type { HookName, Hooks } from './hooks.js';
import type { Body, LocalHandler } from './plugin-context.js';

export type {
  BindContext,
  Body,
  LocalHandler,
  LocalReply,
  MaybeReply,
  PluginSession,
  RequestContext,
  ResponseContext,
  SessionCloseContext,
} from './plugin-context.js';

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
