/**
 * Broadcast fan-out benchmark (npm run bench:broadcast). Side by side in one run:
 *
 *   gateway  SESSIONS clients logged in to a gateway (its own process, api.token set, a
 *            tiny login backend in this process); BROADCASTS calls of POST /v1/broadcast,
 *            one after the other, each awaited.
 *   bare     the same clients connected to a bare `net` server (its own process) that
 *            writes one prebuilt PUSH frame of the same size to every socket, BROADCASTS
 *            rounds, one round per turn of its event loop.
 *
 * Deliveries are PUSH frames counted by the clients (one more process, shared by both
 * sides); the rate is deliveries / (first broadcast sent → last frame counted). CPU per
 * delivery is the serving process's own process.cpuUsage() over the same span. Each side
 * is measured ROUNDS times and the median is printed, so one burst of noise from another
 * process on the machine skews one sample, not the result. Ratios are what to compare
 * across runs; absolute numbers drift on a shared machine.
 *
 * The roles are this one file: `broadcast.bench.ts [gateway|bare|clients]`, over IPC.
 *
 * env: SESSIONS (10000), BROADCASTS (20), ROUNDS (5), BODY_BYTES (100)
 */
import { type ChildProcess, execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { connect, createServer, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { FrameCounter, forkRole, stop } from './lib.js';

const SESSIONS = Number(process.env.SESSIONS ?? 10_000);
const BROADCASTS = Number(process.env.BROADCASTS ?? 20);
const ROUNDS = Number(process.env.ROUNDS ?? 5);
const BODY_BYTES = Number(process.env.BODY_BYTES ?? 100);
const TOKEN = 'bench-token';
const PUSH_CMD = 7001;
const FRAME_PUSH = 5;
const FRAME_RESPONSE = 3;
const FRAME_HELLO = 1;
const CONNECT_BATCH = 500;
/** Most time any one phase may take before the bench gives up (everything is bounded). */
const PHASE_TIMEOUT_MS = 60_000;

type Message = { type: string; [key: string]: unknown };
interface Cpu {
  user: number;
  system: number;
}

const file = fileURLToPath(import.meta.url);
const role = process.argv[2] ?? 'main';

// ---------------------------------------------------------------- IPC plumbing

function send(msg: Message): void {
  process.send!(msg);
}

/** Sends `msg` to a child and resolves with its next message of type `reply`. */
function ask<T extends Message>(child: ChildProcess, msg: Message, reply: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`no "${reply}" within ${PHASE_TIMEOUT_MS} ms`)),
      PHASE_TIMEOUT_MS,
    );
    const onMessage = (m: Message): void => {
      if (m.type !== reply) return;
      clearTimeout(timer);
      child.off('message', onMessage);
      resolve(m as T);
    };
    child.on('message', onMessage);
    child.send(msg);
  });
}

const children = new Set<ChildProcess>();
function spawnRole(name: string): Promise<ChildProcess> {
  return forkRole(file, name, (child) => {
    children.add(child);
    child.on('exit', () => children.delete(child));
  });
}

function cpuDelta(a: Cpu, b: Cpu): number {
  return b.user - a.user + (b.system - a.system);
}

// ---------------------------------------------------------------- role: gateway

async function gatewayRole(): Promise<void> {
  const { Gateway } = await import('../src/gateway.js');
  const { createLogger } = await import('../src/logger.js');
  let gateway: InstanceType<typeof Gateway> | null = null;
  process.on('message', async (m: Message) => {
    if (m.type === 'start') {
      gateway = new Gateway({
        config: {
          node: { id: 'bench' },
          listen: { tcp: '127.0.0.1:0', api: '127.0.0.1:0' },
          targets: { login: { url: `${m.backendUrl}/login`, timeoutMs: 10_000, connections: 32 } },
          routes: [{ cmds: 1, target: 'login' }],
          auth: { required: true, anonymousCmds: [1], timeoutMs: 600_000 },
          heartbeat: { intervalMs: 60_000, timeoutMs: 600_000 },
          limits: { maxConnections: 100_000 },
          api: { token: TOKEN },
        },
        logger: createLogger('warn'),
      });
      const bound = await gateway.start();
      send({ type: 'started', tcpPort: Number(bound.tcp!.split(':').pop()), apiUrl: `http://${bound.api}` });
    } else if (m.type === 'cpu') {
      send({ type: 'cpu', cpu: process.cpuUsage() });
    } else if (m.type === 'stop') {
      await gateway?.stop();
      send({ type: 'stopped' });
      process.exit(0);
    }
  });
  send({ type: 'ready' });
}

