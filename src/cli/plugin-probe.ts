import type { Logger } from 'pino';
import { Registry } from 'prom-client';
import type { GatewayConfig } from '../config/schema.js';
import { cmdRanges, firstOverlap } from '../plugins/cmd-ranges.js';
import { HOOK_NAMES, type HookName } from '../plugins/hooks.js';
import type { PluginApi } from '../plugins/plugin.js';
import { PluginError } from '../plugins/plugin-error.js';
import { BUNDLED_PLUGINS, loadPlugin } from '../plugins/plugin-loader.js';
import { pluginMetrics } from '../plugins/plugin-metrics.js';
import type { Range } from './cmd-ranges.js';

/** A setup still pending after this long fails the check instead of hanging it. */
const SETUP_TIMEOUT_MS = 10_000;

/** What one plugin registered during its setup. */
export interface ProbedPlugin {
  name: string;
  /** `plugins.<i>` */
  where: string;
  module: string;
  bundled: boolean;
  /** Cmds answered by its local handlers. */
  handles: Range[];
  hooks: HookName[];
}

/**
 * Loads every plugin of `config.plugins` the way the gateway does (same loader, same
 * errors naming `plugins.<i>.module`), then runs each setup against a stand-in gateway
 * that records handlers and hooks — so check-config validates the plugins' options and
 * learns which cmds they answer. The stand-in's pushes, kicks and lookups do nothing
 * (no players exist); its metrics go to a private registry. onClose hooks are run at the
 * end, so a plugin that opened something in setup releases it.
 *
 * Rejects with a PluginError, as the gateway's start would.
 */
export async function probePlugins(
  config: GatewayConfig,
  baseDir: string,
  log: Logger,
): Promise<ProbedPlugin[]> {
  const probed: ProbedPlugin[] = [];
  const closers: Array<() => unknown> = [];
  const registry = new Registry();
  try {
    for (let i = 0; i < config.plugins.length; i++) {
      const { module, options } = config.plugins[i];
      const where = `plugins.${i}`;
      const plugin = await loadPlugin(module, baseDir, where);
      const taken = probed.find((p) => p.name === plugin.name);
      if (taken !== undefined) {
        throw new PluginError(
          plugin.name,
          `${where}: a plugin named "${plugin.name}" is already loaded (${taken.where})`,
        );
      }
      const entry: ProbedPlugin = {
        name: plugin.name,
        where,
        module,
        bundled: BUNDLED_PLUGINS.includes(module),
        handles: [],
        hooks: [],
      };
      const gw = standIn(entry, probed, config, registry, log, closers);
      try {
        await withTimeout(Promise.resolve(plugin.setup(gw, options)), SETUP_TIMEOUT_MS);
      } catch (err) {
        throw new PluginError(
          plugin.name,
          `${where}: plugin "${plugin.name}" (module ${module}) failed to set up: ${(err as Error)?.message ?? err}`,
          { cause: err },
        );
      }
      probed.push(entry);
    }
    return probed;
  } finally {
    for (const close of closers.reverse()) {
      try {
        await close();
      } catch {
        // A failing onClose does not change the verdict on the config.
      }
    }
  }
}

function standIn(
  entry: ProbedPlugin,
  others: readonly ProbedPlugin[],
  config: GatewayConfig,
  registry: Registry,
  log: Logger,
  closers: Array<() => unknown>,
): PluginApi {
  return {
    name: entry.name,
    config,
    log: log.child({ plugin: entry.name }),
    targets: new Set(Object.keys(config.targets)),
    metrics: pluginMetrics(registry),
    handle: (cmds, handler) => {
      if (typeof handler !== 'function')
        throw new TypeError('handle(cmds, handler): handler must be a function');
      const ranges = cmdRanges(cmds);
      for (const other of [...others, entry]) {
        const at = firstOverlap(ranges, other.handles as Array<[number, number]>);
        if (at !== null) throw new Error(`handle(): cmd ${at} is already handled by plugin "${other.name}"`);
      }
      entry.handles.push(...ranges);
    },
    addHook: (hook, fn) => {
      if (!HOOK_NAMES.includes(hook)) {
        throw new Error(`addHook(): unknown hook "${hook}"; hooks are ${HOOK_NAMES.join(', ')}`);
      }
      if (typeof fn !== 'function') throw new TypeError(`addHook("${hook}", fn): fn must be a function`);
      if (!entry.hooks.includes(hook)) entry.hooks.push(hook);
      if (hook === 'onClose') closers.push(fn as () => unknown);
    },
    push: async () => [],
    broadcast: async () => 0,
    groupPush: async () => 0,
    join: async () => 0,
    leave: async () => 0,
    kick: async () => 0,
    player: async () => null,
  };
}

function withTimeout<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`setup did not finish within ${ms / 1000} s`)), ms);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}
