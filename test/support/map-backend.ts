/**
 * A map server process for the map-ownership tests (target map_c). It records requests
 * like test-backend.ts (GET / DELETE /__requests) and answers by cmd:
 *
 *   3001  ENTER_MAP: echo the body, except map 299 → 409 (the map refuses the player)
 *   3002  TELEPORT: body = map id → 200 + x-gateway-map: <id>
 *   3003  answer 200 + x-gateway-map: <body> without checking it (for bad values)
 *   other echo the body
 *
 * Prints {"port": n} on stdout once listening.
 */
import { createServer } from 'node:http';

const seen: Array<{ method: string; url: string; headers: Record<string, unknown>; body: string }> = [];

const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const body = Buffer.concat(chunks);
    if (req.url === '/__requests') {
      if (req.method === 'DELETE') seen.length = 0;
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify(seen));
      return;
    }
    seen.push({
      method: req.method ?? '',
      url: req.url ?? '',
      headers: req.headers,
      body: body.toString('latin1'),
    });
    const text = body.toString('utf8');
    switch (Number(req.headers['x-gateway-cmd'])) {
      case 3001:
        if (text === '299') {
          res.statusCode = 409;
          res.end('map 299 is full');
          return;
        }
        res.end(body);
        return;
      case 3002:
      case 3003:
        res.setHeader('x-gateway-map', text);
        res.end('moved');
        return;
      default:
        res.end(body);
    }
  });
});
server.listen(0, '127.0.0.1', () => {
  const a = server.address();
  process.stdout.write(`${JSON.stringify({ port: typeof a === 'object' && a ? a.port : 0 })}\n`);
});
process.on('SIGTERM', () => process.exit(0));