// ---------------------------------------------------------------- role: bare

function bareRole(): void {
  const sockets: Socket[] = [];
  const server = createServer({ noDelay: true, keepAlive: true }, (socket) => {
    socket.on('error', () => {});
    socket.on('data', () => {});
    sockets.push(socket);
    socket.on('close', () => {
      const i = sockets.indexOf(socket);
      if (i >= 0) sockets.splice(i, 1);
    });
  });
  server.listen({ host: '127.0.0.1', port: 0, backlog: 4096 });
  process.on('message', (m: Message) => {
    if (m.type === 'listen') {
      const a = server.address();
      send({ type: 'listening', port: typeof a === 'object' && a ? a.port : 0 });
    } else if (m.type === 'cpu') {
      send({ type: 'cpu', cpu: process.cpuUsage() });
    } else if (m.type === 'run') {
      // The same frame a broadcast would produce (header with seq 0, then the body).
      const frame = Buffer.alloc(16 + BODY_BYTES, 0x62);
      frame.writeUInt32BE(12 + BODY_BYTES, 0);
      frame[4] = FRAME_PUSH;
      frame[5] = 0;
      frame.writeUInt16BE(0, 6);
      frame.writeUInt32BE(PUSH_CMD, 8);
      frame.writeUInt32BE(0, 12);
      let left = Number(m.rounds);
      const round = (): void => {
        for (let i = 0; i < sockets.length; i++) sockets[i].write(frame);
        if (--left > 0) setImmediate(round);
        else send({ type: 'ran', sockets: sockets.length });
      };
      round();
    }
  });
  send({ type: 'ready' });
}

// ---------------------------------------------------------------- role: clients

function clientsRole(): void {
  let sockets: Socket[] = [];
  let pushes = 0;
  let target = Number.POSITIVE_INFINITY;
  let cpuAt: Cpu = process.cpuUsage();

  const onPush = (): void => {
    if (++pushes === target) {
      target = Number.POSITIVE_INFINITY;
      send({ type: 'received', count: pushes, cpu: cpuDelta(cpuAt, process.cpuUsage()) });
    }
  };

  /** Connects one socket; with `login`, logs in as `player` after HELLO. Resolves when ready. */
  const open = (port: number, player: string | null): Promise<boolean> =>
    new Promise((resolve) => {
      const socket = connect({ host: '127.0.0.1', port, noDelay: true });
      let done = false;
      const finish = (ok: boolean): void => {
        if (!done) {
          done = true;
          resolve(ok);
        }
      };
      const counter = new FrameCounter((type, status) => {
        if (type === FRAME_PUSH) onPush();
        else if (type === FRAME_HELLO && player !== null) {
          const body = Buffer.from(player);
          const frame = Buffer.alloc(16 + body.length);
          frame.writeUInt32BE(12 + body.length, 0);
          frame[4] = 2; // REQUEST
          frame.writeUInt32BE(1, 8); // cmd 1: login
          frame.writeUInt32BE(1, 12); // seq 1
          body.copy(frame, 16);
          socket.write(frame);
        } else if (type === FRAME_RESPONSE) finish(status === 0);
      });
      socket.on('data', (chunk) => counter.push(chunk));
      socket.on('error', () => finish(false));
      socket.on('close', () => finish(false));
      socket.on('connect', () => {
        sockets.push(socket);
        if (player === null) finish(true);
      });
    });

  process.on('message', async (m: Message) => {
    if (m.type === 'connect') {
      const n = Number(m.n);
      let ok = 0;
      const t0 = performance.now();
      for (let i = 0; i < n; i += CONNECT_BATCH) {
        const batch: Array<Promise<boolean>> = [];
        for (let j = i; j < Math.min(n, i + CONNECT_BATCH); j++) {
          batch.push(open(Number(m.port), m.login ? `p${j}` : null));
        }
        for (const r of await Promise.all(batch)) if (r) ok++;
      }
      send({ type: 'connected', ok, ms: performance.now() - t0 });
    } else if (m.type === 'expect') {
      pushes = 0;
      target = Number(m.total);
      cpuAt = process.cpuUsage();
      send({ type: 'expecting' });
    } else if (m.type === 'count') {
      send({ type: 'count', count: pushes });
    } else if (m.type === 'close') {
      for (const s of sockets) s.destroy();
      sockets = [];
      send({ type: 'closed' });
    }
  });
  send({ type: 'ready' });
}

// ---------------------------------------------------------------- orchestrator

