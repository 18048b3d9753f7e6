import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ExampleBackend, startExampleBackend } from '../../examples/backend.js';
import { LatencyHistogram } from '../../src/load/histogram.js';
import { parseOptions, parseUrl } from '../../src/load/options.js';
import { formatProgress, formatSummary } from '../../src/load/report.js';
import { LOAD_DEFAULTS, type LoadOptions, parseMix, runLoad, type Summary } from '../../src/load/run.js';
import { Cmd } from '../support/cmds.js';
import { startBackend, type TestBackend } from '../support/processes.js';
import { type RunningBoth, startGatewayBoth, TRANSPORTS } from '../support/transports.js';

let backend: TestBackend;
let gw: RunningBoth;

/** The test backend's login and echo cmds, flat out: the gateway under test has no rate limit. */
const FLAT: Omit<LoadOptions, 'url'> = {
  ...LOAD_DEFAULTS,
  loginCmd: Cmd.LOGIN,
  mix: [{ cmd: Cmd.ECHO, weight: 1 }],
  rate: 0,
  ratePerSession: 0,
  concurrency: 1,
};

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
        ...FLAT,
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
    expect(s.sessions).toEqual({
      target: 5,
      connected: 5,
      connectFailed: 0,
      loginFailed: 0,
      lost: 0,
      connectErrors: {},
      loginErrors: {},
      lostReasons: {},
    });
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
      ...FLAT,
      url: gw.url(kind),
      sessions: 4,
      durationMs: 1_000,
      rate: 200,
      // 4 × 50 slots hold all 200 requests at once: no request can be skipped, however slow the answers.
      concurrency: 50,
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
      ...FLAT,
      url: gw.url('tcp'),
      sessions: 3,
      durationMs: 300,
      drainMs: 200,
      mix: [{ cmd: Cmd.SLEEP, weight: 1 }],
      body: new TextEncoder().encode('5000'),
    });
    expect(Date.now() - t0).toBeLessThan(2_000);
    expect(s.requests.abandoned).toBe(3);
    expect(s.requests.completed).toBe(0);
  });

  it('reports sessions that cannot connect, and logins that fail', async () => {
    const refused = await runLoad({
      ...FLAT,
      url: 'tcp://127.0.0.1:1',
      sessions: 2,
      durationMs: 100,
    });
    expect(refused.sessions).toMatchObject({
      connected: 0,
      connectFailed: 2,
      connectErrors: { ECONNREFUSED: 2 },
    });
    expect(refused.requests.sent).toBe(0);
    const refusedWs = await runLoad({ ...FLAT, url: 'ws://127.0.0.1:1/', sessions: 1, durationMs: 100 });
    expect(refusedWs.sessions.connectErrors).toEqual({ ECONNREFUSED: 1 });
    // cmd 401 answers HTTP 401: AUTH_FAILED.
    const badLogin = await runLoad({
      ...FLAT,
      url: gw.url('ws'),
      sessions: 2,
      durationMs: 100,
      loginCmd: Cmd.HTTP_401,
    });
    expect(badLogin.sessions).toMatchObject({
      connected: 2,
      loginFailed: 2,
      loginErrors: { AUTH_FAILED: 2 },
    });
    expect(badLogin.requests.sent).toBe(0);
    // cmd 2000 is not in the test gateway's auth.anonymousCmds.
    const notAnonymous = await runLoad({
      ...FLAT,
      url: gw.url('tcp'),
      sessions: 1,
      durationMs: 100,
      loginCmd: 2000,
    });
    expect(notAnonymous.sessions.loginErrors).toEqual({ NOT_AUTHENTICATED: 1 });
    expect(formatSummary(notAnonymous)).toMatch(
      /login failed 1: NOT_AUTHENTICATED 1[\s\S]*hint: login got NOT_AUTHENTICATED: the login cmd is not in the gateway's auth\.anonymousCmds/,
    );
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
      '--login-cmd',
      '1',
      '--rate',
      '0',
      '--mix',
      '10:3,11:1',
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
    // Every progress line with failures names them.
    expect(r.stderr).toMatch(/errors [1-9]\d* \(APP_1234 [1-9]\d*\)/);
  });

  it('exits 1 when most requests fail, naming the reason in the progress line and the summary', async () => {
    const r = await run(['--url', gw.url('tcp'), '-n', '2', '-d', '1.2', '--login-cmd', '1', '--mix', '503']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/errors [1-9]\d* \(BACKEND_ERROR [1-9]\d*\)/);
    expect(r.stdout).toMatch(/errors {5}\d+, by reason:\n {4}BACKEND_ERROR +\d+/);
    expect(r.stderr).toMatch(/game-gateway-load: failed: most requests failed/);
  });

  it('names why sessions could not connect, and exits 1', async () => {
    const r = await run(['--url', '127.0.0.1:1', '-n', '2', '-d', '0.2']);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/target {5}tcp:\/\/127\.0\.0\.1:1/);
    expect(r.stdout).toMatch(/connect failed 2: ECONNREFUSED 2/);
    expect(r.stdout).toMatch(/hint: ECONNREFUSED: nothing listens at tcp:\/\/127\.0\.0\.1:1/);
    expect(r.stdout).toMatch(/pace {7}none: no session came up/);
    expect(r.stderr).toMatch(/no session could be opened and logged in/);
  });

  it('takes a bare host:port as tcp://host:port', async () => {
    const r = await run([
      '--url',
      `127.0.0.1:${gw.port('tcp')}`,
      '-n',
      '1',
      '-d',
      '0.5',
      '--login-cmd',
      '1',
      '--mix',
      '10',
      '--json',
    ]);
    expect(r.code, r.stderr).toBe(0);
    const s = JSON.parse(r.stdout) as Summary;
    expect(s.url).toBe(`tcp://127.0.0.1:${gw.port('tcp')}`);
    expect(s.requests.ok).toBeGreaterThan(0);
    expect(parseUrl('gw.example.com:7000')).toBe('tcp://gw.example.com:7000');
    expect(() => parseUrl('tcp://h')).toThrow(/has no port/);
  });

  it('exits 2 with the usage on bad arguments', async () => {
    const r = await run(['--url', 'http://x:1', '-n', '1']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/tcp:\/\/, tls:\/\/, ws:\/\/ or wss:\/\//);
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
    expect(parsed.options).toMatchObject({
      sessions: 7,
      durationMs: 2_000,
      rate: 50,
      ratePerSession: 0,
      loginCmd: null,
    });
    const defaults = parseOptions(['-u', 'tcp://h:1']);
    expect(defaults !== 'help' && defaults.options).toMatchObject({
      rate: 0,
      ratePerSession: 50,
      loginCmd: 1001,
      mix: [{ cmd: 2004, weight: 1 }],
    });
    expect(() => parseOptions(['-u', 'tcp://h:1', '-r', '5', '-s', '5'])).toThrow(/give one of them/);
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
      sessions: {
        target: 2,
        connected: 2,
        connectFailed: 0,
        loginFailed: 0,
        lost: 0,
        connectErrors: {},
        loginErrors: {},
        lostReasons: {},
      },
      rate: 0,
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
    expect(
      formatProgress({
        phase: 'connect',
        elapsedS: 1,
        sessionsOpen: 0,
        rps: 0,
        p50Ms: 0,
        p99Ms: 0,
        inFlight: 0,
        errors: 0,
        errorsByReason: {},
        connectFailures: { ECONNREFUSED: 3, 'login NOT_AUTHENTICATED': 1 },
      }),
    ).toMatch(/errors 0 {2}failed sessions: ECONNREFUSED 3, login NOT_AUTHENTICATED 1$/);
  });
});

