/**
 * An example game backend: the kind of small Go-style HTTP service the gateway fronts,
 * written with node:http so the demo needs nothing else. One POST endpoint per cmd
 * (`/game/{cmd}`, the gateway's `{cmd}` placeholder), plus lifecycle events.
 *
 *   1001 LOGIN   body: player name → binds the session (x-gateway-bind), joins group "world"
 *   1002 LOGOUT  → x-gateway-unbind
 *   2001 MOVE    body: {"x":n,"y":n} → pushes the new position to everyone in "world"
 *   2002 LOOK    → the positions of every player, as JSON
 *   2003 SAY     body: text → broadcast as PUSH cmd 5003
 *   2004 ECHO    → the body, unchanged
 *
 * Pushes go back through the gateway's push API (GATEWAY_API, default http://127.0.0.1:7002).
 * Run alone: `npx tsx examples/backend.ts` (PORT, default 8081).
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';

export const Cmd = { LOGIN: 1001, LOGOUT: 1002, MOVE: 2001, LOOK: 2002, SAY: 2003, ECHO: 2004 } as const;
/** PUSH cmds the backend sends. */
export const PushCmd = { MOVED: 5001, LEFT: 5002, SAID: 5003 } as const;

export interface ExampleBackend {
  port: number;
  close(): Promise<void>;
}

export function startExampleBackend(
  port = 0,
  /** The gateway's API base URL, or a function giving it (when it is bound after the backend). */
  gatewayApi: string | (() => string) = 'http://127.0.0.1:7002',
  log: (line: string) => void = () => {},
): Promise<ExampleBackend> {
  const api = typeof gatewayApi === 'function' ? gatewayApi : () => gatewayApi;
  const positions = new Map<string, { x: number; y: number }>();

  const push = (path: string, body: unknown): void => {
    fetch(`${api()}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    }).catch((err: Error) => log(`push failed: ${err.message}`));
  };
  const data = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64');

  const handle = (req: IncomingMessage, body: Buffer, res: ServerResponse): void => {
    const player = req.headers['x-gateway-player'] as string | undefined;
    if (req.headers['x-gateway-kind'] === 'event') {
      const event = req.headers['x-gateway-event'];
      log(`event ${event} ${player}`);
      if (event === 'offline' && player) {
        positions.delete(player);
        push('/v1/groups/world/push', { cmd: PushCmd.LEFT, data: data({ player }) });
      }
      res.end();
      return;
    }
    const cmd = Number(req.headers['x-gateway-cmd']);
    switch (cmd) {
      case Cmd.LOGIN: {
        const name = body.toString('utf8').trim();
        if (!/^[\w-]{1,32}$/.test(name)) {
          res.writeHead(401).end('a player name is 1-32 letters, digits, _ or -');
          return;
        }
        positions.set(name, positions.get(name) ?? { x: 0, y: 0 });
        res.setHeader('x-gateway-bind', name);
        res.setHeader('x-gateway-join', 'world');
        res.end(JSON.stringify({ player: name, position: positions.get(name) }));
        return;
      }
      case Cmd.LOGOUT:
        res.setHeader('x-gateway-unbind', '1');
        res.end();
        return;
      case Cmd.MOVE: {
        let pos: { x: number; y: number };
        try {
          pos = JSON.parse(body.toString('utf8'));
        } catch {
          res.writeHead(400).end('body must be {"x":n,"y":n}');
          return;
        }
        positions.set(player!, { x: Number(pos.x) || 0, y: Number(pos.y) || 0 });
        push('/v1/groups/world/push', {
          cmd: PushCmd.MOVED,
          data: data({ player, ...positions.get(player!) }),
        });
        res.end(JSON.stringify({ ok: true }));
        return;
      }
      case Cmd.LOOK:
        res.end(JSON.stringify(Object.fromEntries(positions)));
        return;
      case Cmd.SAY:
        push('/v1/broadcast', { cmd: PushCmd.SAID, data: data({ player, text: body.toString('utf8') }) });
        res.end();
        return;
      case Cmd.ECHO:
        res.end(body);
        return;
      default:
        res.writeHead(404).end(`unknown cmd ${cmd}`);
    }
  };

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => handle(req, Buffer.concat(chunks), res));
  });
  server.keepAliveTimeout = 60_000;
  return new Promise((resolve) => {
    server.listen(port, '127.0.0.1', () => {
      const a = server.address();
      resolve({
        port: typeof a === 'object' && a ? a.port : port,
        close: () =>
          new Promise<void>((r) => {
            server.close(() => r());
            server.closeAllConnections();
          }),
      });
    });
  });
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const backend = await startExampleBackend(
    Number(process.env.PORT ?? 8081),
    process.env.GATEWAY_API,
    console.log,
  );
  console.log(`example backend on 127.0.0.1:${backend.port}`);
}
