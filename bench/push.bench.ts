/**
 * Push path benchmark (npm run bench:push; issue 17). Side by side in one run, interleaved
 * over ROUNDS rounds (the order reversed every other round), medians reported:
 *
 *   floor         a bare `node:http` server (its own process) doing the least a push can:
 *                 read the JSON body of POST /v1/push, JSON.parse it, decode the base64
 *                 payload, one raw socket write of a PUSH frame of the same size to the
 *                 player's connection (PLAYERS connections, as the gateway holds), answer JSON
 *   local         POST /v1/push on one gateway node, in-memory engine (cluster.engine local)
 *   local-binary  the same node, the same pushes as application/octet-stream (?players=&cmd=)
 *   redis-local   cluster.engine redis: nodes A and B on a private redis-server, PLAYERS
 *                 players bound on B, pushes sent to B
 *   redis-cross   the same players, pushes sent to A: routed to B (over the node link, or
 *                 Redis with LINKS=0), acknowledged by B before A answers
 *   broadcast     POST /v1/broadcast to SESSIONS sessions, Redis engine: one gateway process
 *                 (bcast-1) against the CLI with --workers 2 (bcast-w2: the primary and two
 *                 workers), each on its own redis-server
 *
 * The pushes run with one player per call (PUSHES per scenario-round; API answer p50/p99
 * with CONCURRENCY calls in flight) and BATCH players per call (BATCH_PUSHES messages), all
 * 100-byte payloads; the floor runs one player per call only. Broadcasts are BROADCASTS
 * calls one after the other, each awaited.
 *
 * CPU per push is the user+system time (/proc/<pid>/stat) of every process of the scenario
 * (each gateway process, the --workers primary included, and its redis-server; both Redis
 * scenarios count A, B and their redis-server, A being idle in redis-local), over the
 * span from the first call sent to the last PUSH frame counted, divided by the PUSH frames
 * the clients counted. The clients (their own processes: one for the pushes, one per
 * broadcast setup) count every PUSH frame, so a lost one is reported, not hidden; pushes/s
 * is counted by them too. The load (undici pools) and the login backend run in this
 * process; none of their CPU is counted. Targets are reported, not asserted: exit 0.
 *
 * The gateways run from dist/ (plain node, as in production; the npm script builds first),
 * the floor is plain JavaScript (push-floor.mjs): neither pays for the TypeScript loader.
 * The clients are a role of this file (`push.bench.ts clients`), over IPC.
 *
 * env: PUSHES (20000), BATCH_PUSHES (5 × PUSHES), PLAYERS (2000 on each of local and B),
 *      PROFILE (a directory: every gateway process writes a CPU profile there),
 *      CONCURRENCY (32), BATCH (100), SESSIONS (10000), BROADCASTS (20), ROUNDS (5),
 *      WARMUP (1: full-size runs of every scenario before the measured rounds),
 *      LINKS (1: node links on, cluster.link.listen 127.0.0.1:0 on every Redis node; 0: off),
 *      LINK_TLS (1: the links over TLS, cluster.link.tls with certificates made by openssl),
 *      ONLY (scenario names, comma-separated: measure just those, e.g. ONLY=redis-local,redis-cross)
 */
import { type ChildProcess, execFileSync, fork, spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Pool } from 'undici';
import { RedisServer } from '../test/support/redis-server.js';
import { TestPki } from '../test/support/tls.js';
import { cpuSeconds, FrameCounter, forkRole, percentile, root, stop } from './lib.js';

const PUSHES = Number(process.env.PUSHES ?? 20_000);
const BATCH_PUSHES = Number(process.env.BATCH_PUSHES ?? PUSHES * 5);
const PLAYERS = Number(process.env.PLAYERS ?? 2_000);
const CONCURRENCY = Number(process.env.CONCURRENCY ?? 32);
const BATCH = Number(process.env.BATCH ?? 100);
const SESSIONS_WANTED = Number(process.env.SESSIONS ?? 10_000);
const BROADCASTS = Number(process.env.BROADCASTS ?? 20);
const ROUNDS = Number(process.env.ROUNDS ?? 5);
const WARMUP = Number(process.env.WARMUP ?? 1);
const LINKS = process.env.LINKS !== '0';
const LINK_TLS = process.env.LINK_TLS === '1';
const ONLY = process.env.ONLY ? process.env.ONLY.split(',') : null;

const PAYLOAD = Buffer.alloc(100, 0x62);
const PAYLOAD_B64 = PAYLOAD.toString('base64');
const PUSH_CMD = 7001;
const FRAME_HELLO = 1;
const FRAME_REQUEST = 2;
const FRAME_RESPONSE = 3;
const FRAME_PUSH = 5;
const CONNECT_BATCH = 500;
/** How long the clients may take to count the last frames after the last API answer. */
const SETTLE_MS = 5_000;
/** Most time one IPC exchange (a login wave, say) may take. */
const PHASE_TIMEOUT_MS = 120_000;
/** The whole run; past it everything is killed and the bench fails. */
const WATCHDOG_MS = 900_000;

