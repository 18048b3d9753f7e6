/**
 * Discovered target vs fixed URL (npm run bench:discovery). Side by side in one run: the
 * gateway forwarding to the bench backend by `targets.game.url`, and the same backend
 * found through etcd (`targets.game.discover`, kratos layout, round-robin over one
 * instance), alternated for ROUNDS rounds; the median gateway CPU per request of each and
 * their ratio (target ≤ 1.05). Needs `etcd` (Debian: etcd-server) on the PATH.
 *
 * env: REQUESTS (default 100000), CONNECTIONS (50), WINDOW (8), POOL (32), ROUNDS (4)
 */
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createEtcdClient } from '../src/registry/etcd-client.js';
import { encodeRecord, recordKey } from '../src/registry/records.js';
import { EtcdServer } from '../test/support/etcd-server.js';
import { cpuSeconds, start, stop } from './lib.js';

const REQUESTS = Number(process.env.REQUESTS ?? 100_000);
const CONNECTIONS = Number(process.env.CONNECTIONS ?? 50);
const WINDOW = Number(process.env.WINDOW ?? 8);
const POOL = Number(process.env.POOL ?? 32);
const ROUNDS = Number(process.env.ROUNDS ?? 4);

const json = (line: string) => {
  try {
    return JSON.parse(line);
  } catch {
    return null;
  }
};

const { child: backend, value: backendInfo } = await start<{ port: number }>(
  ['bench/backend-server.ts'],
  json,
);
const etcd = await EtcdServer.start();
const client = createEtcdClient({ endpoints: [etcd.url] });
const lease = client.lease(30);
await lease.put(recordKey('kratos', '/microservices', 'bench_backend', 'b1')).value(
  encodeRecord('kratos', {
    id: 'b1',
    name: 'bench_backend',
    version: '1',
    metadata: {},
    endpoints: [`http://127.0.0.1:${backendInfo.port}`],
  }),
);

async function gatewayRun(discover: boolean): Promise<number> {
  const target = discover
    ? `{ discover: bench_backend, path: "/rpc/{cmd}", connections: ${POOL}, timeoutMs: 10000 }`
    : `{ url: "http://127.0.0.1:${backendInfo.port}/rpc/{cmd}", connections: ${POOL}, timeoutMs: 10000 }`;
  const config = join(tmpdir(), `bench-discovery-${process.pid}-${discover}.yaml`);
  writeFileSync(
    config,
    `node: { id: bench }
listen: { tcp: "127.0.0.1:0", api: "127.0.0.1:0" }
targets: { game: ${target} }
routes: [{ cmds: "1-999999", target: game }]
auth: { required: false }
limits: { requestsPerSecond: 0, maxInFlightPerSession: ${WINDOW * 2} }
log: { level: warn }
${discover ? `registry: { etcd: { endpoints: ["${etcd.url}"] }, layout: kratos }` : ''}
`,
  );
  const { child, value: listening } = await start<{ tcp: string; api: string }>(
    ['src/cli.ts', '--config', config],
    (line) => {
      const entry = json(line);
      return entry?.msg === 'gateway listening' ? entry : null;
    },
    { GATEWAY_LOG_LEVEL: 'info' },
  );
  const port = Number(listening.tcp.split(':').pop());
  // Discovery reads etcd once before /readyz is 200; forward only after that.
  for (let i = 0; i < 100; i++) {
    if ((await fetch(`http://${listening.api}/readyz`)).status === 200) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  await load(port, Math.ceil(REQUESTS / 10)); // warm-up
  const cpu0 = cpuSeconds(child.pid!);
  const result = await load(port, REQUESTS);
  const cpu = cpuSeconds(child.pid!) - cpu0;
  await stop(child);
  if (result.errors > 0) throw new Error(`${result.errors} requests failed (discover: ${discover})`);
  return (cpu * 1e6) / result.requests;
}

async function load(port: number, total: number): Promise<{ requests: number; errors: number }> {
  const { child, value } = await start<{ requests: number; errors: number }>(
    ['bench/load-client.ts', String(port), String(total), String(CONNECTIONS), String(WINDOW)],
    json,
  );
  await new Promise((r) => child.once('exit', r));
  return value;
}

console.log(
  `discovery bench: ${REQUESTS} requests, ${CONNECTIONS} connections × ${WINDOW} pipelined, median of ${ROUNDS} alternated rounds`,
);
const fixed: number[] = [];
const discovered: number[] = [];
for (let round = 0; round < ROUNDS; round++) {
  if (round % 2 === 0) {
    fixed.push(await gatewayRun(false));
    discovered.push(await gatewayRun(true));
  } else {
    discovered.push(await gatewayRun(true));
    fixed.push(await gatewayRun(false));
  }
}
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
console.log(
  `fixed url          gateway CPU ${median(fixed).toFixed(1)} µs/req  (${fixed.map((x) => x.toFixed(1)).join(', ')})`,
);
console.log(
  `discovered target  gateway CPU ${median(discovered).toFixed(1)} µs/req  (${discovered.map((x) => x.toFixed(1)).join(', ')})`,
);
console.log(
  `CPU per request, discovered ÷ fixed: ${(median(discovered) / median(fixed)).toFixed(3)}× (target ≤ 1.05×)`,
);
await lease.revoke().catch(() => {});
client.close();
await etcd.stop();
await stop(backend);
process.exit(0);
