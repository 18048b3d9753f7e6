/**
 * Soak: a real gateway process (src/cli.ts, local engine) fronting the example backend
 * (examples/backend.ts), under a mixed load for N minutes — logins, requests, pushes to
 * online, offline and unknown players, broadcasts, group pushes, kicks, logouts,
 * disconnects and reconnects. Each minute: RSS and heap used after a forced GC in the
 * gateway process (scripts/soak-probe.ts, preloaded with --expose-gc in soak mode only),
 * sessions, requests/s and push outcomes. The verdict line compares the heap floor of the
 * last third with the first third (≤ 5 % growth) and checks that every push answered
 * `delivered` reached its client and every `cached` one was replayed (every player logs
 * in again at the end), with no duplicate and seq increasing per player.
 *
 *   npm run soak -- --minutes 30 [--sessions 500] [--rps 200] [--pushes 40]
 *
 * Disconnects are graceful (the client half-closes and reads until the gateway closes),
 * so a `delivered` push is never lost by the client's own hand.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { cpuSeconds, root } from '../bench/lib.js';
import { Cmd, startExampleBackend } from '../examples/backend.js';
import { encodeFrame, FrameType } from '../src/protocol/frame.js';
import { FrameDecoder } from '../src/protocol/frame-decoder.js';

const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '30' },
    sessions: { type: 'string', default: '500' },
    rps: { type: 'string', default: '200' },
    pushes: { type: 'string', default: '40' },
    'sample-s': { type: 'string', default: '15' },
  },
});
const MINUTES = Number(values.minutes);
const SESSIONS = Number(values.sessions);
const RPS = Number(values.rps);
const PUSH_CALLS_PER_S = Number(values.pushes);
const SAMPLE_MS = Number(values['sample-s']) * 1000;
const GHOSTS = 50;
const TICK_MS = 50;
const GROUP_CMD = 5001;
const DIRECT_CMD = 6001;
const BROADCAST_CMD = 6002;

const rand = (n: number) => Math.floor(Math.random() * n);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ---- the gateway process ----------------------------------------------------------------

let gatewayApi = '';
const backend = await startExampleBackend(0, () => gatewayApi);
const configPath = join(tmpdir(), `soak-gw-${process.pid}.yaml`);
writeFileSync(
  configPath,
  JSON.stringify({
    node: { id: 'soak' },
    listen: { tcp: '127.0.0.1:0', api: '127.0.0.1:0' },
    targets: { game: { url: `http://127.0.0.1:${backend.port}/game/{cmd}`, timeoutMs: 5_000 } },
    routes: [{ cmds: '1001-2004', target: 'game' }],
    auth: { required: true, anonymousCmds: [Cmd.LOGIN] },
    log: { level: 'info' },
  }),
);
const gateway: ChildProcess = spawn(
  process.execPath,
  [
    '--expose-gc',
    '--import',
    'tsx',
    '--import',
    './scripts/soak-probe.ts',
    'src/cli.ts',
    '--config',
    configPath,
  ],
  { cwd: root, stdio: ['ignore', 'pipe', 'inherit', 'ipc'] },
);
process.on('exit', () => gateway.kill('SIGKILL'));
const listening = await new Promise<{ tcp: string; api: string }>((resolve, reject) => {
  const rl = createInterface({ input: gateway.stdout! });
  // Every log line is read (and dropped) so the gateway never blocks on a full pipe.
  rl.on('line', (line) => {
    if (!line.includes('gateway listening')) return;
    const entry = JSON.parse(line) as { tcp: string; api: string };
    resolve(entry);
  });
  gateway.once('exit', (code) => reject(new Error(`gateway exited with ${code}`)));
});
gatewayApi = `http://${listening.api}`;
const tcpPort = Number(listening.tcp.split(':').pop());

let heapWaiter: ((m: { heapUsed: number; rss: number }) => void) | null = null;
gateway.on('message', (m: { type?: string; heapUsed: number; rss: number }) => {
  if (m.type === 'soak-heap' && heapWaiter) heapWaiter(m);
});
function gcHeap(): Promise<{ heapUsed: number; rss: number }> {
  return new Promise((resolve) => {
    heapWaiter = resolve;
    gateway.send({ type: 'soak-gc' });
  });
}

async function api(path: string, body: unknown): Promise<Record<string, unknown>> {
  const res = await fetch(`${gatewayApi}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`${path} answered ${res.status}: ${text}`);
  return JSON.parse(text) as Record<string, unknown>;
}

// ---- what was answered, and what clients received -----------------------------------------

const expectDelivered = new Set<string>(); // `${pushId}/${player}`
const expectCached = new Set<string>();
const received = new Map<string, number>(); // key → times received
let broadcastDelivered = 0;
let groupDelivered = 0;
let broadcastReceived = 0;
let groupReceived = 0;
const seqBackwards: string[] = [];
let seqGaps = 0;
const totals = { requests: 0, requestErrors: 0, delivered: 0, cached: 0, dropped: 0, kicks: 0, logouts: 0 };
let minute = {
  requests: 0,
  delivered: 0,
  cached: 0,
  dropped: 0,
  broadcasts: 0,
  groups: 0,
  kicks: 0,
  disconnects: 0,
  logins: 0,
};
const apiErrors: string[] = [];
const kickStatuses: Record<number, number> = {};
let pushId = 0;
/** False once the wind-down starts: closed clients are then not reconnected by themselves. */
let running = true;

