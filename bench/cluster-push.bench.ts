/**
 * Cross-node push benchmark (npm run bench:cluster). Gateway processes (the CLI) on a
 * private redis-server; PLAYERS clients bound on node B. Side by side, interleaved over
 * ROUNDS, medians reported:
 *
 *   memory      the in-memory engine (one process): POST /v1/push to its own players
 *   redis-local cluster.engine redis, pushes accepted by B, the node holding the players
 *   redis-cross the same players, pushes accepted by node A: routed over Redis pub/sub
 *               and acknowledged by B before A answers (so the latency is the honest
 *               "delivered" round trip)
 *
 * Each scenario runs twice: one player per API call (latency: p50/p99 of the API
 * answer, CONCURRENCY calls in flight) and BATCH players per call (throughput in
 * messages per second). Every PUSH is counted at the clients, so nothing is lost unseen.
 *
 * env: PUSHES (default 20000), PLAYERS (100), CONCURRENCY (32), BATCH (100), ROUNDS (3)
 */
import type { ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Pool } from 'undici';
import { encodeFrame, FrameType } from '../src/protocol/frame.js';
import { FrameDecoder } from '../src/protocol/frame-decoder.js';
import { RedisServer } from '../test/support/redis-server.js';
import { percentile, start, stop } from './lib.js';

const PUSHES = Number(process.env.PUSHES ?? 20_000);
const PLAYERS = Number(process.env.PLAYERS ?? 100);
const CONCURRENCY = Number(process.env.CONCURRENCY ?? 32);
const BATCH = Number(process.env.BATCH ?? 100);
const ROUNDS = Number(process.env.ROUNDS ?? 3);

interface Gw {
  child: ChildProcess;
  tcpPort: number;
  api: Pool;
}

/** A backend whose every request logs in as the body (x-gateway-bind). */
function startLoginBackend(): Promise<{ url: string; close(): void }> {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      res.setHeader('x-gateway-bind', Buffer.concat(chunks).toString());
      res.end();
    });
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => {
      const a = server.address();
      resolve({
        url: `http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}`,
        close: () => server.close(),
      });
    }),
  );
}

async function startGateway(nodeId: string, backend: string, cluster: object): Promise<Gw> {
  const path = join(tmpdir(), `cluster-bench-${nodeId}-${process.pid}.json`);
  writeFileSync(
    path,
    JSON.stringify({
      node: { id: nodeId },
      listen: { tcp: '127.0.0.1:0', api: '127.0.0.1:0' },
      targets: { login: { url: `${backend}/login` } },
      routes: [{ cmds: 1, target: 'login' }],
      auth: { anonymousCmds: [1] },
      limits: { maxConnections: 100_000 },
      cluster,
      log: { level: 'info' },
    }),
  );
  const { child, value } = await start(['src/cli.ts', '--config', path], (line) => {
    try {
      const e = JSON.parse(line);
      return e.msg === 'gateway listening' ? (e as { tcp: string; api: string }) : null;
    } catch {
      return null;
    }
  });
  return {
    child,
    tcpPort: Number(value.tcp.split(':').pop()),
    api: new Pool(`http://${value.api}`, { connections: CONCURRENCY }),
  };
}

/** PLAYERS bound sessions on `gw`, counting the PUSH frames they receive. */
async function bindPlayers(gw: Gw, prefix: string): Promise<{ sockets: Socket[]; received: () => number }> {
  let received = 0;
  const sockets: Socket[] = [];
  for (let i = 0; i < PLAYERS; i++) {
    const socket = connect(gw.tcpPort, '127.0.0.1');
    let answered: () => void = () => {};
    const loggedIn = new Promise<void>((r) => {
      answered = r;
    });
    const decoder = new FrameDecoder(1 << 24, (type) => {
      if (type === FrameType.PUSH) received++;
      else if (type === FrameType.RESPONSE) answered();
    });
    socket.on('data', (d) => decoder.push(d));
    socket.on('error', () => {});
    await new Promise<void>((r) => socket.once('connect', () => r()));
    socket.write(encodeFrame(FrameType.REQUEST, 0, 1, 1, Buffer.from(`${prefix}${i}`)));
    await loggedIn;
    // Liveness is judged on what the client sends (heartbeat.timeoutMs): ping like a client.
    const ping = setInterval(() => socket.write(encodeFrame(FrameType.PING, 0, 0, 0)), 5_000);
    ping.unref();
    socket.on('close', () => clearInterval(ping));
    sockets.push(socket);
  }
  return { sockets, received: () => received };
}

