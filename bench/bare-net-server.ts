/**
 * The idle-memory baseline: a bare `net` server that keeps every socket it accepts (with
 * no-delay and keep-alive like the gateway) and writes one 16-byte frame to each, so both
 * sides hold a socket that has written once. Prints {"port": n}.
 */
import { createServer, type Socket } from 'node:net';
import { encodeFrame, FrameType } from '../src/protocol/frame.js';

const sockets = new Set<Socket>();
const hello = encodeFrame(FrameType.HELLO, 0, 0, 0);
const server = createServer({ noDelay: true, keepAlive: true }, (socket) => {
  sockets.add(socket);
  socket.on('error', () => {});
  socket.on('data', () => {});
  socket.on('close', () => sockets.delete(socket));
  socket.write(hello);
});
server.listen(0, '127.0.0.1', () => {
  const a = server.address();
  process.stdout.write(`${JSON.stringify({ port: typeof a === 'object' && a ? a.port : 0 })}\n`);
});
process.on('SIGTERM', () => process.exit(0));
