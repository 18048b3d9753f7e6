/**
 * End-to-end forward benchmark (npm run bench:forward). Side by side in one run:
 *   1. a bare undici Pool posting to the bench backend (the baseline CPU per request);
 *   2. the gateway (its CLI, in its own process) forwarding the same requests from a
 *      load client holding many pipelined TCP connections, metrics scraped every second;
 *   3. the same with metrics.enabled: false.
 * The gateway's CPU comes from its own kernel accounting (/proc/<pid>/stat). Ratios are
 * what to compare across runs: the machine is shared and absolute numbers drift.
 *
 * Each is run ROUNDS times, interleaved, and the median is reported, so a burst of
 * noise from another process skews one sample, not the result. The metrics cost is
 * printed both as throughput and as gateway CPU per request; on a shared 2-core machine
 * the throughput of separate runs varies by ±5 %, so read the two together.
 *
 * TLS=1 compares TLS over TCP with plain TCP instead (listen.tls with a certificate made
 * by openssl for the run): the same gateway config, metrics on and scraped, plain and TLS
 * gateways interleaved per round; it prints the gateway CPU per request of each and their
 * ratio. The TLS handshakes of the 50 connections fall inside the measured window.
 *
 * env: REQUESTS (default 100000), CONNECTIONS (50), WINDOW (8), POOL (32), ROUNDS (5), TLS (0)
 */
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TestPki } from '../test/support/tls.js';
import { cpuSeconds, start, stop } from './lib.js';

const REQUESTS = Number(process.env.REQUESTS ?? 100_000);
const CONNECTIONS = Number(process.env.CONNECTIONS ?? 50);
const WINDOW = Number(process.env.WINDOW ?? 8);
const POOL = Number(process.env.POOL ?? 32);
const ROUNDS = Number(process.env.ROUNDS ?? 5);
const TLS = process.env.TLS === '1';

/** TLS=1: the CA the load client trusts and the gateway's certificate, made for this run. */
const pki = TLS ? new TestPki() : null;
const tlsFiles = pki === null ? null : { ca: pki.ca.cert, ...pki.server('bench-gateway') };

interface LoadResult {
  requests: number;
  seconds: number;
  errors: number;
  p50ms: number;
  p99ms: number;
}

const json = (line: string) => {
  try {
    return JSON.parse(line);
  } catch {
    return null;
  }
};

async function runLoad(port: number, total: number, ca: string | null): Promise<LoadResult> {
  const args = ['bench/load-client.ts', String(port), String(total), String(CONNECTIONS), String(WINDOW)];
  const { child, lines, value } = await start<LoadResult>(ca === null ? args : [...args, ca], json);
  void lines;
  await new Promise((r) => child.once('exit', r));
  return value;
}

