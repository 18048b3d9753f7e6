import { loadConfigFile } from '../config/load.js';
import { apiTokens, type GatewayConfig, isLoopback, parseAddress } from '../config/schema.js';
import type { Logger } from '../logger.js';
import type { ApiServer } from './api-server.js';

/**
 * SIGHUP: re-reads the config file (with env overrides, validated as at start) and gives
 * the API its `api.tokens` / `api.token`; nothing else of the file is applied. A file that
 * does not validate, or one that leaves no token while the running API listens beyond
 * loopback, keeps the old tokens and logs why. Requests in flight are not affected.
 */
export function reloadApiTokens(
  api: ApiServer,
  path: string | null,
  running: GatewayConfig,
  log: Logger,
  env: NodeJS.ProcessEnv = process.env,
): boolean {
  try {
    const tokens = apiTokens(loadConfigFile(path, env).config.api);
    const at = parseAddress(running.listen.api);
    if (tokens.length === 0 && at !== null && !isLoopback(at.host)) {
      throw new Error(`api.token: no token left while listen.api (${running.listen.api}) is not loopback`);
    }
    api.setTokens(tokens);
    log.info({ tokens: tokens.length, config: path }, 'api tokens reloaded');
    return true;
  } catch (err) {
    log.error({ err: (err as Error).message, config: path }, 'api tokens not reloaded; the old ones stay');
    return false;
  }
}
