/**
 * `game-gateway/client`: the TypeScript client of the gateway's wire protocol (SPEC §3),
 * for Node (tcp:// and ws://) and browsers (ws:// and wss://). Nothing here imports a
 * node: module at load time. See docs/client.md.
 */

export { Status, type StatusCode, type StatusName } from '../protocol/status.js';
export {
  type Body,
  type ClientEvents,
  type ClientState,
  type CloseInfo,
  type ConnectOptions,
  connect,
  type DisconnectInfo,
  type Gap,
  GatewayClient,
  type Hello,
  type Kick,
  type Push,
  type ReconnectOptions,
  Response,
} from './client.js';
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
export type { WebSocketConstructor, WebSocketLike } from './socket.js';
