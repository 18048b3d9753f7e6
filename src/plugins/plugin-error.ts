/**
 * A plugin that cannot start the gateway: its module did not load, its export is not a
 * plugin, or its setup threw. The message names the plugin (or its module) and its place
 * in `plugins[]`.
 */
export class PluginError extends Error {
  override name = 'PluginError';
  constructor(
    /** The plugin's name, or its module spec when it never loaded far enough to have one. */
    readonly plugin: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
