/**
 * Holds N idle TCP connections to PORT (in its own process, so the measured server pays
 * only for its side). With LOGIN_CMD set, each connection logs in as p<i> first.
 * Prints {"ready": N} once all are connected (and logged in), then keeps them open,
 * sending a PING every PING_MS so the gateway's heartbeat does not kick them.
 * usage: idle-clients.ts PORT N [LOGIN_CMD]
 */
import { connect, type Socket } from 'node:net';
import { encodeFrame, FrameType } from '../src/protocol/frame.js';
import { FrameDecoder } from '../src/protocol/frame-decoder.js';

const [portArg, countArg, loginArg] = process.argv.slice(2);
const port = Number(portArg);
const count = Number(countArg);
const loginCmd = loginArg ? Number(loginArg) : null;
const sockets: Socket[] = [];
let ready = 0;

function open(i: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: '127.0.0.1' });
    sockets.push(socket);
    socket.once('error', reject);
    if (loginCmd === null) {
      socket.once('connect', () => resolve());
      return;
    }
    const decoder = new FrameDecoder(1 << 20, (type, status) => {
      if (type === FrameType.HELLO)
        socket.write(encodeFrame(FrameType.REQUEST, 0, loginCmd, 1, Buffer.from(`p${i}`)));
      else if (type === FrameType.RESPONSE) {
        if (status !== 0) reject(new Error(`login failed with status ${status}`));
        else resolve();
      }
    });
    socket.on('data', (chunk) => decoder.push(chunk));
  });
}

// Open in batches so the accept backlog never overflows.
for (let i = 0; i < count; i += 500) {
  await Promise.all(Array.from({ length: Math.min(500, count - i) }, (_, k) => open(i + k)));
  ready = Math.min(count, i + 500);
}
const ping = encodeFrame(FrameType.PING, 0, 0, 0);
setInterval(
  () => {
    for (const s of sockets) s.write(ping);
  },
  Number(process.env.PING_MS ?? 5_000),
);
process.stdout.write(`${JSON.stringify({ ready })}\n`);
process.on('SIGTERM', () => process.exit(0));