interface Sample {
  deliveriesPerSec: number;
  cpuUsPerDelivery: number;
  clientCpuShare: number;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

function summarize(samples: Sample[]): Sample {
  return {
    deliveriesPerSec: median(samples.map((s) => s.deliveriesPerSec)),
    cpuUsPerDelivery: median(samples.map((s) => s.cpuUsPerDelivery)),
    clientCpuShare: median(samples.map((s) => s.clientCpuShare)),
  };
}

/** Waits for the clients to count `total` pushes; the promise also reports a timeout with the partial count. */
async function received(clients: ChildProcess, total: number): Promise<{ cpu: number }> {
  try {
    return await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('timeout')), PHASE_TIMEOUT_MS);
      const on = (m: Message): void => {
        if (m.type !== 'received') return;
        clearTimeout(timer);
        clients.off('message', on);
        resolve({ cpu: Number(m.cpu) });
      };
      clients.on('message', on);
    });
  } catch {
    const { count } = await ask<Message & { count: number }>(clients, { type: 'count' }, 'count');
    throw new Error(`clients counted ${count} of ${total} pushes within ${PHASE_TIMEOUT_MS} ms`);
  }
}

/** One measured batch: `fire` sends the broadcasts; the clients count them in. */
async function measure(
  clients: ChildProcess,
  server: ChildProcess,
  sessions: number,
  broadcasts: number,
  fire: () => Promise<void>,
): Promise<Sample> {
  const total = sessions * broadcasts;
  await ask(clients, { type: 'expect', total }, 'expecting');
  const got = received(clients, total);
  const cpu0 = (await ask<Message & { cpu: Cpu }>(server, { type: 'cpu' }, 'cpu')).cpu;
  const t0 = performance.now();
  await fire();
  const { cpu: clientCpu } = await got;
  const seconds = (performance.now() - t0) / 1000;
  const cpu1 = (await ask<Message & { cpu: Cpu }>(server, { type: 'cpu' }, 'cpu')).cpu;
  return {
    deliveriesPerSec: total / seconds,
    cpuUsPerDelivery: cpuDelta(cpu0, cpu1) / total,
    clientCpuShare: clientCpu / 1e6 / seconds,
  };
}

function openFileLimit(): number {
  try {
    return Number(execFileSync('/bin/sh', ['-c', 'ulimit -n']).toString().trim());
  } catch {
    return Number.NaN;
  }
}