// ---- clients --------------------------------------------------------------------------

type State = 'offline' | 'connecting' | 'online' | 'unbound' | 'closing';

class SoakClient {
  state: State = 'offline';
  socket: Socket | null = null;
  lastSeq = 0;
  private nextSeq = 1;
  private pending = new Map<number, (status: number, body: Buffer) => void>();
  private lastSentAt = 0;
  private closed: (() => void) | null = null;

  constructor(readonly player: string) {}

  connect(): void {
    this.state = 'connecting';
    const socket = connect({ port: tcpPort, host: '127.0.0.1' });
    this.socket = socket;
    const decoder = new FrameDecoder(16 * 1024 * 1024, (type, status, _cmd, seq, body) =>
      this.frame(type, status, seq, Buffer.from(body)),
    );
    socket.on('data', (c) => decoder.push(c));
    socket.on('error', () => {});
    socket.on('close', () => {
      this.socket = null;
      this.state = 'offline';
      for (const p of this.pending.values()) p(-1, Buffer.alloc(0));
      this.pending.clear();
      this.closed?.();
      this.closed = null;
      // However it ended (our disconnect, a kick, AUTH_TIMEOUT after a logout on a
      // connection older than auth.timeoutMs), the player comes back.
      reconnectLater(this);
    });
  }

  private frame(type: number, status: number, seq: number, body: Buffer): void {
    if (type === FrameType.HELLO) {
      void this.login();
    } else if (type === FrameType.RESPONSE) {
      const p = this.pending.get(seq);
      this.pending.delete(seq);
      p?.(status, body);
    } else if (type === FrameType.PUSH) {
      if (seq <= this.lastSeq) seqBackwards.push(`${this.player}: ${seq} after ${this.lastSeq}`);
      else if (seq !== this.lastSeq + 1) seqGaps++;
      this.lastSeq = seq;
      const text = body.toString();
      if (text.startsWith('d:')) {
        const key = `${text.slice(2)}/${this.player}`;
        received.set(key, (received.get(key) ?? 0) + 1);
      } else if (text.startsWith('b:')) broadcastReceived++;
      else groupReceived++; // the example backend's world pushes are not sent here
    } else if (type === FrameType.KICK) {
      totals.kicks++;
      kickStatuses[status] = (kickStatuses[status] ?? 0) + 1;
      this.state = 'closing';
    }
  }

  request(cmd: number, body: string): Promise<{ status: number; body: Buffer }> {
    const seq = this.nextSeq++;
    return new Promise((resolve) => {
      this.pending.set(seq, (status, b) => resolve({ status, body: b }));
      this.send(FrameType.REQUEST, cmd, seq, body);
    });
  }

  send(type: FrameType, cmd: number, seq: number, body: string): void {
    this.lastSentAt = Date.now();
    this.socket?.write(encodeFrame(type, 0, cmd, seq, Buffer.from(body)));
  }

  async login(): Promise<void> {
    const r = await this.request(Cmd.LOGIN, this.player);
    if (r.status === 0) {
      if (this.state === 'connecting' || this.state === 'unbound') {
        this.state = 'online';
        minute.logins++;
      }
    } else if (r.status !== -1) {
      totals.requestErrors++;
      apiErrors.push(`login of ${this.player} answered status ${r.status}: ${r.body.toString()}`);
      this.disconnect();
    }
  }

  async echo(): Promise<void> {
    const body = `e${rand(1e9)}`;
    minute.requests++;
    totals.requests++;
    const r = await this.request(Cmd.ECHO, body);
    if (r.status === -1) return; // the connection closed under it (kick, disconnect)
    if (r.status !== 0 || r.body.toString() !== body) totals.requestErrors++;
  }

  async logoutAndBack(): Promise<void> {
    this.state = 'unbound';
    totals.logouts++;
    const r = await this.request(Cmd.LOGOUT, '');
    if (r.status === -1) return;
    await sleep(500 + rand(1500));
    if (this.state === 'unbound') await this.login();
  }

