import { createRequire } from 'node:module';
import { isAbsolute, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Plugin } from './plugin.js';
import { PluginError } from './plugin-error.js';

/** Plugins shipped with the gateway, loadable by name (`module: map-ownership`). */
const BUNDLED: Record<string, () => Promise<unknown>> = {
  'map-ownership': () => import('./bundled/map-ownership.js'),
};

export const BUNDLED_PLUGINS: readonly string[] = Object.keys(BUNDLED);

/**
 * Imports the plugin named by a `plugins[].module` entry and checks its shape. `module` is,
 * in this order: the name of a bundled plugin; a path starting with `.` (relative to
 * `baseDir`, the config file's directory); an absolute path or file: URL; a package name,
 * resolved from `baseDir` first, then from the gateway's own node_modules.
 */
export async function loadPlugin(spec: string, baseDir: string, where: string): Promise<Plugin> {
  let mod: unknown;
  let resolved = spec;
  try {
    const bundled = Object.hasOwn(BUNDLED, spec) ? BUNDLED[spec] : undefined;
    if (bundled !== undefined) mod = await bundled();
    else {
      resolved = locate(spec, baseDir);
      mod = await import(resolved);
    }
  } catch (err) {
    const shown = resolved === spec ? `"${spec}"` : `"${spec}" (${resolved})`;
    throw new PluginError(spec, `${where}.module: cannot load ${shown}: ${(err as Error).message}`, {
      cause: err,
    });
  }
  const m = mod as { default?: unknown };
  const plugin = (m.default ?? m) as Partial<Plugin>;
  if (typeof plugin !== 'object' || plugin === null || typeof plugin.setup !== 'function') {
    throw new PluginError(
      spec,
      `${where}.module: "${spec}" does not export a plugin: expected a default export { name, setup }`,
    );
  }
  if (typeof plugin.name !== 'string' || !/^[A-Za-z0-9_.-]{1,64}$/.test(plugin.name)) {
    throw new PluginError(
      spec,
      `${where}.module: "${spec}" exports a plugin without a valid name (1–64 letters, digits, _ . -)`,
    );
  }
  return plugin as Plugin;
}

/** The import specifier for a non-bundled plugin. */
function locate(spec: string, baseDir: string): string {
  if (spec.startsWith('file:')) return spec;
  if (spec.startsWith('.')) return pathToFileURL(resolve(baseDir, spec)).href;
  if (isAbsolute(spec)) return pathToFileURL(spec).href;
  try {
    // Packages installed beside the config win; require.resolve fails for import-only exports.
    return pathToFileURL(createRequire(join(baseDir, 'noop.js')).resolve(spec)).href;
  } catch {
    return spec;
  }
}
