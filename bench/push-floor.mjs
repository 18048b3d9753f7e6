/**
 * The floor of bench:push (push.bench.ts forks it): what a push costs with nothing but
 * node:http and one socket write. Every POST is read as a push body; each player named
 * (`f<i>`) gets one PUSH frame written to its connection: the i-th accepted, as the
 * gateway writes to each player's own session.
 * Plain JavaScript, run by plain node, as the gateway runs from dist/: neither pays for
 * the TypeScript loader.
 */
import { createServer as createHttpServer } from 'node:http';
import { createServer as createNetServer } from 'node:net';

const FRAME_PUSH = 5;

function pushFrame(cmd, seq, body) {
  const frame = Buffer.allocUnsafe(16 + body.length);
  frame.writeUInt32BE(12 + body.length, 0);
  frame[4] = FRAME_PUSH;
  frame[5] = 0;
  frame.writeUInt16BE(0, 6);
  frame.writeUInt32BE(cmd, 8);
  frame.writeUInt32BE(seq, 12);
  body.copy(frame, 16);
  return frame;
}

const clients = [];
let seq = 0;
const tcp = createNetServer({ noDelay: true }, (socket) => {
  socket.on('error', () => {});
  socket.on('data', () => {});
  clients.push(socket);
});
const http = createHttpServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const body = JSON.parse(Buffer.concat(chunks).toString());
    const data = Buffer.from(body.data, 'base64');
    const results = {};
    for (const p of body.players) {
      clients[Number(p.slice(1)) % clients.length].write(pushFrame(body.cmd, ++seq, data));
      results[p] = 'delivered';
    }
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ delivered: body.players.length, cached: 0, dropped: 0, results }));
  });
});
http.keepAliveTimeout = 65_000;
process.on('message', (m) => {
  if (m.type === 'clients') process.send({ type: 'clients', connected: clients.length });
});
tcp.listen(0, '127.0.0.1', () =>
  http.listen(0, '127.0.0.1', () => {
    process.send({
      type: 'ready',
      tcpPort: tcp.address().port,
      apiUrl: `http://127.0.0.1:${http.address().port}`,
    });
  }),
);
