import type { Logger } from 'pino';
import { CmdSet, type CmdSpec } from '../config/cmd-set.js';
import type { GatewayConfig } from '../config/schema.js';
import type { GatewayMetrics } from '../metrics/metrics.js';
import { groupNameProblem, playerIdProblem } from '../players/names.js';
import type { PlayerService } from '../players/player-service.js';
import type { LocalCmds } from '../request/route-table.js';
import type { Session } from '../session/session.js';
import { cmdRanges, firstOverlap } from './cmd-ranges.js';
import { HOOK_NAMES, type HookName, type Hooks } from './hooks.js';
import { toBody } from './local-reply.js';
import type { PluginApi } from './plugin.js';
import type { BindContext, LocalHandler, SessionCloseContext } from './plugin-context.js';
import { PluginError } from './plugin-error.js';
import { loadPlugin } from './plugin-loader.js';
import { pluginMetrics } from './plugin-metrics.js';
import { PluginSessionView } from './plugin-session.js';
import { type HandlerEntry, type HookEntry, isPromiseLike, PluginStage } from './plugin-stage.js';

export interface PluginHostDeps {
  readonly config: GatewayConfig;
  readonly players: PlayerService;
  readonly metrics: GatewayMetrics;
  readonly log: Logger;
  /** Names of the configured targets. */
  readonly targets: ReadonlySet<string>;
}

type HookLists = { [H in HookName]: Array<HookEntry<H>> };

/**
 * Loads the plugins of `config.plugins`, runs their setups in order, and keeps what they
 * registered: local handlers and hooks. Request-path hooks and handlers make the
 * PluginStage of the request path; lifecycle hooks (onBind, onSessionClose, onClose) run from here.
 */
export class PluginHost {
  private readonly hooks: HookLists = {
    onRequest: [],
    onResponse: [],
    onBind: [],
    onSessionClose: [],
    onClose: [],
  };
  private readonly handlers: Array<HandlerEntry & { ranges: Array<[number, number]> }> = [];
  private readonly loaded = new Map<string, string>();

  constructor(private readonly deps: PluginHostDeps) {}

  /** Names of the plugins set up so far, in config order. */
  get names(): string[] {
    return [...this.loaded.keys()];
  }

  /**
   * Loads and sets up every plugin, one after the other (registration order is config
   * order). A plugin that fails to load or set up closes the ones before it and rejects
   * with a PluginError naming it.
   */
  async start(baseDir: string): Promise<void> {
    const entries = this.deps.config.plugins;
    try {
      for (let i = 0; i < entries.length; i++) {
        const { module, options } = entries[i];
        const where = `plugins.${i}`;
        const plugin = await loadPlugin(module, baseDir, where);
        const taken = this.loaded.get(plugin.name);
        if (taken !== undefined) {
          throw new PluginError(
            plugin.name,
            `${where}: a plugin named "${plugin.name}" is already loaded (${taken})`,
          );
        }
        const api = this.api(plugin.name);
        try {
          await plugin.setup(api.gw, options);
        } catch (err) {
          throw new PluginError(
            plugin.name,
            `${where}: plugin "${plugin.name}" (module ${module}) failed to set up: ${(err as Error)?.message ?? err}`,
            { cause: err },
          );
        } finally {
          api.seal();
        }
        this.loaded.set(plugin.name, where);
        this.deps.log.info({ plugin: plugin.name, module }, 'plugin ready');
      }
    } catch (err) {
      await this.close();
      throw err;
    }
  }

  /** The plugin stage of the request path, or null when no plugin needs one (the plain path stays plain). */
  stage(): PluginStage | null {
    const { onRequest, onResponse } = this.hooks;
    if (this.handlers.length === 0 && onRequest.length === 0 && onResponse.length === 0) return null;
    return new PluginStage(
      this.deps.targets,
      this.handlers,
      onRequest,
      onResponse,
      this.deps.metrics,
      this.deps.log,
    );
  }

  /** The cmds local handlers answer, by plugin: they are counted under the plugin's name. */
  localCmds(): LocalCmds[] {
    return this.handlers.map((h) => ({ cmds: h.cmds, owner: h.plugin }));
  }

  /** A session was bound to `playerId` (from the engine's lifecycle listener). */
  bound(session: Session, playerId: string): void {
    if (this.hooks.onBind.length === 0) return;
    const ctx: BindContext = { session: new PluginSessionView(session), playerId };
    this.notify('onBind', ctx, 0);
  }

  /** A session's connection is gone; called before its player is unbound. */
  sessionClosed(session: Session): void {
    if (this.hooks.onSessionClose.length === 0) return;
    const ctx: SessionCloseContext = { session: new PluginSessionView(session) };
    this.notify('onSessionClose', ctx, 0);
  }