type Message = { type: string; [key: string]: unknown };

const file = fileURLToPath(import.meta.url);
const role = process.argv[2] ?? 'main';

/** Every process this run started (workers and redis-servers too): killed on exit, checked at the end. */
const pids = new Set<number>();
const everStarted: Array<[string, number]> = [];
function track(label: string, child: ChildProcess | number): void {
  const pid = typeof child === 'number' ? child : child.pid!;
  pids.add(pid);
  everStarted.push([label, pid]);
  if (typeof child !== 'number') child.on('exit', () => pids.delete(pid));
}
process.on('exit', () => {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
});

// ---------------------------------------------------------------- IPC plumbing

function send(msg: Message): void {
  process.send!(msg);
}

/** Resolves with `child`'s next message of type `reply` (and tag `tag`, when given). */
function reply<T extends Message>(child: ChildProcess, type: string, tag?: string, ms = PHASE_TIMEOUT_MS) {
  let cancel: () => void = () => {};
  const promise = new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.off('message', on);
      reject(new Error(`no "${type}" within ${ms} ms`));
    }, ms);
    const on = (m: Message): void => {
      if (m.type !== type || (tag !== undefined && m.tag !== tag)) return;
      clearTimeout(timer);
      child.off('message', on);
      resolve(m as T);
    };
    cancel = () => {
      clearTimeout(timer);
      child.off('message', on);
    };
    child.on('message', on);
  });
  return { promise, cancel };
}

function ask<T extends Message>(child: ChildProcess, msg: Message, type: string): Promise<T> {
  const r = reply<T>(child, type, msg.tag as string | undefined);
  child.send(msg);
  return r.promise;
}

function spawnRole(name: string): Promise<ChildProcess> {
  return forkRole(file, name, (child) => track(name, child));
}

// ---------------------------------------------------------------- role: clients

/**
 * Holds groups of sessions (by tag), each logged in as `<prefix><i>` (or only connected,
 * prefix null), and counts the PUSH frames each group receives. `expect` starts a count:
 * `received` is sent once it reaches the total, and `expecting` answers with how many
 * frames the previous count ended with (more than its total: a duplicate or a stray push).
 */
function clientsRole(): void {
  interface Group {
    sockets: Socket[];
    count: number;
    target: number;
  }
  const groups = new Map<string, Group>();

  const open = (group: Group, tag: string, port: number, player: string | null): Promise<boolean> =>
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
        if (type === FRAME_PUSH) {
          if (++group.count === group.target) send({ type: 'received', tag, count: group.count });
        } else if (type === FRAME_HELLO && player !== null) {
          const body = Buffer.from(player);
          const frame = Buffer.alloc(16 + body.length);
          frame.writeUInt32BE(12 + body.length, 0);
          frame[4] = FRAME_REQUEST;
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
        group.sockets.push(socket);
        if (player === null) finish(true);
      });
    });

  process.on('message', async (m: Message) => {
    const tag = String(m.tag);
    if (m.type === 'connect') {
      const group: Group = { sockets: [], count: 0, target: Number.POSITIVE_INFINITY };
      groups.set(tag, group);
      const n = Number(m.n);
      const prefix = m.prefix as string | null;
      let ok = 0;
      const t0 = performance.now();
      for (let i = 0; i < n; i += CONNECT_BATCH) {
        const wave: Array<Promise<boolean>> = [];
        for (let j = i; j < Math.min(n, i + CONNECT_BATCH); j++) {
          wave.push(open(group, tag, Number(m.port), prefix === null ? null : `${prefix}${j}`));
        }
        for (const r of await Promise.all(wave)) if (r) ok++;
      }
      send({ type: 'connected', tag, ok, ms: performance.now() - t0 });
    } else if (m.type === 'expect') {
      const group = groups.get(tag)!;
      const previous = { count: group.count, target: group.target };
      group.count = 0;
      group.target = Number(m.total);
      send({ type: 'expecting', tag, previous });
    } else if (m.type === 'count') {
      send({ type: 'count', tag, count: groups.get(tag)?.count ?? 0 });
    } else if (m.type === 'close') {
      for (const g of groups.values()) for (const s of g.sockets) s.destroy();
      groups.clear();
      send({ type: 'closed' });
    }
  });
  send({ type: 'ready' });
}

// ---------------------------------------------------------------- orchestrator: processes

/** Pids whose parent is `pid` (from /proc), with their GATEWAY_NODE_ID when set. */
function childrenOf(pid: number): Array<{ pid: number; nodeId: string | null }> {
  const found: Array<{ pid: number; nodeId: string | null }> = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid !== pid) continue;
      const env = readFileSync(`/proc/${entry}/environ`, 'utf8').split('\0');
      const id = env.find((e) => e.startsWith('GATEWAY_NODE_ID='));
      found.push({
        pid: Number(entry),
        nodeId: id === undefined ? null : id.slice('GATEWAY_NODE_ID='.length),
      });
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

