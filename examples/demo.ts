/**
 * npm run demo: the gateway on its embedded default plus everything around it, in one
 * process and with no external service:
 *   - the example game backend (examples/backend.ts),
 *   - the gateway (TCP :7000, WebSocket :7001, API :7002),
 *   - a scripted client that logs in and sends requests, printing what flows,
 *   - a few bots wandering on the map through the client SDK,
 *   - a web page on http://127.0.0.1:8088/ that shows the world and the bots moving at
 *     once (LOOK, anonymous), logs in over WebSocket, draws everyone from the pushes, logs
 *     every frame it sends and receives, and shows live gateway figures.
 *
 * Flags: --once (run the script and exit), --no-script (skip it), --bots N (default 3),
 * --backend go (the same backend written in Go with the Go SDK: examples/go-backend; needs `go`).
 * DEMO_PORTS=0 picks free ports for everything (tests); then a JSON line reports them.
 */
import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { extname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { connect, type GatewayClient, utf8 } from '../src/client/index.js';
import { Gateway } from '../src/gateway.js';
import { createLogger } from '../src/logger.js';
import { Cmd, PushCmd, startExampleBackend } from './backend.js';
import { prepareGoBackend } from './go-backend/launch.js';

const { values: flags } = parseArgs({
  options: {
    once: { type: 'boolean', default: false },
    'no-script': { type: 'boolean', default: false },
    bots: { type: 'string', default: '3' },
    backend: { type: 'string', default: 'node' },
  },
});
const free = process.env.DEMO_PORTS === '0';
const port = (n: number): number => (free ? 0 : n);
const root = fileURLToPath(new URL('..', import.meta.url));
const say = (line: string): void => console.log(line);

// The gateway's API address must be known to the backend before either starts; with
// free ports we bind the gateway first and point the backend at it afterwards.
let apiUrl = `http://127.0.0.1:${port(7002)}`;
if (flags.backend !== 'node' && flags.backend !== 'go') {
  console.error(`--backend is node or go, not ${flags.backend}`);
  process.exit(1);
}
// The Go backend is given the API's address when it starts, so it starts after the gateway.
const goBackend = flags.backend === 'go' ? await prepareGoBackend(port(8081)) : null;
const backend =
  goBackend ??
  (await startExampleBackend(
    port(8081),
    () => apiUrl,
    (l) => say(`  [backend] ${l}`),
  ));

const gateway = new Gateway({
  config: {
    node: { id: 'gw-demo' },
    listen: { tcp: `127.0.0.1:${port(7000)}`, ws: `127.0.0.1:${port(7001)}`, api: `127.0.0.1:${port(7002)}` },
    targets: { game: { url: `http://127.0.0.1:${backend.port}/game/{cmd}`, timeoutMs: 2_000 } },
    routes: [{ cmds: '1000-2999', target: 'game' }],
    // LOOK is anonymous so the page shows the world (polling LOOK) before one joins, and
    // a visitor may watch for an hour before the auth timeout kicks the unjoined session.
    auth: { anonymousCmds: [Cmd.LOGIN, Cmd.LOOK], timeoutMs: 3_600_000 },
    events: { target: 'game' },
    heartbeat: { intervalMs: 5_000, timeoutMs: 15_000 },
  },
  logger: createLogger(process.env.GATEWAY_LOG_LEVEL ?? 'warn'),
});
const bound = await gateway.start();
apiUrl = `http://${bound.api}`;
await goBackend?.start(apiUrl, (l) => say(`  [backend] ${l}`));
const page = await servePage(port(8088), bound, apiUrl);
const pageUrl = `http://127.0.0.1:${(page.address() as { port: number }).port}/`;

say(`gateway  tcp://${bound.tcp}  ws://${bound.ws}  api ${apiUrl}`);
say(`backend  http://127.0.0.1:${backend.port}/game/{cmd}`);
if (free) say(JSON.stringify({ pageUrl, tcp: bound.tcp, ws: bound.ws, api: bound.api }));

if (!flags['no-script']) await script(`tcp://${bound.tcp}`);

const bots: GatewayClient[] = [];
if (!flags.once) {
  for (let i = 1; i <= Number(flags.bots); i++) bots.push(await bot(`ws://${bound.ws}/`, `bot-${i}`));
  say(`\n${bots.length} bots are walking. Open ${pageUrl} to join them. Ctrl-C stops.`);
}

const shutdown = async (): Promise<void> => {
  await Promise.all(bots.map((b) => b.close()));
  await gateway.stop();
  await backend.close();
  page.close();
  process.exit(0);
};
process.on('SIGINT', shutdown);
process.on('SIGTERM', shutdown);
if (flags.once) await shutdown();

/** The scripted client: every frame in and out is printed. */
async function script(url: string): Promise<void> {
  say('\n— scripted client —');
  const client = await connect(url);
  say(`← HELLO ${JSON.stringify(client.hello)}`);
  client.on('push', (p) => say(`← PUSH cmd ${p.cmd} seq ${p.seq} ${utf8(p.body)}`));
  const call = async (name: string, cmd: number, body = ''): Promise<void> => {
    say(`→ REQUEST ${name} (cmd ${cmd}) ${body}`);
    const r = await client.request(cmd, body);
    say(`← RESPONSE status ${r.status}${r.ok ? '' : ` ${r.statusName}`} ${r.text()}`);
  };
  await call('ECHO before login', Cmd.ECHO, 'hello?');
  await call('LOGIN', Cmd.LOGIN, 'alice');
  await call('MOVE', Cmd.MOVE, JSON.stringify({ x: 3, y: 4 }));
  await call('LOOK', Cmd.LOOK);
  await call('SAY', Cmd.SAY, 'hi everyone');
  await call('ECHO', Cmd.ECHO, 'round trip');
  say('→ push through the API: POST /v1/push {"players":["alice"],"cmd":42,"data":"…"}');
  const pushed = await fetch(`${apiUrl}/v1/push`, {
    method: 'POST',
    body: JSON.stringify({
      players: ['alice', 'nobody'],
      cmd: 42,
      data: Buffer.from('a gift').toString('base64'),
    }),
  });
  say(`  API answered ${await pushed.text()}`);
  await new Promise((r) => setTimeout(r, 200));
  const stats = await (await fetch(`${apiUrl}/v1/stats`)).json();
  say(`  GET /v1/stats ${JSON.stringify(stats)}`);
  await call('LOGOUT', Cmd.LOGOUT);
  await client.close();
  say('— done —');
}

/** A bot: logs in over WebSocket and takes a random step every 700 ms. */
async function bot(url: string, name: string): Promise<GatewayClient> {
  const client = await connect(url, {
    reconnect: true,
    onReconnect: async (c) => {
      await c.request(Cmd.LOGIN, name);
    },
  });
  await client.request(Cmd.LOGIN, name);
  let x = Math.floor(Math.random() * 20);
  let y = Math.floor(Math.random() * 20);
  const timer = setInterval(() => {
    x = Math.max(0, Math.min(19, x + Math.round(Math.random() * 2 - 1)));
    y = Math.max(0, Math.min(19, y + Math.round(Math.random() * 2 - 1)));
    if (client.connected) client.request(Cmd.MOVE, JSON.stringify({ x, y })).catch(() => {});
  }, 700);
  client.on('close', () => clearInterval(timer));
  return client;
}

/** The page, the SDK (dist/, as browser ES modules) and a same-origin proxy for /v1/stats. */
function servePage(listenPort: number, addrs: { ws: string | null }, api: string): Promise<Server> {
  const types: Record<string, string> = {
    '.html': 'text/html',
    '.js': 'text/javascript',
    '.css': 'text/css',
  };
  const server = createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://demo');
    try {
      if (url.pathname === '/config.json') {
        const wsPort = Number(addrs.ws?.split(':').pop());
        res
          .writeHead(200, { 'content-type': 'application/json' })
          .end(JSON.stringify({ wsPort, cmd: Cmd, push: PushCmd }));
        return;
      }
      if (url.pathname === '/stats') {
        const r = await fetch(`${api}/v1/stats`);
        res.writeHead(r.status, { 'content-type': 'application/json' }).end(await r.text());
        return;
      }
      const file = url.pathname.startsWith('/sdk/')
        ? join(root, 'dist', normalize(url.pathname.slice(5)).replace(/^(\.\.[/\\])+/, ''))
        : join(
            root,
            'examples/demo-page',
            url.pathname === '/' ? 'index.html' : normalize(url.pathname).slice(1),
          );
      const body = await readFile(file);
      res.writeHead(200, { 'content-type': types[extname(file)] ?? 'application/octet-stream' }).end(body);
    } catch {
      res.writeHead(404).end('not found');
    }
  });
  return new Promise((resolve) => server.listen(listenPort, '127.0.0.1', () => resolve(server)));
}