  /** Runs onClose hooks in reverse registration order, each awaited; failures are logged. Idempotent. */
  async close(): Promise<void> {
    const hooks = this.hooks.onClose.splice(0).reverse();
    for (const hook of hooks) {
      try {
        await hook.fn();
      } catch (err) {
        this.hookFailed(hook.plugin, 'onClose', err, {});
      }
    }
  }

  /**
   * Runs one lifecycle hook list in order, awaiting async hooks one by one. Never throws
   * and never rejects: a failing hook is logged and counted, and the next one still runs.
   */
  private notify<H extends 'onBind' | 'onSessionClose'>(
    name: H,
    ctx: Parameters<Hooks[H]>[0],
    from: number,
  ): void {
    const hooks = this.hooks[name] as Array<HookEntry<'onBind' | 'onSessionClose'>>;
    const where = { sessionId: ctx.session.id, playerId: ctx.session.playerId ?? undefined };
    for (let i = from; i < hooks.length; i++) {
      const hook = hooks[i];
      let out: unknown;
      try {
        out = (hook.fn as (c: typeof ctx) => unknown)(ctx);
      } catch (err) {
        this.hookFailed(hook.plugin, name, err, where);
        continue;
      }
      if (isPromiseLike(out)) {
        Promise.resolve(out).then(
          () => this.notify(name, ctx, i + 1),
          (err: unknown) => {
            this.hookFailed(hook.plugin, name, err, where);
            this.notify(name, ctx, i + 1);
          },
        );
        return;
      }
    }
  }

  private hookFailed(plugin: string, hook: string, err: unknown, where: Record<string, unknown>): void {
    this.deps.metrics.error('plugin_error');
    const e = err instanceof Error ? err : new Error(String(err));
    this.deps.log.error({ plugin, hook, ...where, err: e.message, stack: e.stack }, 'plugin hook failed');
  }

  private addHandler(plugin: string, cmds: CmdSpec, handler: LocalHandler): void {
    if (typeof handler !== 'function')
      throw new TypeError('handle(cmds, handler): handler must be a function');
    const ranges = cmdRanges(cmds);
    for (const other of this.handlers) {
      const at = firstOverlap(ranges, other.ranges);
      if (at !== null) throw new Error(`handle(): cmd ${at} is already handled by plugin "${other.plugin}"`);
    }
    this.handlers.push({ plugin, cmds: CmdSet.parse(cmds), ranges, handler });
  }

  /** The `gw` object one plugin's setup receives; registering is refused once its setup ended. */
  private api(name: string): { gw: PluginApi; seal(): void } {
    const { config, players: service, metrics, log, targets } = this.deps;
    const registry = metrics.registry;
    let open = true;
    const assertOpen = (what: string): void => {
      if (!open) throw new Error(`plugin "${name}": ${what}() may only be called during setup`);
    };
    const gw: PluginApi = {
      name,
      config,
      log: log.child({ plugin: name }),
      targets,
      metrics: pluginMetrics(registry),
      handle: (cmds, handler) => {
        assertOpen('handle');
        this.addHandler(name, cmds, handler);
      },
      addHook: (hook, fn) => {
        assertOpen('addHook');
        if (!HOOK_NAMES.includes(hook)) {
          throw new Error(`addHook(): unknown hook "${hook}"; hooks are ${HOOK_NAMES.join(', ')}`);
        }
        if (typeof fn !== 'function') throw new TypeError(`addHook("${hook}", fn): fn must be a function`);
        (this.hooks[hook] as Array<HookEntry<typeof hook>>).push({ plugin: name, fn });
      },
      push: async (players, cmd, body, options) =>
        service.push(ids(players), cmd, toBody(body), options?.offline ?? true),
      broadcast: (cmd, body) => service.broadcast(cmd, toBody(body)),
      groupPush: async (group, cmd, body) => service.groupPush(groupName(group), cmd, toBody(body)),
      join: async (group, players) => service.join(groupName(group), ids(players)),
      leave: async (group, players) => service.leave(groupName(group), ids(players)),
      kick: async (players, reason) => service.kick(ids(players), reason ?? 'kicked'),
      player: async (playerId) => service.player(ids(playerId)[0]),
    };
    return {
      gw,
      seal: () => {
        open = false;
      },
    };
  }
}

/**
 * Player ids as a list, each checked by the rule the API and backend directives follow
 * (players/names.ts), so a plugin cannot make a player the API could not address.
 * Called inside async functions: a bad id rejects the call with a TypeError naming it.
 */
function ids(players: string | readonly string[]): readonly string[] {
  const list = typeof players === 'string' ? [players] : players;
  for (const id of list) {
    const problem = playerIdProblem(id);
    if (problem !== undefined) throw new TypeError(`player id ${JSON.stringify(id)}: ${problem}`);
  }
  return list;
}

function groupName(group: string): string {
  const problem = groupNameProblem(group);
  if (problem !== undefined) throw new TypeError(`group ${JSON.stringify(group)}: ${problem}`);
  return group;
}