async function main(): Promise<void> {
  const watchdog = setTimeout(() => {
    console.error('broadcast bench: over 170 s, giving up');
    for (const c of children) c.kill('SIGKILL');
    process.exit(1);
  }, 170_000);
  watchdog.unref();

  let sessions = SESSIONS;
  const limit = openFileLimit();
  if (Number.isFinite(limit) && limit < sessions + 256) {
    const fitted = Math.max(100, limit - 256);
    console.log(
      `ulimit -n is ${limit}: too low for ${sessions} sessions per process; running ${fitted}. ` +
        'Raise it (ulimit -n 65536) for the full run.',
    );
    sessions = fitted;
  }
  const ports = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8')
    .trim()
    .split(/\s+/)
    .map(Number);
  console.log(
    `broadcast bench: ${sessions} sessions, ${BROADCASTS} broadcasts × ${ROUNDS} rounds, ` +
      `body ${BODY_BYTES} B; ulimit -n ${limit}; ephemeral ports ${ports[0]}-${ports[1]}`,
  );

  // The login backend: binds each session to the player id in its body.
  const backend = createHttpServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      res.setHeader('x-gateway-bind', Buffer.concat(chunks).toString());
      res.end();
    });
  });
  backend.keepAliveTimeout = 60_000;
  await new Promise<void>((r) => backend.listen(0, '127.0.0.1', r));
  const backendPort = (backend.address() as { port: number }).port;

  const clients = await spawnRole('clients');

  // --- the gateway
  const gatewayChild = await spawnRole('gateway');
  const started = await ask<Message & { tcpPort: number; apiUrl: string }>(
    gatewayChild,
    { type: 'start', backendUrl: `http://127.0.0.1:${backendPort}` },
    'started',
  );
  const conn = await ask<Message & { ok: number; ms: number }>(
    clients,
    { type: 'connect', port: started.tcpPort, n: sessions, login: true },
    'connected',
  );
  if (conn.ok !== sessions) throw new Error(`only ${conn.ok} of ${sessions} sessions logged in`);
  console.log(`gateway: ${sessions} sessions connected and logged in in ${(conn.ms / 1000).toFixed(1)} s`);

  const body = Buffer.alloc(BODY_BYTES, 0x62).toString('base64');
  const broadcastOnce = async (): Promise<void> => {
    const res = await fetch(`${started.apiUrl}/v1/broadcast`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ cmd: PUSH_CMD, data: body }),
    });
    const answer = (await res.json()) as { delivered: number };
    if (answer.delivered !== sessions)
      throw new Error(`broadcast delivered ${answer.delivered}, not ${sessions}`);
  };
  const gatewayFire = (n: number) => async (): Promise<void> => {
    for (let i = 0; i < n; i++) await broadcastOnce();
  };

  const gatewaySamples: Sample[] = [];
  await measure(clients, gatewayChild, sessions, 3, gatewayFire(3)); // warm-up
  for (let r = 0; r < ROUNDS; r++) {
    gatewaySamples.push(await measure(clients, gatewayChild, sessions, BROADCASTS, gatewayFire(BROADCASTS)));
  }
  await ask(clients, { type: 'close' }, 'closed');
  await ask(gatewayChild, { type: 'stop' }, 'stopped').catch(() => {});
  await stop(gatewayChild);
  backend.close();

  // --- the bare net server
  const bare = await spawnRole('bare');
  const { port } = await ask<Message & { port: number }>(bare, { type: 'listen' }, 'listening');
  const bareConn = await ask<Message & { ok: number }>(
    clients,
    { type: 'connect', port, n: sessions, login: false },
    'connected',
  );
  if (bareConn.ok !== sessions)
    throw new Error(`only ${bareConn.ok} of ${sessions} sockets connected to the bare server`);
  // Every accepted socket must be in the server's list before a round starts.
  await new Promise((r) => setTimeout(r, 200));
  const bareFire = (n: number) => async (): Promise<void> => {
    const ran = await ask<Message & { sockets: number }>(bare, { type: 'run', rounds: n }, 'ran');
    if (ran.sockets !== sessions)
      throw new Error(`bare server holds ${ran.sockets} sockets, not ${sessions}`);
  };
  const bareSamples: Sample[] = [];
  await measure(clients, bare, sessions, 3, bareFire(3)); // warm-up
  for (let r = 0; r < ROUNDS; r++) {
    bareSamples.push(await measure(clients, bare, sessions, BROADCASTS, bareFire(BROADCASTS)));
  }
  await ask(clients, { type: 'close' }, 'closed');
  await stop(bare);
  await stop(clients);

  const g = summarize(gatewaySamples);
  const b = summarize(bareSamples);
  const row = (name: string, s: Sample): string =>
    `${name.padEnd(9)} ${Math.round(s.deliveriesPerSec).toLocaleString('en-US').padStart(12)} deliveries/s` +
    `   ${s.cpuUsPerDelivery.toFixed(2).padStart(6)} µs CPU/delivery` +
    `   (clients process busy ${(s.clientCpuShare * 100).toFixed(0)}% of a core)`;
  console.log('');
  console.log(`median of ${ROUNDS} rounds, ${sessions * BROADCASTS} deliveries each:`);
  console.log(row('gateway', g));
  console.log(row('bare net', b));
  console.log(
    `ratio     gateway/bare rate ${(g.deliveriesPerSec / b.deliveriesPerSec).toFixed(2)}` +
      `   gateway/bare CPU per delivery ${(g.cpuUsPerDelivery / b.cpuUsPerDelivery).toFixed(2)}`,
  );
  console.log(
    JSON.stringify({
      sessions,
      broadcasts: BROADCASTS,
      rounds: ROUNDS,
      bodyBytes: BODY_BYTES,
      gateway: g,
      bare: b,
      rateRatio: g.deliveriesPerSec / b.deliveriesPerSec,
      cpuRatio: g.cpuUsPerDelivery / b.cpuUsPerDelivery,
      samples: { gateway: gatewaySamples, bare: bareSamples },
    }),
  );
  clearTimeout(watchdog);
}

process.on('exit', () => {
  for (const c of children) c.kill('SIGKILL');
});

// A role child never outlives the run that started it.
if (role !== 'main') process.on('disconnect', () => process.exit(0));
if (role === 'gateway') await gatewayRole();
else if (role === 'bare') bareRole();
else if (role === 'clients') clientsRole();
else
  await main().catch((err: Error) => {
    console.error(`broadcast bench failed: ${err.message}`);
    for (const c of children) c.kill('SIGKILL');
    process.exit(1);
  });
