/**
 * `game-gateway/client`: the TypeScript client of the gateway's wire protocol (docs/protocol.md),
 * for Node (tcp:// and ws://) and browsers (ws:// and wss://). Nothing here imports a
 * node: module at load time. See docs/client.md.
 */

export { Status, type StatusCode, type StatusName } from '../protocol/status.js';
export { type ConnectOptions, connect, GatewayClient } from './client.js';
export {
  decodeFrame,
  encodeFrame,
  FrameError,
  FrameReader,
  FrameType,
  toBytes,
  utf8,
  type WireFrame,
} from './codec.js';
export { ClientStatus, type ClientStatusName, GatewayError, statusName } from './errors.js';
export { RECONNECT_AFTER_KICK, shouldReconnectByDefault } from './reconnect-policy.js';
export { Response } from './response.js';
export type { WebSocketConstructor, WebSocketLike } from './socket.js';
export type {
  Body,
  ClientEvents,
  ClientState,
  CloseInfo,
  DisconnectCause,
  DisconnectInfo,
  Gap,
  Hello,
  Kick,
  Push,
  ReconnectOptions,
} from './types.js';