async function gatewayRun(backendPort: number, metricsEnabled: boolean, phases: boolean[], tls = false) {
  const config = join(tmpdir(), `bench-gw-${process.pid}-${metricsEnabled}-${tls}.yaml`);
  // The API stays plain so the scraper's cost is the same on both sides.
  const tlsKeys =
    tls && tlsFiles !== null
      ? `, tls: { cert: "${tlsFiles.cert}", key: "${tlsFiles.key}", plain: [api] }`
      : '';
  writeFileSync(
    config,
    `node: { id: bench }
listen: { tcp: "127.0.0.1:0", api: "127.0.0.1:0"${tlsKeys} }
targets: { game: { url: "http://127.0.0.1:${backendPort}/rpc/{cmd}", connections: ${POOL}, timeoutMs: 10000 } }
routes: [{ cmds: "1-999999", target: game }]
auth: { required: false }
limits: { requestsPerSecond: 0, maxInFlightPerSession: ${WINDOW * 2} }
metrics: { enabled: ${metricsEnabled} }
log: { level: warn }
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
  const ca = tls ? tlsFiles!.ca : null;
  await runLoad(port, Math.ceil(REQUESTS / 10), ca); // warm-up: JIT, pools, connections
  const results = [];
  for (const scrape of phases) results.push(await phase(child.pid!, port, listening.api, scrape, ca));
  await stop(child);
  return results;
}

/** One measured load run against a running gateway, with or without a scrape every second. */
async function phase(pid: number, port: number, api: string, scrape: boolean, ca: string | null = null) {
  let scrapes = 0;
  const scrapeMs: number[] = [];
  const scraper = scrape
    ? setInterval(() => {
        const t0 = performance.now();
        fetch(`http://${api}/metrics`)
          .then((r) => r.text())
          .then(
            () => {
              scrapes++;
              scrapeMs.push(performance.now() - t0);
            },
            () => {},
          );
      }, 1_000)
    : null;
  const cpu0 = cpuSeconds(pid);
  const load = await runLoad(port, REQUESTS, ca);
  const cpu = cpuSeconds(pid) - cpu0;
  if (scraper) clearInterval(scraper);
  scrapeMs.sort((a, b) => a - b);
  return {
    ...load,
    rps: load.requests / load.seconds,
    cpuMicrosPerRequest: (cpu * 1e6) / load.requests,
    scrapes,
    scrapeMs: scrapeMs[Math.floor(scrapeMs.length / 2)] ?? 0,
  };
}

const { child: backend, value: backendInfo } = await start<{ port: number }>(
  ['bench/backend-server.ts'],
  json,
);
const url = `http://127.0.0.1:${backendInfo.port}`;

console.log(
  `forward bench${TLS ? ' (TLS=1: TLS over TCP against plain TCP)' : ''}: ${REQUESTS} requests, ${CONNECTIONS} connections × ${WINDOW} pipelined, backend pool ${POOL}, median of ${ROUNDS} interleaved rounds`,
);

type GatewayResult = Awaited<ReturnType<typeof phase>>;

if (TLS) await tlsBench();
const undiciRuns: Array<{ rps: number; cpu: number }> = [];
const metricsRuns: GatewayResult[] = [];
const bareRuns: GatewayResult[] = [];
for (let round = 0; round < ROUNDS; round++) {
  const base = await start<{ requests: number; seconds: number; cpuMicros: number }>(
    ['bench/undici-client.ts', url, String(REQUESTS), String(CONNECTIONS * WINDOW), String(POOL)],
    json,
  );
  undiciRuns.push({
    rps: base.value.requests / base.value.seconds,
    cpu: base.value.cpuMicros / base.value.requests,
  });
  // Alternate which runs first, so a drift in the machine's load favours neither side.
  if (round % 2 === 0) {
    metricsRuns.push(...(await gatewayRun(backendInfo.port, true, [true])));
    bareRuns.push(...(await gatewayRun(backendInfo.port, false, [false])));
  } else {
    bareRuns.push(...(await gatewayRun(backendInfo.port, false, [false])));
    metricsRuns.push(...(await gatewayRun(backendInfo.port, true, [true])));
  }
}
// The scrape's own cost, free of process-to-process variance (JIT decisions differ between
// processes by a few percent): one gateway, load runs with and without scraping, alternated.
const samePhases = await gatewayRun(backendInfo.port, true, [false, true, true, false, false, true]);
const scrapedPhases = samePhases.filter((r) => r.scrapes > 0);
const quietPhases = samePhases.filter((r) => r.scrapes === 0);
await stop(backend);

function median<T>(runs: T[], key: (r: T) => number): number {
  const sorted = runs.map(key).sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}
