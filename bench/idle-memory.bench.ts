/**
 * Idle memory per session (npm run bench:idle): RSS growth of the gateway holding N
 * logged-in, idle sessions, against a bare `net` server holding N sockets, side by side.
 * Both servers run in their own process with the same Node flags; the clients run in a
 * third. env: SESSIONS (default 10000).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startExampleBackend } from '../examples/backend.js';
import { start, stop } from './lib.js';

const SESSIONS = Number(process.env.SESSIONS ?? 10_000);

const json = (line: string) => {
  try {
    return JSON.parse(line);
  } catch {
    return null;
  }
};
const rssBytes = (pid: number): number => {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m?.[1] ?? 0) * 1024;
};
const settle = () => new Promise((r) => setTimeout(r, 3_000));

async function measure(serverPid: number, port: number, loginCmd: number | null): Promise<number> {
  // A warm-up batch first, so lazily built code paths are not counted per session.
  const warm = await start(
    ['bench/idle-clients.ts', String(port), '200', ...(loginCmd ? [String(loginCmd)] : [])],
    json,
  );
  await settle();
  const before = rssBytes(serverPid);
  const clients = await start(
    ['bench/idle-clients.ts', String(port), String(SESSIONS), ...(loginCmd ? [String(loginCmd)] : [])],
    json,
  );
  await settle();
  const after = rssBytes(serverPid);
  await stop(clients.child);
  await stop(warm.child);
  return (after - before) / SESSIONS;
}

const backend = await startExampleBackend(0);
const config = join(tmpdir(), `bench-idle-${process.pid}.yaml`);
writeFileSync(
  config,
  `node: { id: bench }
listen: { tcp: "127.0.0.1:0", api: "127.0.0.1:0" }
targets: { game: { url: "http://127.0.0.1:${backend.port}/game/{cmd}" } }
routes: [{ cmds: "1000-2999", target: game }]
auth: { anonymousCmds: [1001] }
limits: { maxConnections: ${SESSIONS + 1_000} }
log: { level: warn }
`,
);

const bare = await start<{ port: number }>(['bench/bare-net-server.ts'], json);
const barePerSocket = await measure(bare.child.pid!, bare.value.port, null);
await stop(bare.child);

const gw = await start<{ tcp: string }>(
  ['src/cli.ts', '--config', config],
  (line) => {
    const e = json(line);
    return e?.msg === 'gateway listening' ? e : null;
  },
  { GATEWAY_LOG_LEVEL: 'info' },
);
const gatewayPerSession = await measure(gw.child.pid!, Number(gw.value.tcp.split(':').pop()), 1001);
await stop(gw.child);
await backend.close();

console.log(`idle memory, ${SESSIONS} sessions`);
console.log(`bare net.Socket:                 ${(barePerSocket / 1024).toFixed(1)} KB RSS per socket`);
console.log(`gateway, logged-in session:      ${(gatewayPerSession / 1024).toFixed(1)} KB RSS per session`);
console.log(`ratio: ${(gatewayPerSession / barePerSocket).toFixed(2)}× (target ≤ 2×)`);
process.exit(0);