  heartbeat(intervalMs: number): void {
    if (this.socket && Date.now() - this.lastSentAt > intervalMs / 2) this.send(FrameType.PING, 0, 0, '');
  }

  /** Half-closes and resolves once the gateway closed: everything it wrote is read. */
  disconnect(): Promise<void> {
    if (!this.socket) return Promise.resolve();
    this.state = 'closing';
    minute.disconnects++;
    return new Promise((resolve) => {
      this.closed = resolve;
      this.socket?.end();
    });
  }
}

const clients = Array.from({ length: SESSIONS }, (_, i) => new SoakClient(`p${i}`));
const byName = new Map(clients.map((c) => [c.player, c]));
const online = () => clients.filter((c) => c.state === 'online');

for (const c of clients) {
  c.connect();
  await sleep(2);
}
while (online().length < SESSIONS) await sleep(100);
console.log(
  `soak: ${SESSIONS} sessions logged in to ${listening.tcp}; ${MINUTES} min, ~${RPS} req/s, ~${PUSH_CALLS_PER_S} push calls/s`,
);

// ---- the load -----------------------------------------------------------------------

function reconnectLater(c: SoakClient): void {
  setTimeout(() => {
    if (running && c.state === 'offline') c.connect();
  }, 1_000 + rand(2_000));
}

async function pushDirect(): Promise<void> {
  const names = new Set<string>();
  const n = 1 + rand(3);
  while (names.size < n) names.add(Math.random() < 0.05 ? `ghost${rand(GHOSTS)}` : `p${rand(SESSIONS)}`);
  const id = ++pushId;
  const players = [...names];
  try {
    const r = (await api('/v1/push', {
      players,
      cmd: DIRECT_CMD,
      data: Buffer.from(`d:${id}`).toString('base64'),
    })) as { results: Record<string, string> };
    for (const p of players) {
      const outcome = r.results[p];
      const key = `${id}/${p}`;
      if (outcome === 'delivered') {
        expectDelivered.add(key);
        minute.delivered++;
        totals.delivered++;
      } else if (outcome === 'cached') {
        expectCached.add(key);
        minute.cached++;
        totals.cached++;
      } else {
        minute.dropped++;
        totals.dropped++;
        if (!p.startsWith('ghost')) apiErrors.push(`push ${id} to known ${p} dropped`);
      }
    }
  } catch (err) {
    apiErrors.push((err as Error).message);
  }
}

const tick = setInterval(() => {
  const on = online();
  if (on.length === 0) return;
  for (let i = 0; i < (RPS * TICK_MS) / 1000; i++) void on[rand(on.length)].echo();
  const calls = (PUSH_CALLS_PER_S * TICK_MS) / 1000;
  for (let i = 0; i < Math.floor(calls) + (Math.random() < calls % 1 ? 1 : 0); i++) void pushDirect();
}, TICK_MS);

const churn = setInterval(() => {
  const on = online();
  if (on.length === 0) return;
  // A disconnect and a reconnect; a logout and a login on the same connection.
  const d = on[rand(on.length)];
  void d.disconnect();
  if (Math.random() < 0.5) void on[rand(on.length)].logoutAndBack();
}, 500);

const kicker = setInterval(() => {
  const on = online();
  if (on.length === 0) return;
  const k = on[rand(on.length)];
  k.state = 'closing';
  minute.kicks++;
  api('/v1/kick', { players: [k.player], reason: 'soak' }).catch((e: Error) => apiErrors.push(e.message));
}, 2_000);

let fanout = 0;
const fanouts = setInterval(() => {
  const data = Buffer.from(`${fanout % 2 === 0 ? 'b' : 'g'}:${fanout}`).toString('base64');
  if (fanout % 2 === 0) {
    api('/v1/broadcast', { cmd: BROADCAST_CMD, data }).then(
      (r) => {
        broadcastDelivered += r.delivered as number;
        minute.broadcasts++;
      },
      (e: Error) => apiErrors.push(e.message),
    );
  } else {
    api('/v1/groups/world/push', { cmd: GROUP_CMD, data }).then(
      (r) => {
        groupDelivered += r.delivered as number;
        minute.groups++;
      },
      (e: Error) => apiErrors.push(e.message),
    );
  }
  fanout++;
}, 2_500);

const heartbeats = setInterval(() => {
  for (const c of clients) c.heartbeat(10_000);
}, 1_000);

// ---- per-minute figures ------------------------------------------------------------------