function summary(runs: GatewayResult[]) {
  return {
    rps: median(runs, (r) => r.rps),
    p50ms: median(runs, (r) => r.p50ms),
    p99ms: median(runs, (r) => r.p99ms),
    cpuMicrosPerRequest: median(runs, (r) => r.cpuMicrosPerRequest),
    errors: runs.reduce((n, r) => n + r.errors, 0),
    scrapes: runs.reduce((n, r) => n + r.scrapes, 0),
    scrapeMs: median(runs, (r) => r.scrapeMs),
  };
}
const withMetrics = summary(metricsRuns);
const noMetrics = summary(bareRuns);
const undiciCpu = median(undiciRuns, (r) => r.cpu);
const undiciRps = median(undiciRuns, (r) => r.rps);

function row(name: string, r: ReturnType<typeof summary>): string {
  return `${name.padEnd(34)} ${r.rps.toFixed(0).padStart(8)} req/s  p50 ${r.p50ms.toFixed(2)} ms  p99 ${r.p99ms.toFixed(2)} ms  gateway CPU ${r.cpuMicrosPerRequest.toFixed(1)} µs/req  errors ${r.errors}`;
}
console.log(
  `${'bare undici client'.padEnd(34)} ${undiciRps.toFixed(0).padStart(8)} req/s  client CPU ${undiciCpu.toFixed(1)} µs/req`,
);
console.log(row('gateway, metrics scraped every 1 s', withMetrics));
console.log(row('gateway, metrics disabled', noMetrics));
console.log(
  `CPU per request, gateway ÷ bare undici: ${(withMetrics.cpuMicrosPerRequest / undiciCpu).toFixed(2)}× (target ≤ 1.3×)`,
);
console.log(
  `throughput, metrics scraped ÷ disabled: ${(withMetrics.rps / noMetrics.rps).toFixed(3)}× (target ≥ 0.95×; ${withMetrics.scrapes} scrapes)`,
);
const scrapedRps = median(scrapedPhases, (r) => r.rps);
const quietRps = median(quietPhases, (r) => r.rps);
const scrapedCpu = median(scrapedPhases, (r) => r.cpuMicrosPerRequest);
const quietCpu = median(quietPhases, (r) => r.cpuMicrosPerRequest);
console.log(
  `same process, scraped every 1 s ÷ not scraped: throughput ${(scrapedRps / quietRps).toFixed(3)}×, CPU per request ${(scrapedCpu / quietCpu).toFixed(3)}× (median of 3 phases each)`,
);
console.log(
  `CPU per request, metrics scraped ÷ disabled: ${(withMetrics.cpuMicrosPerRequest / noMetrics.cpuMicrosPerRequest).toFixed(3)}×; one scrape under load answers in ${withMetrics.scrapeMs.toFixed(1)} ms (median)`,
);
process.exit(0);

/** TLS=1: plain TCP and TLS over TCP gateways, interleaved, metrics on and scraped on both. */
async function tlsBench(): Promise<never> {
  const plainRuns: GatewayResult[] = [];
  const tlsRuns: GatewayResult[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    // Alternate which runs first, so a drift in the machine's load favours neither side.
    if (round % 2 === 0) {
      plainRuns.push(...(await gatewayRun(backendInfo.port, true, [true])));
      tlsRuns.push(...(await gatewayRun(backendInfo.port, true, [true], true)));
    } else {
      tlsRuns.push(...(await gatewayRun(backendInfo.port, true, [true], true)));
      plainRuns.push(...(await gatewayRun(backendInfo.port, true, [true])));
    }
  }
  await stop(backend);
  const plain = summary(plainRuns);
  const secure = summary(tlsRuns);
  console.log(row('gateway, plain TCP', plain));
  console.log(row('gateway, TLS over TCP', secure));
  console.log(
    `TLS ÷ plain TCP: gateway CPU per request ${(secure.cpuMicrosPerRequest / plain.cpuMicrosPerRequest).toFixed(2)}×, throughput ${(secure.rps / plain.rps).toFixed(2)}×, p50 ${(secure.p50ms / plain.p50ms).toFixed(2)}× (median of ${ROUNDS} rounds each; a shared machine: noisy)`,
  );
  process.exit(0);
}
