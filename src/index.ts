/** The public API of the game-gateway package. */

export type { Directives } from './backend/backend-call.js';
export type { CmdSpec } from './config/cmd-set.js';
export { buildConfig, ConfigError, ENV_OVERRIDES, loadConfigFile } from './config/load.js';
export type { GatewayConfig, GatewayConfigInput, TargetConfig } from './config/schema.js';
export { type BoundAddresses, Gateway, type GatewayOptions } from './gateway.js';
export type { PlayerInfo, PushResult } from './players/engine.js';
export type { PlayerService } from './players/player-service.js';
export { HOOK_NAMES, type HookName, type Hooks } from './plugins/hooks.js';
export {
  type BindContext,
  type Body,
  definePlugin,
  type LocalHandler,
  type LocalReply,
  type MaybeReply,
  type Plugin,
  type PluginApi,
  type PluginMetrics,
  type PluginSession,
  type RequestContext,
  type ResponseContext,
  type SessionCloseContext,
} from './plugins/plugin.js';
export { PluginError } from './plugins/plugin-error.js';
export { encodeFrame, type Frame, FrameType, HEADER_BYTES } from './protocol/frame.js';
export { FrameDecoder } from './protocol/frame-decoder.js';
export { Status, type StatusCode, type StatusName, statusRow } from './protocol/status.js';
export type { Connection, Transport } from './transport/connection.js';

import { Gateway, type GatewayOptions } from './gateway.js';

/** Builds a gateway from a config object (validated here) and starts it. */
export async function createGateway(options: GatewayOptions): Promise<Gateway> {
  const gateway = new Gateway(options);
  await gateway.start();
  return gateway;
}