function alive(pid: number): boolean {
  return existsSync(`/proc/${pid}`);
}

interface Gw {
  child: ChildProcess;
  tcpPort: number;
  api: Pool;
  /** label → pid: the gateway process; with --workers the primary and each worker. */
  procs: Array<[string, number]>;
}

const configFiles: string[] = [];

async function startGateway(
  nodeId: string,
  backendUrl: string,
  cluster: object,
  label: string,
  workers = 1,
): Promise<Gw> {
  const path = join(tmpdir(), `push-bench-${nodeId}-${process.pid}.json`);
  configFiles.push(path);
  writeFileSync(
    path,
    JSON.stringify({
      node: { id: nodeId },
      listen: { tcp: '127.0.0.1:0', api: '127.0.0.1:0' },
      targets: { login: { url: `${backendUrl}/login`, timeoutMs: 10_000 } },
      routes: [{ cmds: 1, target: 'login' }],
      // The clients never ping: liveness and login deadlines out of the way.
      auth: { anonymousCmds: [1], timeoutMs: 600_000 },
      heartbeat: { intervalMs: 60_000, timeoutMs: 3_600_000 },
      limits: { maxConnections: 100_000 },
      cluster,
      shutdown: { drainMs: 500 },
      log: { level: 'info' },
    }),
  );
  // The built gateway, as production runs it (npm run bench:push builds it first).
  // PROFILE=<dir>: each gateway process writes a CPU profile there when it stops (as lib.ts' start()).
  const profile = process.env.PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${process.env.PROFILE}`] : [];
  const args = [...profile, 'dist/cli.js', '--config', path];
  if (workers > 1) args.push('--workers', String(workers));
  // Not lib.ts start(): its warnings and errors stay visible for the whole run (on stderr).
  const child = spawn(process.execPath, args, {
    cwd: root,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  track(`gateway ${nodeId}`, child);
  let listening = 0;
  const value = await new Promise<{ tcp: string; api: string }>((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      let e: { level?: number; msg?: string; tcp?: string; api?: string };
      try {
        e = JSON.parse(line);
      } catch {
        return;
      }
      if ((e.level ?? 0) >= 40) process.stderr.write(`[gateway ${nodeId}] ${line}\n`);
      if (e.msg === 'gateway listening' && ++listening === workers)
        resolve(e as { tcp: string; api: string });
    });
    child.once('exit', (code) => reject(new Error(`gateway ${nodeId} exited with ${code} before listening`)));
  });
  const procs: Array<[string, number]> = [];
  if (workers === 1) procs.push([label, child.pid!]);
  else {
    procs.push(['primary', child.pid!]);
    // The workers (by their GATEWAY_NODE_ID); tsx's esbuild service is a child too.
    const kids = childrenOf(child.pid!)
      .filter((k) => k.nodeId !== null)
      .sort((x, y) => (x.nodeId ?? '').localeCompare(y.nodeId ?? ''));
    if (kids.length !== workers) throw new Error(`${nodeId}: ${kids.length} workers found, not ${workers}`);
    for (const k of kids) {
      track(`gateway ${k.nodeId}`, k.pid);
      procs.push([k.nodeId?.slice(nodeId.length + 1) ?? `pid ${k.pid}`, k.pid]);
    }
  }
  return {
    child,
    tcpPort: Number(value.tcp.split(':').pop()),
    api: new Pool(`http://${value.api}`, {
      connections: CONCURRENCY,
      headersTimeout: 60_000,
      bodyTimeout: 60_000,
    }),
    procs,
  };
}

// ---------------------------------------------------------------- orchestrator: load

/** One API call's request, for `players`. */
type RequestOf = (players: string[]) => {
  path: string;
  headers: Record<string, string>;
  body: string | Buffer;
};

const jsonPush: RequestOf = (players) => ({
  path: '/v1/push',
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify({ players, cmd: PUSH_CMD, data: PAYLOAD_B64 }),
});

const binaryPush: RequestOf = (players) => ({
  path: `/v1/push?players=${players.join(',')}&cmd=${PUSH_CMD}`,
  headers: { 'content-type': 'application/octet-stream' },
  body: PAYLOAD,
});

interface Answers {
  p50: number;
  p99: number;
  /** Sums of the answers' delivered / cached / dropped, and calls not answered 200. */
  delivered: number;
  cached: number;
  dropped: number;
  failed: number;
}