describe('load tool defaults against a gateway with default limits', () => {
  let example: ExampleBackend;
  let plain: RunningBoth;
  beforeAll(async () => {
    example = await startExampleBackend(0, () => plain.apiUrl);
    // The example setup (examples/gateway.yaml): LOGIN 1001 anonymous, 1000-2999 routed; limits left at their defaults.
    plain = await startGatewayBoth(
      null,
      {
        targets: { game: { url: `http://127.0.0.1:${example.port}/game/{cmd}` } },
        routes: [{ cmds: '1000-2999', target: 'game' }],
        auth: { anonymousCmds: [1001] },
      },
      'silent',
    );
  });
  afterAll(async () => {
    await plain.gateway.stop();
    await example.close();
  });

  it('the default login and mix succeed, paced within limits.requestsPerSecond: nothing is RATE_LIMITED', async () => {
    const s = await runLoad({ ...LOAD_DEFAULTS, url: plain.url('tcp'), sessions: 3, durationMs: 1_500 });
    expect(s.sessions).toMatchObject({ connected: 3, loginFailed: 0 });
    expect(s.rate).toBe(150);
    expect(s.requests.sent + s.requests.skipped).toBe(225);
    expect(s.errors, JSON.stringify(s)).toEqual({});
  });

  it('flat out, the gateway limits each session: RATE_LIMITED is named, with what to change', async () => {
    // A low limit, so any machine sends faster than it allows within the run.
    const limited = await startGatewayBoth(
      null,
      {
        targets: { game: { url: `http://127.0.0.1:${example.port}/game/{cmd}` } },
        routes: [{ cmds: '1000-2999', target: 'game' }],
        auth: { anonymousCmds: [1001] },
        limits: { requestsPerSecond: 2 },
      },
      'silent',
    );
    try {
      const s = await runLoad({
        ...LOAD_DEFAULTS,
        url: limited.url('ws'),
        sessions: 2,
        durationMs: 1_000,
        ratePerSession: 0,
      });
      // Per session: a bucket of 4 (the login takes one) and 2 more in the second: at most 5 answered ok.
      expect(s.requests.ok, JSON.stringify(s)).toBeLessThanOrEqual(10);
      expect(s.errors.RATE_LIMITED, JSON.stringify(s)).toBeGreaterThan(0);
      expect(formatSummary(s)).toMatch(
        /hint: RATE_LIMITED: .*limits\.requestsPerSecond: 0 on a test gateway/,
      );
    } finally {
      await limited.gateway.stop();
    }
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
