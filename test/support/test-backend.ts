/**
 * A real HTTP backend process for integration tests. Behaviour is chosen by the cmd
 * (x-gateway-cmd), so one process covers every row of SPEC §4's response table:
 *
 *   1     login: body = player id → 200 + x-gateway-bind (empty body → 401)
 *   2     logout → 200 + x-gateway-unbind: 1
 *   10    echo the body          11  echo + x-gateway-status from the body (decimal)
 *   12    echo + x-gateway-close: bye                13  join groups named in the body
 *   14    leave groups named in the body
 *   401 403 404 418 500 502 503   answer that HTTP status
 *   900   sleep the number of ms in the body, then echo
 *   901   answer a body of N bytes (N in the body)
 *   902   destroy the connection without answering
 *
 * Every request's method, url and headers are kept; GET /__requests returns them and
 * DELETE /__requests clears them. Prints {"port": n} on stdout once listening.
 */

import { Cmd } from './cmds.js';
import { runRecordingBackend } from './recording-backend.js';

runRecordingBackend((req, body, res) => {
  if (req.headers['x-gateway-kind'] === 'event') {
    res.end();
    return;
  }
  const cmd = Number(req.headers['x-gateway-cmd']);
  const text = body.toString('utf8');
  switch (cmd) {
    case Cmd.LOGIN:
      if (text.length === 0) {
        res.statusCode = 401;
        res.end('no player id');
        return;
      }
      res.setHeader('x-gateway-bind', text);
      res.end(`welcome ${text}`);
      return;
    case Cmd.LOGOUT:
      res.setHeader('x-gateway-unbind', '1');
      res.end('bye');
      return;
    case Cmd.ECHO:
      res.end(body);
      return;
    case Cmd.ECHO_STATUS:
      res.setHeader('x-gateway-status', text);
      res.end(body);
      return;
    case Cmd.ECHO_CLOSE:
      res.setHeader('x-gateway-close', 'bye');
      res.end(body);
      return;
    case Cmd.JOIN:
      res.setHeader('x-gateway-join', text);
      res.end();
      return;
    case Cmd.LEAVE:
      res.setHeader('x-gateway-leave', text);
      res.end();
      return;
    case Cmd.SLEEP:
      setTimeout(() => res.end(body), Number(text) || 0);
      return;
    case Cmd.SIZED:
      res.end(Buffer.alloc(Number(text), 0x61));
      return;
    case Cmd.HANG_UP:
      req.socket.destroy();
      return;
    default:
      if (cmd >= 400 && cmd <= 599) {
        res.statusCode = cmd;
        res.end(`status ${cmd}`);
        return;
      }
      res.end(body);
  }
});