interface Sample {
  perSecond: number;
  p50: number;
  p99: number;
  results: Record<string, number>;
}

/** `total` pushes through `api`, `perCall` players per call, CONCURRENCY calls in flight. */
async function run(api: Pool, prefix: string, total: number, perCall: number): Promise<Sample> {
  const calls = Math.ceil(total / perCall);
  const latencies = new Float64Array(calls);
  const results: Record<string, number> = {};
  let next = 0;
  let player = 0;
  const body = Buffer.from('x'.repeat(64)).toString('base64');
  const startedAt = performance.now();
  const worker = async (): Promise<void> => {
    while (next < calls) {
      const i = next++;
      const players: string[] = [];
      for (let j = 0; j < perCall; j++) players.push(`${prefix}${player++ % PLAYERS}`);
      const t0 = performance.now();
      const res = await api.request({
        method: 'POST',
        path: '/v1/push',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ players, cmd: 7, data: body }),
      });
      const answer = (await res.body.json()) as Record<string, number>;
      latencies[i] = performance.now() - t0;
      for (const k of ['delivered', 'cached', 'dropped']) results[k] = (results[k] ?? 0) + (answer[k] ?? 0);
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  const seconds = (performance.now() - startedAt) / 1000;
  latencies.sort();
  return {
    perSecond: (calls * perCall) / seconds,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    results,
  };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

async function main(): Promise<void> {
  const redis = await RedisServer.start();
  const backend = await startLoginBackend();
  const cluster = { engine: 'redis', redis: { url: redis.url, keyPrefix: 'bench:' } };
  const [memory, a, b] = await Promise.all([
    startGateway('mem', backend.url, { engine: 'local' }),
    startGateway('a', backend.url, cluster),
    startGateway('b', backend.url, cluster),
  ]);
  const memPlayers = await bindPlayers(memory, 'm');
  const clusterPlayers = await bindPlayers(b, 'c');
  // A bind lands in Redis one round trip after the login answer.
  await new Promise((r) => setTimeout(r, 200));

  const scenarios = [
    { name: 'memory', api: memory.api, prefix: 'm', seen: memPlayers.received },
    { name: 'redis-local', api: b.api, prefix: 'c', seen: clusterPlayers.received },
    { name: 'redis-cross', api: a.api, prefix: 'c', seen: clusterPlayers.received },
  ];
  const modes = [
    { name: `1 player/call`, perCall: 1, total: PUSHES },
    { name: `${BATCH} players/call`, perCall: BATCH, total: PUSHES * 5 },
  ];
  // Warm-up: JIT, pools, Redis script cache.
  for (const s of scenarios) await run(s.api, s.prefix, 2_000, 1);

  const samples = new Map<string, Sample[]>();
  for (let round = 0; round < ROUNDS; round++) {
    for (const mode of modes) {
      for (const s of scenarios) {
        const before = s.seen();
        const sample = await run(s.api, s.prefix, mode.total, mode.perCall);
        // "delivered" means written to the connection; let the last frames reach the clients.
        let seen = s.seen() - before;
        for (let waited = 0; seen < sample.results.delivered && waited < 2_000; waited += 20) {
          await new Promise((r) => setTimeout(r, 20));
          seen = s.seen() - before;
        }
        if (seen !== sample.results.delivered || sample.results.delivered !== mode.total) {
          console.error(
            `${s.name} ${mode.name}: ${JSON.stringify(sample.results)}, ${seen} PUSH frames seen`,
          );
        }
        const key = `${mode.name}\t${s.name}`;
        samples.set(key, [...(samples.get(key) ?? []), sample]);
      }
    }
  }

  console.log(
    `cluster push bench: ${PLAYERS} players, ${CONCURRENCY} calls in flight, 64-byte bodies, median of ${ROUNDS}`,
  );
  console.log('mode\t\t\tscenario\tmsgs/s\tp50 ms\tp99 ms');
  for (const [key, list] of samples) {
    const [mode, scenario] = key.split('\t');
    console.log(
      `${mode.padEnd(20)}\t${scenario.padEnd(12)}\t${Math.round(median(list.map((s) => s.perSecond)))}\t` +
        `${median(list.map((s) => s.p50)).toFixed(2)}\t${median(list.map((s) => s.p99)).toFixed(2)}`,
    );
  }

  for (const s of [...memPlayers.sockets, ...clusterPlayers.sockets]) s.destroy();
  await Promise.all([memory, a, b].map((g) => g.api.close()));
  await Promise.all([memory, a, b].map((g) => stop(g.child)));
  backend.close();
  await redis.stop();
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