interface Sample {
  minute: number;
  heapFloorMiB: number;
  rssMiB: number;
}
const samples: Sample[] = [];
const started = Date.now();
const mib = (b: number) => Math.round((b / 1048576) * 10) / 10;
for (let m = 1; m <= MINUTES; m++) {
  let floor = Number.POSITIVE_INFINITY;
  let rss = 0;
  const cpu0 = cpuSeconds(gateway.pid!);
  const end = started + m * 60_000;
  while (Date.now() < end) {
    await sleep(Math.min(SAMPLE_MS, Math.max(0, end - Date.now())));
    const h = await gcHeap();
    floor = Math.min(floor, h.heapUsed);
    rss = h.rss;
  }
  const stats = (await (await fetch(`${gatewayApi}/v1/stats`)).json()) as {
    sessions: { connected: number; authed: number };
  };
  samples.push({ minute: m, heapFloorMiB: mib(floor), rssMiB: mib(rss) });
  console.log(
    JSON.stringify({
      minute: m,
      rssMiB: mib(rss),
      heapAfterGcMiB: mib(floor),
      sessions: stats.sessions,
      requestsPerS: Math.round(minute.requests / 60),
      gatewayCpuPct: Math.round(((cpuSeconds(gateway.pid!) - cpu0) / 60) * 100),
      push: { delivered: minute.delivered, cached: minute.cached, dropped: minute.dropped },
      broadcasts: minute.broadcasts,
      groupPushes: minute.groups,
      kicks: minute.kicks,
      disconnects: minute.disconnects,
      logins: minute.logins,
      states: Object.fromEntries(
        ['offline', 'connecting', 'online', 'unbound', 'closing'].map((st) => [
          st,
          clients.filter((c) => c.state === st).length,
        ]),
      ),
    }),
  );
  minute = {
    requests: 0,
    delivered: 0,
    cached: 0,
    dropped: 0,
    broadcasts: 0,
    groups: 0,
    kicks: 0,
    disconnects: 0,
    logins: 0,
  };
}

// ---- wind down: every player back online, so every cached push gets its replay --------------

running = false;
clearInterval(tick);
clearInterval(churn);
clearInterval(kicker);
clearInterval(fanouts);
const settleUntil = Date.now() + 30_000;
for (;;) {
  for (const c of clients) {
    if (c.state === 'offline') c.connect();
    else if (c.state === 'unbound') void c.login();
  }
  if (online().length === SESSIONS || Date.now() > settleUntil) break;
  await sleep(1_000);
}
await sleep(3_000); // replays and the last answers in flight
clearInterval(heartbeats);

const missing = (set: Set<string>) => [...set].filter((k) => !received.has(k));
const lostDelivered = missing(expectDelivered);
const lostCached = missing(expectCached);
const duplicates = [...received].filter(([, n]) => n > 1).length;
const third = Math.max(1, Math.floor(samples.length / 3));
const floorOf = (s: Sample[]) => Math.min(...s.map((x) => x.heapFloorMiB));
const firstFloor = floorOf(samples.slice(0, third));
const lastFloor = floorOf(samples.slice(-third));
const growth = lastFloor / firstFloor - 1;
const pass =
  growth <= 0.05 &&
  lostDelivered.length === 0 &&
  lostCached.length === 0 &&
  duplicates === 0 &&
  seqBackwards.length === 0 &&
  totals.requestErrors === 0 &&
  apiErrors.length === 0;
console.log(
  JSON.stringify({
    totals,
    kickStatuses,
    broadcast: { answeredDelivered: broadcastDelivered, received: broadcastReceived },
    group: { answeredDelivered: groupDelivered, received: groupReceived },
    seqGaps,
    seqBackwards: seqBackwards.slice(0, 5),
    lostDelivered: lostDelivered.slice(0, 5),
    lostCached: lostCached.slice(0, 5),
    apiErrors: apiErrors.slice(0, 5),
    stillOffline: SESSIONS - online().length,
  }),
);
console.log(
  `VERDICT ${pass ? 'PASS' : 'FAIL'}: heap floor first third ${firstFloor} MiB, last third ${lastFloor} MiB ` +
    `(${(growth * 100).toFixed(1)} %, limit 5 %); delivered ${expectDelivered.size - lostDelivered.length}/${expectDelivered.size} received, ` +
    `cached ${expectCached.size - lostCached.length}/${expectCached.size} replayed, ${duplicates} duplicates, ` +
    `${seqBackwards.length} seq out of order, ${totals.requestErrors} request errors, ${apiErrors.length} API errors`,
);
void byName;
for (const c of clients) c.socket?.destroy();
gateway.kill('SIGTERM');
await new Promise((r) => gateway.once('exit', r));
await backend.close();
process.exit(pass ? 0 : 1);
