// A real Prometheus server scrapes an in-process gateway under a short load, with the alert
// rules of deploy/prometheus/alerts.yml loaded; then the seed's PromQL (数据统计, 三) and every
// query of the Grafana dashboard run through Prometheus' HTTP API against what it scraped.
//
// Prometheus comes from the Debian package "prometheus" (apt-get install -y prometheus) or a
// release archive; set PROMETHEUS to use another binary. Without it the test is skipped
// locally and fails in CI.

import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cmd } from '../support/cmds.js';
import { type Running, startGateway } from '../support/gateway-fixture.js';
import { startBackend, stopChild, type TestBackend } from '../support/processes.js';
import { RawClient } from '../support/raw-client.js';
import { sleep } from '../support/wait.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '../..');
const ALERTS = join(root, 'deploy/prometheus/alerts.yml');
const DASHBOARD = join(root, 'deploy/grafana/gateway-dashboard.json');

function findPrometheus(): string | null {
  const candidate = process.env.PROMETHEUS ?? 'prometheus';
  const r = spawnSync(candidate, ['--version'], { encoding: 'utf8' });
  return r.status === 0 ? candidate : null;
}

const prometheusBin = findPrometheus();
const LOAD_MS = 10_000;
/** Players that log in and stay connected; one of them ("loud") goes over the suspect threshold. */
const QUIET_PLAYERS = ['p1', 'p2', 'p3', 'p4'];
const SUSPECT_PER_MINUTE = 60;

interface Vector {
  metric: Record<string, string>;
  value: [number, string];
}

let backend: TestBackend;
let gw: Running;
let prometheus: ChildProcess | null = null;
let promUrl = '';
let promLog = '';
let workDir = '';
const clients: RawClient[] = [];
const sent = { requests: 0 };

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

async function api<T>(path: string): Promise<T> {
  const res = await fetch(`${promUrl}${path}`);
  const body = (await res.json()) as { status: string; data: T; error?: string };
  if (body.status !== 'success') throw new Error(`${path}: ${body.error}`);
  return body.data;
}

async function query(expr: string): Promise<Vector[]> {
  const data = await api<{ resultType: string; result: Vector[] }>(
    `/api/v1/query?query=${encodeURIComponent(expr)}`,
  );
  expect(data.resultType, expr).toBe('vector');
  return data.result;
}

async function scalar(expr: string): Promise<number> {
  const result = await query(expr);
  expect(result, `${expr} should give one series`).toHaveLength(1);
  return Number(result[0].value[1]);
}

/** One client's share of the load: requests in a row with a pause, until `until`. */
async function run(
  c: RawClient,
  until: number,
  pauseMs: number,
  pick: (i: number) => [cmd: number, body: string],
): Promise<void> {
  for (let i = 0; Date.now() < until; i++) {
    const [cmd, body] = pick(i);
    await c.request(cmd, body, 5_000);
    sent.requests++;
    await sleep(pauseMs);
  }
}

