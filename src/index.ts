/** The public API of the game-gateway package. */
export { Gateway, type GatewayOptions, type BoundAddresses } from './gateway.js';
export { buildConfig, loadConfigFile, ConfigError, ENV_OVERRIDES } from './config/load.js';
export type { GatewayConfig, GatewayConfigInput, TargetConfig } from './config/schema.js';
export { Status, type StatusName, type StatusCode, statusRow } from './protocol/status.js';
export { FrameType, encodeFrame, HEADER_BYTES, type Frame } from './protocol/frame.js';
export { FrameDecoder } from './protocol/frame-decoder.js';
export type { Engine, PushResult, PlayerInfo } from './cluster/engine.js';
export type { Transport, Connection } from './transport/connection.js';

import { Gateway, type GatewayOptions } from './gateway.js';

/** Builds a gateway from a config object (validated here) and starts it. */
export async function createGateway(options: GatewayOptions): Promise<Gateway> {
  const gateway = new Gateway(options);
  await gateway.start();
  return gateway;
}
