import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LatencyHistogram } from '../../src/load/histogram.js';
import { parseOptions } from '../../src/load/options.js';
import { formatSummary } from '../../src/load/report.js';
import { LOAD_DEFAULTS, parseMix, runLoad, type Summary } from '../../src/load/run.js';
import { startBackend, type TestBackend } from '../support/processes.js';
import { type RunningBoth, startGatewayBoth, TRANSPORTS } from '../support/transports.js';

let backend: TestBackend;
let gw: RunningBoth;

beforeAll(async () => {
  backend = await startBackend();
  // No per-session rate limit: the tool is meant to push the gateway.
  gw = await startGatewayBoth(backend.url, { limits: { requestsPerSecond: 0 } }, 'silent');
});
afterAll(async () => {
  await gw.gateway.stop();
  await backend.stop();
});

describe.each(TRANSPORTS)('load tool over %s', (kind) => {
  it('logs every session in, sends the mix as fast as possible, and sums up by status name', async () => {
    await backend.clear();
    const progress: unknown[] = [];
    const s = await runLoad(
      {
        ...LOAD_DEFAULTS,
        url: gw.url(kind),
        sessions: 5,
        durationMs: 1_200,
        concurrency: 2,
        playerPrefix: `load-${kind}-`,
        mix: parseMix('10:3,503:1'),
        body: new TextEncoder().encode('x'),
      },
      (p) => progress.push(p),
    );
    expect(s.sessions).toEqual({ target: 5, connected: 5, connectFailed: 0, loginFailed: 0, lost: 0 });
    expect(s.requests.sent).toBeGreaterThan(50);
    expect(s.requests.completed).toBe(s.requests.sent);
    expect(s.requests.ok + s.requests.failed).toBe(s.requests.completed);
    expect(s.requests.abandoned).toBe(0);
    expect(Object.keys(s.errors)).toEqual(['BACKEND_ERROR']);
    expect(s.errors.BACKEND_ERROR).toBe(s.byCmd['503'].sent);
    expect(s.byCmd['10'].failed).toBe(0);
    expect(s.rps).toBeGreaterThan(0);
    expect(s.latencyMs.p50).toBeGreaterThan(0);
    expect(s.latencyMs.p99).toBeGreaterThanOrEqual(s.latencyMs.p50);
    expect(progress.length).toBeGreaterThanOrEqual(1);
    expect(progress[0]).toMatchObject({ sessionsOpen: 5, rps: expect.any(Number) });
    const logins = (await backend.requests())
      .filter((r) => r.headers['x-gateway-cmd'] === '1')
      .map((r) => r.body);
    expect(logins.sort()).toEqual([0, 1, 2, 3, 4].map((i) => `load-${kind}-${i}`));
  });

  it('holds a target rate', async () => {
    const s = await runLoad({
      ...LOAD_DEFAULTS,
      url: gw.url(kind),
      sessions: 4,
      durationMs: 1_000,
      rate: 200,
      concurrency: 8,
    });
    expect(s.requests.sent + s.requests.skipped).toBe(200);
    expect(s.requests.skipped, JSON.stringify(s)).toBe(0);
    expect(s.requests.failed, JSON.stringify(s)).toBe(0);
  });
});

describe('load tool bounds', () => {
  it('stops on time when the backend does not answer: in-flight requests are abandoned after the drain', async () => {
    const t0 = Date.now();
    const s = await runLoad({
      ...LOAD_DEFAULTS,
      url: gw.url('tcp'),
      sessions: 3,
      durationMs: 300,
      drainMs: 200,
      mix: [{ cmd: 900, weight: 1 }],
      body: new TextEncoder().encode('5000'),
    });
    expect(Date.now() - t0).toBeLessThan(2_000);
    expect(s.requests.abandoned).toBe(3);
    expect(s.requests.completed).toBe(0);
  });

  it('reports sessions that cannot connect, and logins that fail', async () => {
    const refused = await runLoad({
      ...LOAD_DEFAULTS,
      url: 'tcp://127.0.0.1:1',
      sessions: 2,
      durationMs: 100,
    });
    expect(refused.sessions).toMatchObject({ connected: 0, connectFailed: 2 });
    expect(refused.requests.sent).toBe(0);
    // cmd 401 answers HTTP 401: AUTH_FAILED.
    const badLogin = await runLoad({
      ...LOAD_DEFAULTS,
      url: gw.url('ws'),
      sessions: 2,
      durationMs: 100,
      loginCmd: 401,
    });
    expect(badLogin.sessions).toMatchObject({ connected: 2, loginFailed: 2 });
    expect(badLogin.requests.sent).toBe(0);
  });
});