describe.skipIf(prometheusBin === null && !process.env.CI)('Prometheus end to end', () => {
  beforeAll(async () => {
    if (prometheusBin === null) throw new Error('prometheus not found (apt-get install -y prometheus)');
    backend = await startBackend();
    gw = await startGateway(
      backend.url,
      { metrics: { playerIdLabel: 'suspects', suspectRequestsPerMinute: SUSPECT_PER_MINUTE } },
      'silent',
    );

    workDir = mkdtempSync(join(tmpdir(), 'gateway-prometheus-'));
    const port = await freePort();
    promUrl = `http://127.0.0.1:${port}`;
    const config = join(workDir, 'prometheus.yml');
    writeFileSync(
      config,
      [
        'global:',
        '  scrape_interval: 1s',
        '  evaluation_interval: 1s',
        'rule_files:',
        `  - ${JSON.stringify(ALERTS)}`,
        'scrape_configs:',
        '  - job_name: game-gateway',
        '    static_configs:',
        `      - targets: [${JSON.stringify(gw.apiUrl.replace('http://', ''))}]`,
        '',
      ].join('\n'),
    );
    prometheus = spawn(
      prometheusBin,
      [
        `--config.file=${config}`,
        `--storage.tsdb.path=${join(workDir, 'data')}`,
        `--web.listen-address=127.0.0.1:${port}`,
        '--log.level=warn',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    prometheus.stderr?.on('data', (chunk: Buffer) => {
      promLog += chunk.toString();
    });
    const started = Date.now();
    for (;;) {
      if (prometheus.exitCode !== null) throw new Error(`prometheus exited:\n${promLog}`);
      const ready = await fetch(`${promUrl}/-/ready`).then(
        (r) => r.ok,
        () => false,
      );
      if (ready) break;
      if (Date.now() - started > 15_000) throw new Error(`prometheus not ready:\n${promLog}`);
      await sleep(100);
    }

    // The load: quiet players (mostly echo, some backend errors, slow and unroutable
    // requests), one loud player over the suspect threshold, one client that never logs in.
    const until = Date.now() + LOAD_MS;
    const work: Promise<void>[] = [];
    for (const [n, player] of QUIET_PLAYERS.entries()) {
      const c = await RawClient.connect(gw.tcpPort);
      clients.push(c);
      expect((await c.login(player)).status).toBe(0);
      // Staggered per player, so each error type grows at several moments of the load
      // (rate() needs an increase after a series' first sample).
      work.push(
        run(c, until, 250, (i) => {
          const k = i + n * 2;
          if (k % 5 === 4) return [Cmd.HTTP_500, ''];
          if (k % 7 === 6) return [Cmd.SLEEP, String(100 + ((k * 37) % 300))];
          if (k % 8 === 7) return [Cmd.HTTP_401, ''];
          if (k % 9 === 8) return [1_000_000, ''];
          if (k % 11 === 10) return [Cmd.HANG_UP, ''];
          return [Cmd.ECHO, `${player}-${i}`];
        }),
      );
    }
    const loud = await RawClient.connect(gw.tcpPort);
    clients.push(loud);
    expect((await loud.login('loud')).status).toBe(0);
    work.push(run(loud, until, 25, (i) => [Cmd.ECHO, `loud-${i}`]));
    const anonymous = await RawClient.connect(gw.tcpPort);
    clients.push(anonymous);
    work.push(run(anonymous, until, 500, () => [20, '']));
    await Promise.all(work);
    // Two more scrapes after the load, so the last values are in.
    await sleep(2_500);
  }, 45_000);

  afterAll(async () => {
    for (const c of clients) c.close();
    if (prometheus) await stopChild(prometheus);
    await gw?.gateway.stop();
    await backend?.stop();
    if (workDir) rmSync(workDir, { recursive: true, force: true });
  });

  it('scrapes the gateway (up == 1) as job game-gateway', async () => {
    const up = await query('up{job="game-gateway"}');
    expect(up).toHaveLength(1);
    expect(up[0].value[1]).toBe('1');
    expect(up[0].metric.instance).toBe(gw.apiUrl.replace('http://', ''));
    expect(await scalar('count(gateway_build_info)')).toBe(1);
  });

  it('QPS: sum(rate(gateway_requests_total[1m])) matches the load', async () => {
    expect(sent.requests).toBeGreaterThan(300);
    const qps = await scalar('sum(rate(gateway_requests_total[1m]))');
    // rate() divides by the whole 1m window while the counters only moved for ~10 s of it
    // (docs/metrics.md: a window that is not yet full under-reports), so it lies between
    // the total over a minute and the per-second rate of the load.
    expect(qps).toBeGreaterThan(0);
    expect(qps).toBeGreaterThan((sent.requests / 60) * 0.3);
    expect(qps).toBeLessThan((sent.requests / (LOAD_MS / 1000)) * 1.5);
    // And the counters themselves hold every request (plus the logins).
    const total = await scalar('sum(gateway_requests_total)');
    expect(total).toBe(sent.requests + QUIET_PLAYERS.length + 1);
  });

  it('p99 latency: histogram_quantile over the summed buckets is plausible', async () => {
    const p99 = await scalar(
      'histogram_quantile(0.99, sum by (le)(rate(gateway_request_duration_seconds_bucket[1m])))',
    );
    // The slowest requests sleep up to 400 ms in the backend.
    expect(p99).toBeGreaterThan(0.05);
    expect(p99).toBeLessThan(3);
    const backendP99 = await scalar(
      'histogram_quantile(0.99, sum by (le)(rate(gateway_backend_duration_seconds_bucket[1m])))',
    );
    expect(backendP99).toBeGreaterThan(0.05);
    expect(backendP99).toBeLessThan(3);
  });

  it('online players: sum(gateway_sessions_current{status="authed"}) is the logged-in clients', async () => {
    expect(await scalar('sum(gateway_sessions_current{status="authed"})')).toBe(QUIET_PLAYERS.length + 1);
    expect(await scalar('sum(gateway_sessions_current{status="connected"})')).toBe(1);
  });

  it('errors: rate(gateway_errors_total[1m]) has every error type the load caused', async () => {
    const errors = await query('rate(gateway_errors_total[1m])');
    const byType = Object.fromEntries(errors.map((e) => [e.metric.type, Number(e.value[1])]));
    for (const type of [
      'backend_error',
      'auth_failed',
      'route_not_found',
      'backend_unavailable',
      'session_invalid',
    ]) {
      expect(byType[type], type).toBeGreaterThan(0);
    }
  });

  it('backend errors: sum by (target_service)(rate(gateway_backend_errors_total[1m]))', async () => {
    const result = await query('sum by (target_service)(rate(gateway_backend_errors_total[1m]))');
    expect(result.map((r) => r.metric.target_service)).toEqual(['game']);
    expect(Number(result[0].value[1])).toBeGreaterThan(0);
    const byKind = await query('sum by (status_code, error_type)(gateway_backend_errors_total)');
    expect(byKind.map((r) => `${r.metric.error_type}:${r.metric.status_code}`).sort()).toEqual([
      'connect_error:0',
      'http_error:401',
      'http_error:500',
    ]);
  });

  it('abusive players: rate(gateway_requests_total{player_id!=""}[1m]) finds the loud player only', async () => {
    const result = await query('rate(gateway_requests_total{player_id!=""}[1m])');
    expect(result.length).toBeGreaterThan(0);
    expect(new Set(result.map((r) => r.metric.player_id))).toEqual(new Set(['loud']));
    const perMinute = await scalar(
      'sum by (player_id) (rate(gateway_requests_total{player_id!=""}[1m])) * 60',
    );
    expect(perMinute).toBeGreaterThan(SUSPECT_PER_MINUTE);
  });

  it('loads the alert rules: the seed’s four alerts and the health group, all evaluating', async () => {
    const data = await api<{
      groups: Array<{
        name: string;
        rules: Array<{ name: string; type: string; health: string; lastError?: string }>;
      }>;
    }>('/api/v1/rules');
    const seed = data.groups.find((g) => g.name === 'game-gateway-seed');
    expect(seed?.rules.map((r) => r.name)).toEqual([
      'GatewayErrorSurge',
      'GatewayHighLatencyP99',
      'GatewayBackendDown',
      'GatewayAbusivePlayer',
    ]);
    expect(data.groups.map((g) => g.name)).toContain('game-gateway-health');
    const rules = data.groups.flatMap((g) => g.rules);
    for (const r of rules) {
      expect(r.type, r.name).toBe('alerting');
      expect(r.health, `${r.name}: ${r.lastError}`).toBe('ok');
    }
  });

  it('every query of the Grafana dashboard runs, and every panel this load feeds has data', async () => {
    const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8'));
    const exprs: Array<{ panel: string; expr: string }> = [];
    const walk = (panel: { title?: string; targets?: Array<{ expr?: string }>; panels?: unknown[] }) => {
      for (const t of panel.targets ?? []) if (t.expr) exprs.push({ panel: panel.title ?? '', expr: t.expr });
      for (const p of panel.panels ?? []) walk(p as typeof panel);
    };
    for (const p of dashboard.panels) walk(p);
    expect(exprs.length).toBeGreaterThan(20);
    const empty: string[] = [];
    for (const { panel, expr } of exprs) {
      const result = await query(expr.replaceAll('$instance', '.*'));
      if (result.length === 0) empty.push(panel);
    }
    // Every panel this load feeds has data; panels about what it never does (push, offline
    // drops, kicks, rejected connections, lifecycle events, the Redis cluster engine) are only
    // run. "Redis connected" has data: the local engine reports the gauge as 1.
    const fed = [
      'QPS',
      'Online players',
      'Connected, not logged in',
      'Error rate',
      'Average latency',
      'p99 latency',
      'Requests by result',
      'Sessions',
      'Request latency',
      'Errors by type',
      'Requests in flight',
      'Gateways',
      'QPS by cmd',
      'Errors and drops by cmd',
      'p95 latency by cmd',
      'p99 latency by cmd',
      'Suspect players: requests per minute',
      'Top suspect players (requests/min over 5m)',
      'Players known to the gateway',
      'Suspect players by cmd (requests/min)',
      'Backend errors by service',
      'Backend errors by kind',
      'Backend error ratio',
      'Backend latency p50 / p99',
      'Backend calls',
      'Event-loop lag',
      'Active handles',
      'Memory',
      'CPU',
      'Network bytes in / out',
      'Requests in flight by gateway',
      'Redis connected',
    ];
    const panels = new Set(exprs.map((e) => e.panel));
    for (const panel of fed) {
      expect(panels.has(panel), `dashboard panel "${panel}"`).toBe(true);
      expect(empty, `panel "${panel}" has no data`).not.toContain(panel);
    }
  });
});