/** `total` pushes to players `<prefix>0…`, `perCall` per call, CONCURRENCY calls in flight. */
async function load(
  api: Pool,
  request: RequestOf,
  prefix: string,
  players: number,
  total: number,
  perCall: number,
): Promise<Answers> {
  const calls = Math.ceil(total / perCall);
  const latencies = new Float64Array(calls);
  const a: Answers = { p50: 0, p99: 0, delivered: 0, cached: 0, dropped: 0, failed: 0 };
  let next = 0;
  let player = 0;
  const worker = async (): Promise<void> => {
    while (next < calls) {
      const i = next++;
      const names: string[] = [];
      for (let j = 0; j < perCall; j++) names.push(`${prefix}${player++ % players}`);
      const r = request(names);
      const t0 = performance.now();
      const res = await api.request({ method: 'POST', ...r });
      const text = await res.body.text();
      latencies[i] = performance.now() - t0;
      if (res.statusCode !== 200) {
        if (a.failed++ === 0) console.error(`push answered ${res.statusCode}: ${text.slice(0, 200)}`);
        continue;
      }
      const answer = JSON.parse(text) as Record<string, number>;
      a.delivered += answer.delivered ?? 0;
      a.cached += answer.cached ?? 0;
      a.dropped += answer.dropped ?? 0;
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  latencies.sort();
  a.p50 = percentile(latencies, 50);
  a.p99 = percentile(latencies, 99);
  return a;
}

interface Sample {
  /** PUSH frames counted by the clients per second (first call sent → last frame counted). */
  rate: number;
  p50: number;
  p99: number;
  /** CPU µs per PUSH frame counted: all processes, and each. */
  cpu: number;
  cpuBy: Record<string, number>;
  /** Expected frames the clients never counted; frames counted beyond the total. */
  lost: number;
  extra: number;
}

/** What a ratio reads for a scenario ONLY left out: NaN, so the ratio is not printed. */
const NO_SAMPLE: Sample = {
  rate: Number.NaN,
  p50: Number.NaN,
  p99: Number.NaN,
  cpu: Number.NaN,
  cpuBy: {},
  lost: 0,
  extra: 0,
};

function cpuOf(procs: Array<[string, number]>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [label, pid] of procs) {
    if (!alive(pid)) throw new Error(`process ${label} (pid ${pid}) is gone`);
    out[label] = cpuSeconds(pid);
  }
  return out;
}

/**
 * One measured run: the clients (group `tag` of `clients`) are told to expect `total`
 * PUSH frames, `fire` sends them, and the CPU of `procs` is read before the first call
 * and after the last frame counted (or SETTLE_MS after the last answer, if some never come).
 */
async function measure(
  clients: ChildProcess,
  tag: string,
  procs: Array<[string, number]>,
  total: number,
  fire: () => Promise<{ p50: number; p99: number }>,
): Promise<Sample> {
  const { previous } = await ask<Message & { previous: { count: number; target: number } }>(
    clients,
    { type: 'expect', tag, total },
    'expecting',
  );
  // Bounded by the watchdog only: a run may take longer than an IPC exchange.
  const got = reply<Message & { count: number }>(clients, 'received', tag, WATCHDOG_MS);
  const cpu0 = cpuOf(procs);
  const t0 = performance.now();
  let answers: { p50: number; p99: number };
  try {
    answers = await fire();
  } catch (err) {
    got.cancel();
    throw err;
  }
  // The last frames may still be on their way when the last answer is in (or never come:
  // then the span ends at the last answer, and the frames missing are reported as lost).
  const firedAt = performance.now();
  const cpuFired = cpuOf(procs);
  let timer: NodeJS.Timeout | undefined;
  const settled = await Promise.race([
    got.promise.then(() => true),
    new Promise<boolean>((r) => {
      timer = setTimeout(() => r(false), SETTLE_MS);
    }),
  ]);
  clearTimeout(timer);
  let counted = total;
  let seconds = (performance.now() - t0) / 1000;
  let cpu1 = cpuFired;
  if (settled) cpu1 = cpuOf(procs);
  else {
    got.cancel();
    counted = (await ask<Message & { count: number }>(clients, { type: 'count', tag }, 'count')).count;
    seconds = (firedAt - t0) / 1000;
  }
  const cpuBy: Record<string, number> = {};
  let cpu = 0;
  for (const [label] of procs) {
    cpuBy[label] = ((cpu1[label] - cpu0[label]) * 1e6) / Math.max(1, counted);
    cpu += cpuBy[label];
  }
  return {
    rate: counted / seconds,
    p50: answers.p50,
    p99: answers.p99,
    cpu,
    cpuBy,
    lost: total - Math.min(counted, total),
    // Frames of the previous count of this group that came after it ended (duplicates).
    extra: Number.isFinite(previous.target) ? Math.max(0, previous.count - previous.target) : 0,
  };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 === 1 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

function openFileLimit(): number {
  try {
    return Number(execFileSync('/bin/sh', ['-c', 'ulimit -n']).toString().trim());
  } catch {
    return Number.NaN;
  }
}

/** Retries `attempt` (which answers how many of `want` were reached) until all are, or 20 s. */
async function untilAll(what: string, want: number, attempt: () => Promise<number>): Promise<void> {
  let got = 0;
  for (const until = Date.now() + 20_000; Date.now() < until; ) {
    got = await attempt();
    if (got === want) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${what}: ${got} of ${want} reached`);
}

// ---------------------------------------------------------------- orchestrator: main

interface Task {
  key: string;
  scenario: string;
  mode: string;
  /** The clients' group that counts its frames. */
  tag: string;
  run(): Promise<Sample>;
}

function fmt(n: number, digits = 0): string {
  if (!Number.isFinite(n)) return '—';
  return n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

async function main(): Promise<void> {
  const watchdog = setTimeout(() => {
    console.error(`push bench: over ${WATCHDOG_MS / 1000} s, giving up`);
    process.exit(1);
  }, WATCHDOG_MS);
  watchdog.unref();
  const startedAt = performance.now();

  let sessions = SESSIONS_WANTED;
  const limit = openFileLimit();
  if (Number.isFinite(limit) && limit < sessions + 256) {
    sessions = Math.max(100, limit - 256);
    console.log(`ulimit -n is ${limit}: running ${sessions} broadcast sessions, not ${SESSIONS_WANTED}`);
  }
  if (Number.isFinite(limit) && limit < 2 * PLAYERS + 256) {
    throw new Error(`ulimit -n is ${limit}: too low for 2 × ${PLAYERS} players in one clients process`);
  }
  console.log(
    `push bench: ${PLAYERS} players on local and on B, ${CONCURRENCY} calls in flight, ${PAYLOAD.length}-byte ` +
      `payloads; ${PUSHES} pushes 1/call, ${BATCH_PUSHES} ${BATCH}/call; broadcast ${sessions} sessions × ` +
      `${BROADCASTS}; ${ROUNDS} rounds`,
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
  backend.keepAliveTimeout = 65_000;
  await new Promise<void>((r) => backend.listen(0, '127.0.0.1', r));
  const backendUrl = `http://127.0.0.1:${(backend.address() as { port: number }).port}`;

  // One redis-server per setup, so each scenario's Redis CPU is its own.
  const [redisPush, redisB1, redisB2] = await Promise.all([
    RedisServer.start(),
    RedisServer.start(),
    RedisServer.start(),
  ]);
  for (const r of [redisPush, redisB1, redisB2]) track('redis-server', r.pid!);
  // LINK_TLS=1: node links over TLS, with certificates made for this run.
  const linkTls = (() => {
    if (!LINK_TLS) return null;
    const pki = new TestPki();
    const node = pki.node('bench-node');
    return { cert: node.cert, key: node.key, ca: pki.ca.cert };
  })();
  // commandTimeoutMs 5 s, not 1 s: on a loaded 2-core machine the 10-s refresh of 10 000
  // players' records and the unbinds at the end timed out at 1 s; an error path, not measured here.
  const clusterOf = (r: RedisServer) => ({
    engine: 'redis',
    redis: { url: r.url, keyPrefix: 'bench:', commandTimeoutMs: 5_000 },
    // Left out when off, so the bench also runs against a build from before cluster.link.
    ...(LINKS ? { link: { listen: '127.0.0.1:0', tls: linkTls } } : {}),
  });
  const [local, a, b, bcast1, bcast2] = await Promise.all([
    startGateway('local', backendUrl, { engine: 'local' }, 'gw'),
    startGateway('a', backendUrl, clusterOf(redisPush), 'A'),
    startGateway('b', backendUrl, clusterOf(redisPush), 'B'),
    startGateway('bcast1', backendUrl, clusterOf(redisB1), 'gw'),
    startGateway('bcast2', backendUrl, clusterOf(redisB2), 'gw', 2),
  ]);
  const gateways = [local, a, b, bcast1, bcast2];
  const floorChild = fork(join(root, 'bench/push-floor.mjs'), [], {
    execArgv: [],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  track('floor', floorChild);
  const floorReady = await reply<Message & { tcpPort: number; apiUrl: string }>(floorChild, 'ready').promise;
  const floorApi = new Pool(floorReady.apiUrl, { connections: CONCURRENCY });

  const [clients, clientsB1, clientsB2] = await Promise.all([
    spawnRole('clients'),
    spawnRole('clients'),
    spawnRole('clients'),
  ]);
  const connectGroup = async (
    c: ChildProcess,
    tag: string,
    port: number,
    n: number,
    prefix: string | null,
  ): Promise<number> => {
    const r = await ask<Message & { ok: number; ms: number }>(
      c,
      { type: 'connect', tag, port, n, prefix },
      'connected',
    );
    if (r.ok !== n) throw new Error(`${tag}: only ${r.ok} of ${n} sessions logged in`);
    return r.ms;
  };
  await connectGroup(clients, 'floor', floorReady.tcpPort, PLAYERS, null);
  await untilAll(
    'floor client',
    PLAYERS,
    async () =>
      (await ask<Message & { connected: number }>(floorChild, { type: 'clients' }, 'clients')).connected,
  );
  const [msLocal, msB, msB1, msB2] = await Promise.all([
    connectGroup(clients, 'local', local.tcpPort, PLAYERS, 'l'),
    connectGroup(clients, 'redis', b.tcpPort, PLAYERS, 'c'),
    connectGroup(clientsB1, 'bcast1', bcast1.tcpPort, sessions, 'p'),
    connectGroup(clientsB2, 'bcast2', bcast2.tcpPort, sessions, 'p'),
  ]);
  const s = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;
  console.log(
    `logged in: ${PLAYERS} on local (${s(msLocal)}), ${PLAYERS} on B (${s(msB)}), ` +
      `${sessions} on bcast-1 (${s(msB1)}), ${sessions} on bcast-w2 (${s(msB2)})`,
  );

  // Every player bound where it should be (a bind lands in Redis just after the login answer).
  const everyPlayer = async (api: Pool, prefix: string): Promise<number> => {
    let delivered = 0;
    for (let i = 0; i < PLAYERS; i += BATCH) {
      const players = Array.from({ length: Math.min(BATCH, PLAYERS - i) }, (_, k) => `${prefix}${i + k}`);
      const res = await api.request({
        method: 'POST',
        path: '/v1/push',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ players, cmd: PUSH_CMD, data: PAYLOAD_B64, offline: false }),
      });
      const text = await res.body.text();
      if (res.statusCode !== 200) throw new Error(`push answered ${res.statusCode}: ${text.slice(0, 200)}`);
      delivered += (JSON.parse(text) as { delivered: number }).delivered;
    }
    return delivered;
  };
  const broadcastOnce = async (api: Pool): Promise<number> => {
    const res = await api.request({
      method: 'POST',
      path: '/v1/broadcast',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ cmd: PUSH_CMD, data: PAYLOAD_B64 }),
    });
    const text = await res.body.text();
    if (res.statusCode !== 200) throw new Error(`broadcast answered ${res.statusCode}: ${text}`);
    return (JSON.parse(text) as { delivered: number }).delivered;
  };
  await untilAll('local players', PLAYERS, () => everyPlayer(local.api, 'l'));
  await untilAll('players on B, pushed through A', PLAYERS, () => everyPlayer(a.api, 'c'));
  await untilAll('bcast-1 sessions', sessions, () => broadcastOnce(bcast1.api));
  await untilAll('bcast-w2 sessions', sessions, () => broadcastOnce(bcast2.api));

  const errors: string[] = [];
  const redisProc = (r: RedisServer): [string, number] => ['redis', r.pid!];
  const clusterProcs: Array<[string, number]> = [...b.procs, ...a.procs, redisProc(redisPush)];
  const pushTask = (
    scenario: string,
    api: Pool,
    request: RequestOf,
    prefix: string,
    players: number,
    tag: string,
    procs: Array<[string, number]>,
    perCall: number,
  ): Task => {
    const mode = `${perCall}/call`;
    return {
      key: `${scenario} ${mode}`,
      scenario,
      mode,
      tag,
      run: () => {
        const wanted = perCall === 1 ? PUSHES : BATCH_PUSHES;
        const calls = Math.max(1, Math.ceil(wanted / perCall));
        const total = calls * perCall;
        return measure(clients, tag, procs, total, async () => {
          const answers = await load(api, request, prefix, players, total, perCall);
          if (answers.delivered !== total || answers.failed > 0) {
            errors.push(
              `${scenario} ${mode}: answers said delivered ${answers.delivered}, cached ${answers.cached}, ` +
                `dropped ${answers.dropped} of ${total}; ${answers.failed} calls failed`,
            );
          }
          return answers;
        });
      },
    };
  };
  const broadcastTask = (name: string, gw: Gw, tag: string, c: ChildProcess, r: RedisServer): Task => ({
    key: name,
    scenario: name,
    mode: `${sessions} sess`,
    tag,
    run: () => {
      const count = BROADCASTS;
      return measure(c, tag, [...gw.procs, redisProc(r)], sessions * count, async () => {
        for (let i = 0; i < count; i++) {
          const delivered = await broadcastOnce(gw.api);
          if (delivered !== sessions) errors.push(`${name}: a broadcast answered delivered ${delivered}`);
        }
        return { p50: Number.NaN, p99: Number.NaN };
      });
    },
  });
  const allTasks: Task[] = [
    pushTask('floor', floorApi, jsonPush, 'f', PLAYERS, 'floor', [['floor', floorChild.pid!]], 1),
    pushTask('local', local.api, jsonPush, 'l', PLAYERS, 'local', local.procs, 1),
    pushTask('local-binary', local.api, binaryPush, 'l', PLAYERS, 'local', local.procs, 1),
    pushTask('redis-local', b.api, jsonPush, 'c', PLAYERS, 'redis', clusterProcs, 1),
    pushTask('redis-cross', a.api, jsonPush, 'c', PLAYERS, 'redis', clusterProcs, 1),
    pushTask('local', local.api, jsonPush, 'l', PLAYERS, 'local', local.procs, BATCH),
    pushTask('local-binary', local.api, binaryPush, 'l', PLAYERS, 'local', local.procs, BATCH),
    pushTask('redis-local', b.api, jsonPush, 'c', PLAYERS, 'redis', clusterProcs, BATCH),
    pushTask('redis-cross', a.api, jsonPush, 'c', PLAYERS, 'redis', clusterProcs, BATCH),
    broadcastTask('bcast-1', bcast1, 'bcast1', clientsB1, redisB1),
    broadcastTask('bcast-w2', bcast2, 'bcast2', clientsB2, redisB2),
  ];
  const tasks = ONLY === null ? allTasks : allTasks.filter((t) => ONLY.includes(t.scenario));

  // Warm-up (JIT, pools, Redis script cache, heap sizes): WARMUP full-size runs of each, not
  // recorded. One run a tenth the size left the cross-node push ~40 % dearer in the first
  // rounds than from the fourth on (58, 49, 43, 38, 40 µs).
  for (let w = 0; w < WARMUP; w++) for (const t of tasks) await t.run();
  console.log(`set up and warmed up in ${s(performance.now() - startedAt)}; measuring`);

  const samples = new Map<string, Sample[]>();
  let lost = 0;
  let extra = 0;
  for (let round = 0; round < ROUNDS; round++) {
    const order = round % 2 === 0 ? tasks : [...tasks].reverse();
    for (const t of order) {
      const sample = await t.run();
      samples.set(t.key, [...(samples.get(t.key) ?? []), sample]);
      // Every round's figure, so a noisy run shows as one (the report gives medians).
      const p99 = Number.isNaN(sample.p99) ? '' : `, p99 ${fmt(sample.p99, 2)} ms`;
      console.log(
        `  round ${round + 1}  ${t.key.padEnd(20)} ${fmt(sample.cpu, 1).padStart(7)} µs/push${p99}`,
      );
      lost += sample.lost;
      extra += sample.extra;
      if (sample.lost > 0)
        errors.push(`round ${round + 1}, ${t.key}: ${sample.lost} PUSH frames never arrived`);
      if (sample.extra > 0)
        errors.push(`before round ${round + 1}, ${t.key}: ${sample.extra} frames over a count`);
    }
  }
  // The last count of each group: frames after it ended?
  for (const [c, tag] of [
    [clients, 'floor'],
    [clients, 'local'],
    [clients, 'redis'],
    [clientsB1, 'bcast1'],
    [clientsB2, 'bcast2'],
  ] as const) {
    if (!tasks.some((t) => t.tag === tag)) continue; // left out by ONLY: its warm-up frames are not counted
    await new Promise((r) => setTimeout(r, 50));
    const { previous } = await ask<Message & { previous: { count: number; target: number } }>(
      c,
      { type: 'expect', tag, total: 0 },
      'expecting',
    );
    if (previous.count > previous.target) {
      extra += previous.count - previous.target;
      errors.push(`${tag}: ${previous.count - previous.target} frames over its last count`);
    }
  }
  const elapsed = performance.now() - startedAt;

  // ---- report
  const med = new Map<string, Sample>();
  for (const [key, list] of samples) {
    const cpuBy: Record<string, number> = {};
    for (const label of Object.keys(list[0].cpuBy)) cpuBy[label] = median(list.map((x) => x.cpuBy[label]));
    med.set(key, {
      rate: median(list.map((x) => x.rate)),
      p50: median(list.map((x) => x.p50)),
      p99: median(list.map((x) => x.p99)),
      cpu: median(list.map((x) => x.cpu)),
      cpuBy,
      lost: list.reduce((n, x) => n + x.lost, 0),
      extra: list.reduce((n, x) => n + x.extra, 0),
    });
  }
  console.log('');
  console.log(
    `medians of ${ROUNDS} rounds; CPU: µs per PUSH frame counted by the clients, every process of the scenario`,
  );
  console.log(
    `${'scenario'.padEnd(13)} ${'mode'.padEnd(9)} ${'msgs/s'.padStart(9)} ${'p50 ms'.padStart(7)} ` +
      `${'p99 ms'.padStart(7)} ${'CPU µs'.padStart(7)}  by process (µs)`,
  );
  for (const t of tasks) {
    const m = med.get(t.key)!;
    const by = Object.entries(m.cpuBy)
      .map(([label, us]) => `${label} ${fmt(us, us < 10 ? 2 : 1)}`)
      .join(', ');
    console.log(
      `${t.scenario.padEnd(13)} ${t.mode.padEnd(9)} ${fmt(m.rate).padStart(9)} ${fmt(m.p50, 2).padStart(7)} ` +
        `${fmt(m.p99, 2).padStart(7)} ${fmt(m.cpu, 2).padStart(7)}  ${by}${m.lost > 0 ? `  LOST ${m.lost}` : ''}`,
    );
  }
  const get = (key: string): Sample => med.get(key) ?? NO_SAMPLE;
  const one = '1/call';
  const many = `${BATCH}/call`;
  const ratios: Array<[string, number, '≤' | '≥' | '', number]> = [
    ['local ÷ floor, CPU per push, 1/call', get(`local ${one}`).cpu / get(`floor ${one}`).cpu, '≤', 1.5],
    [
      'local-binary ÷ floor, CPU per push, 1/call',
      get(`local-binary ${one}`).cpu / get(`floor ${one}`).cpu,
      '',
      Number.NaN,
    ],
    [
      'redis-cross ÷ redis-local, CPU per push, 1/call',
      get(`redis-cross ${one}`).cpu / get(`redis-local ${one}`).cpu,
      '≤',
      1.5,
    ],
    [
      `redis-cross ÷ redis-local, CPU per push, ${many}`,
      get(`redis-cross ${many}`).cpu / get(`redis-local ${many}`).cpu,
      '≤',
      1.5,
    ],
    [
      `redis-cross ÷ redis-local, msgs/s, ${many}`,
      get(`redis-cross ${many}`).rate / get(`redis-local ${many}`).rate,
      '≥',
      0.8,
    ],
    [
      `redis-cross ÷ local, msgs/s, ${many}`,
      get(`redis-cross ${many}`).rate / get(`local ${many}`).rate,
      '≥',
      0.8,
    ],
    [
      'redis-cross ÷ redis-local, p99, 1/call',
      get(`redis-cross ${one}`).p99 / get(`redis-local ${one}`).p99,
      '≤',
      1.5,
    ],
    ['redis-cross ÷ local, p99, 1/call', get(`redis-cross ${one}`).p99 / get(`local ${one}`).p99, '≤', 1.5],
    ['bcast-w2 ÷ bcast-1, CPU per delivery', get('bcast-w2').cpu / get('bcast-1').cpu, '≤', 1.1],
  ];
  console.log('');
  console.log(`${'ratio'.padEnd(48)} ${'value'.padStart(6)}  target`);
  for (const [name, value, op, target] of ratios) {
    if (Number.isNaN(value)) continue; // a scenario left out by ONLY
    const met = op === '' ? '' : (op === '≤' ? value <= target : value >= target) ? '  met' : '  MISSED';
    console.log(
      `${name.padEnd(48)} ${value.toFixed(2).padStart(6)}  ${op === '' ? '—' : `${op} ${target}`}${met}`,
    );
  }
  console.log('');
  console.log(
    lost === 0 && extra === 0 && errors.length === 0
      ? `every PUSH frame arrived, none twice; ${s(elapsed)}`
      : `PROBLEMS (${lost} lost, ${extra} extra):\n  ${errors.join('\n  ')}`,
  );

  // ---- teardown: every process this run started ends
  await Promise.all([clients, clientsB1, clientsB2].map((c) => ask(c, { type: 'close' }, 'closed')));
  await Promise.all([floorApi, ...gateways.map((g) => g.api)].map((p) => p.close()));
  await Promise.all(gateways.map((g) => stop(g.child)));
  await Promise.all([clients, clientsB1, clientsB2, floorChild].map(stop));
  await Promise.all([redisPush, redisB1, redisB2].map((r) => r.stop()));
  backend.close();
  for (const f of configFiles) rmSync(f, { force: true });
  // Workers end with their primary; give a straggler a moment, then say so and kill it.
  for (let i = 0; i < 50 && [...everStarted].some(([, pid]) => alive(pid)); i++) {
    await new Promise((r) => setTimeout(r, 100));
  }
  const left = [...everStarted].filter(([, pid]) => alive(pid));
  if (left.length > 0) {
    console.error(`still running after the stop, killed: ${left.map(([l, p]) => `${l} (${p})`).join(', ')}`);
    for (const [, pid] of left) process.kill(pid, 'SIGKILL');
  }
  clearTimeout(watchdog);
}

process.on('SIGINT', () => process.exit(130));
process.on('SIGTERM', () => process.exit(143));
// A role child never outlives the run that started it.
if (role !== 'main') process.on('disconnect', () => process.exit(0));
if (role === 'clients') clientsRole();
else
  await main().then(
    () => process.exit(0),
    (err: Error) => {
      console.error(`push bench failed: ${err.stack ?? err.message}`);
      process.exit(1);
    },
  );