describe('load tool command line', () => {
  function run(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/load/cli.ts', ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    return new Promise((resolve) => child.on('exit', (code) => resolve({ code, stdout, stderr })));
  }

  it('runs, prints progress lines on stderr and a JSON summary on stdout', async () => {
    const r = await run([
      '--url',
      gw.url('ws'),
      '-n',
      '3',
      '-d',
      '1.5',
      '--mix',
      '10:1,11:1',
      '--body',
      '1234',
      '--json',
    ]);
    expect(r.code).toBe(0);
    const s = JSON.parse(r.stdout) as Summary;
    expect(s.sessions.connected).toBe(3);
    expect(s.requests.ok).toBeGreaterThan(0);
    // cmd 11 echoes x-gateway-status from the body; 1234 is an application code.
    expect(s.errors).toEqual({ APP_1234: s.byCmd['11'].sent });
    expect(r.stderr).toMatch(/\[\s+1s load\s*\] sessions 3 {2}rps \d+/);
  });

  it('exits 2 with the usage on bad arguments', async () => {
    const r = await run(['--url', 'http://x:1', '-n', '1']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/tcp:\/\/, ws:\/\/ or wss:\/\//);
    expect(r.stderr).toMatch(/usage: game-gateway-load/);
  });

  it('parses options', () => {
    const parsed = parseOptions([
      '-u',
      'tcp://h:1',
      '-n',
      '7',
      '-d',
      '2',
      '-r',
      '50',
      '--login-cmd',
      '0',
      '--body-bytes',
      '3',
    ]);
    expect(parsed).not.toBe('help');
    if (parsed === 'help') return;
    expect(parsed.options).toMatchObject({ sessions: 7, durationMs: 2_000, rate: 50, loginCmd: null });
    expect([...parsed.options.body]).toEqual([0x61, 0x61, 0x61]);
    expect(() => parseOptions(['-u', 'tcp://h:1', '-n', '0'])).toThrow(/--sessions/);
    expect(() => parseMix('10:0')).toThrow(/weight/);
    expect(parseMix('10:80, 11:20,12')).toEqual([
      { cmd: 10, weight: 80 },
      { cmd: 11, weight: 20 },
      { cmd: 12, weight: 1 },
    ]);
  });

  it('formats a readable summary', () => {
    const text = formatSummary({
      url: 'tcp://h:1',
      sessions: { target: 2, connected: 2, connectFailed: 0, loginFailed: 0, lost: 0 },
      connectMs: 5,
      durationMs: 1000,
      requests: { sent: 10, completed: 10, ok: 9, failed: 1, skipped: 0, abandoned: 0 },
      rps: 10,
      latencyMs: { mean: 1, p50: 1, p90: 2, p99: 3, p999: 3, max: 3 },
      errors: { BACKEND_TIMEOUT: 1 },
      byCmd: { '10': { sent: 10, failed: 1 } },
    });
    expect(text).toMatch(/rate {7}10 requests\/s/);
    expect(text).toMatch(/BACKEND_TIMEOUT\s+1/);
  });
});

describe('latency histogram', () => {
  it('answers quantiles within 2 % on a wide distribution', () => {
    const h = new LatencyHistogram();
    const values: number[] = [];
    for (let i = 1; i <= 10_000; i++) {
      const ms = (i * i) / 1e5; // 0.00001 ms … 1000 ms, skewed
      values.push(ms);
      h.record(ms);
    }
    for (const q of [0.5, 0.9, 0.99, 0.999]) {
      const exact = values[Math.ceil(q * values.length) - 1];
      expect(Math.abs(h.quantile(q) - exact) / exact).toBeLessThan(0.02);
    }
    expect(h.quantile(1)).toBe(1000);
    expect(h.count).toBe(10_000);
    h.reset();
    expect(h.quantile(0.5)).toBe(0);
  });
});
