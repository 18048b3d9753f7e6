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
import { runRecordingBackend } from './recording-backend.js';

runRecordingBackend((req, body, res) => {
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
