// The metrics of SPEC §8 (names and labels of the seed's 数据统计 section), checked end to end:
// real TCP clients, the real test backend process, and GET /metrics parsed from the
// Prometheus text format. Every test starts its own gateway so the counts are exact.

import { createServer } from 'node:net';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { GatewayConfigInput } from '../../src/config/schema.js';
import { encodeFrame, FrameType } from '../../src/protocol/frame.js';
import { Status } from '../../src/protocol/status.js';
import { VERSION } from '../../src/version.js';
import { Cmd } from '../support/cmds.js';
import { type Running, startGateway } from '../support/gateway-fixture.js';
import { startBackend, type TestBackend } from '../support/processes.js';
import { RawClient } from '../support/raw-client.js';
import { sleep } from '../support/wait.js';

// ---------------------------------------------------------------------------------------
// A small parser of the Prometheus text exposition format (version 0.0.4).

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

class Exposition {
  readonly samples: Sample[] = [];
  readonly types = new Map<string, string>();
  readonly help = new Map<string, string>();

  constructor(readonly text: string) {
    for (const line of text.split('\n')) {
      if (line.trim() === '') continue;
      const meta = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/.exec(line);
      if (meta) {
        (meta[1] === 'TYPE' ? this.types : this.help).set(meta[2], meta[3]);
        continue;
      }
      if (line.startsWith('#')) continue;
      this.samples.push(parseSample(line));
    }
  }

  /** Samples of `name` whose labels include `where`. */
  series(name: string, where: Record<string, string> = {}): Sample[] {
    return this.samples.filter(
      (s) => s.name === name && Object.entries(where).every(([k, v]) => s.labels[k] === v),
    );
  }

  /** The value of the sample with exactly these labels, or undefined. */
  value(name: string, labels: Record<string, string> = {}): number | undefined {
    const keys = Object.keys(labels);
    const hit = this.series(name, labels).find((s) => Object.keys(s.labels).length === keys.length);
    return hit?.value;
  }

  sum(name: string, where: Record<string, string> = {}): number {
    return this.series(name, where).reduce((a, s) => a + s.value, 0);
  }

  /** Non-zero samples of `name`, keyed by the values of `keys` joined with "|". */
  nonZero(name: string, keys: string[]): Record<string, number> {
    const out: Record<string, number> = {};
    for (const s of this.series(name)) {
      if (s.value === 0) continue;
      const key = keys.map((k) => s.labels[k]).join('|');
      out[key] = (out[key] ?? 0) + s.value;
    }
    return out;
  }
}

function parseSample(line: string): Sample {
  const name = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(line)?.[0];
  if (!name) throw new Error(`bad sample line: ${line}`);
  let i = name.length;
  const labels: Record<string, string> = {};
  if (line[i] === '{') {
    i++;
    while (line[i] !== '}') {
      const label = /^[a-zA-Z_][a-zA-Z0-9_]*/.exec(line.slice(i))?.[0];
      if (!label || line[i + label.length] !== '=' || line[i + label.length + 1] !== '"') {
        throw new Error(`bad label at ${i} in: ${line}`);
      }
      i += label.length + 2;
      let value = '';
      while (line[i] !== '"') {
        if (i >= line.length) throw new Error(`unterminated label value in: ${line}`);
        if (line[i] === '\\') {
          const e = line[i + 1];
          value += e === 'n' ? '\n' : e;
          i += 2;
        } else value += line[i++];
      }
      i++;
      labels[label] = value;
      if (line[i] === ',') i++;
    }
    i++;
  }
  if (line[i] !== ' ') throw new Error(`no value in: ${line}`);
  const token = line.slice(i + 1).split(' ')[0];
  // Like Prometheus (Go's ParseFloat): Inf and NaN in any case; prom-client writes "Nan".
  const special: Record<string, number> = { '+inf': Infinity, inf: Infinity, '-inf': -Infinity, nan: NaN };
  const value = special[token.toLowerCase()] ?? Number(token);
  if (Number.isNaN(value) && token.toLowerCase() !== 'nan') throw new Error(`bad value in: ${line}`);
  return { name, labels, value };
}

async function scrapeUrl(url: string, headers: Record<string, string> = {}): Promise<Exposition> {
  const res = await fetch(url, { headers });
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  return new Exposition(await res.text());
}

const scrape = (g: Running): Promise<Exposition> => scrapeUrl(`${g.apiUrl}/metrics`);

// ---------------------------------------------------------------------------------------
// Fixtures

let backend: TestBackend;
const gateways: Running[] = [];
const clients: RawClient[] = [];

beforeAll(async () => {
  backend = await startBackend();
});
afterAll(async () => {
  await backend.stop();
});
beforeEach(() => backend.clear());
afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await Promise.all(gateways.splice(0).map((g) => g.gateway.stop()));
});

async function fresh(overrides: Partial<GatewayConfigInput> = {}, level = 'silent'): Promise<Running> {
  const g = await startGateway(backend.url, overrides, level);
  gateways.push(g);
  return g;
}

async function client(g: Running): Promise<RawClient> {
  const c = await RawClient.connect(g.tcpPort);
  clients.push(c);
  return c;
}

async function eventually<T>(fn: () => T | Promise<T>, timeoutMs = 3_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      if (Date.now() > until) throw err;
      await sleep(20);
    }
  }
}

/** A TCP port nobody listens on (connect → ECONNREFUSED). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

const ANONYMOUS = [
  Cmd.LOGIN,
  Cmd.LOGOUT,
  Cmd.ECHO,
  Cmd.ECHO_STATUS,
  Cmd.ECHO_CLOSE,
  Cmd.HTTP_401,
  Cmd.HTTP_403,
  Cmd.HTTP_404,
  Cmd.HTTP_500,
  Cmd.HTTP_503,
  Cmd.SLEEP,
  Cmd.HANG_UP,
  7000, // routed to the dead target in the error-counter test
];
const DEFAULT_BUCKETS = [
  '0.005',
  '0.01',
  '0.025',
  '0.05',
  '0.1',
  '0.25',
  '0.5',
  '1',
  '2.5',
  '5',
  '10',
  '+Inf',
];

// ---------------------------------------------------------------------------------------

describe('the /metrics endpoint', () => {
  it('exports every metric of the seed with its type, plus build info and the default process metrics', async () => {
    const g = await fresh();
    const m = await scrape(g);
    const types: Record<string, string> = {
      gateway_requests_total: 'counter',
      gateway_bytes_in_total: 'counter',
      gateway_bytes_out_total: 'counter',
      gateway_errors_total: 'counter',
      gateway_backend_errors_total: 'counter',
      gateway_request_duration_seconds: 'histogram',
      gateway_backend_duration_seconds: 'histogram',
      gateway_sessions_current: 'gauge',
      gateway_requests_in_flight: 'gauge',
      gateway_kicks_total: 'counter',
      gateway_heartbeat_timeouts_total: 'counter',
      gateway_build_info: 'gauge',
      process_resident_memory_bytes: 'gauge',
      process_cpu_seconds_total: 'counter',
      nodejs_eventloop_lag_seconds: 'gauge',
      nodejs_active_handles_total: 'gauge',
    };
    for (const [name, type] of Object.entries(types)) expect(m.types.get(name), name).toBe(type);
    expect(m.value('gateway_build_info', { version: VERSION, node_version: process.version })).toBe(1);
    expect(m.value('process_resident_memory_bytes')).toBeGreaterThan(1_000_000);
    expect(m.value('process_cpu_seconds_total')).toBeGreaterThan(0);
    // The gateway runs in this process: a 60 ms block of its event loop shows in the lag it
    // exports. The scrape above reset the delay monitor's histogram (10 ms samples): a block
    // right after it was not recorded on this machine, so the monitor gets a few samples
    // first, the block runs in a loop phase of its own, and two samples follow it.
    await sleep(50);
    await new Promise<void>((resolve) =>
      setImmediate(() => {
        const blockedUntil = Date.now() + 60;
        while (Date.now() < blockedUntil) {}
        resolve();
      }),
    );
    await sleep(30);
    const after = await scrape(g);
    expect(after.value('nodejs_eventloop_lag_max_seconds')).toBeGreaterThan(0.04);
    expect(m.sum('nodejs_active_handles_total')).toBeGreaterThan(0);
    // Counters without labels start at 0 and are exported before anything happened.
    expect(m.value('gateway_bytes_in_total')).toBe(0);
    expect(m.value('gateway_bytes_out_total')).toBe(0);
    expect(m.value('gateway_heartbeat_timeouts_total')).toBe(0);
    expect(m.value('gateway_sessions_current', { status: 'connected' })).toBe(0);
    expect(m.value('gateway_sessions_current', { status: 'authed' })).toBe(0);
    expect(m.value('gateway_requests_in_flight')).toBe(0);
  });

  it('metrics.enabled=false turns off only the default process/runtime metrics', async () => {
    const g = await fresh({ metrics: { enabled: false } });
    const c = await client(g);
    await c.request(Cmd.ECHO, 'x');
    const m = await scrape(g);
    expect(m.types.has('process_resident_memory_bytes')).toBe(false);
    expect(m.types.has('nodejs_eventloop_lag_seconds')).toBe(false);
    expect(
      m.value('gateway_requests_total', {
        cmd: '10',
        player_id: '',
        route_target: 'game',
        result: 'success',
      }),
    ).toBe(1);
    expect(m.value('gateway_sessions_current', { status: 'connected' })).toBe(1);
  });

  it('is served on listen.api behind api.token, and without a token on listen.metrics', async () => {
    const g = await fresh({
      listen: { tcp: '127.0.0.1:0', api: '127.0.0.1:0', metrics: '127.0.0.1:0' },
      api: { token: 's3cret' },
    });
    expect((await fetch(`${g.apiUrl}/metrics`)).status).toBe(401);
    const viaApi = await scrapeUrl(`${g.apiUrl}/metrics`, { authorization: 'Bearer s3cret' });
    expect(viaApi.types.get('gateway_requests_total')).toBe('counter');
    const metricsAddress = g.gateway.addresses?.metrics;
    expect(metricsAddress).toMatch(/^127\.0\.0\.1:\d+$/);
    const viaMetrics = await scrapeUrl(`http://${metricsAddress}/metrics`);
    expect(viaMetrics.types.get('gateway_requests_total')).toBe('counter');
    expect((await fetch(`http://${metricsAddress}/v1/stats`)).status).toBe(404);
  });
});

describe('gateway_requests_total and the error counters', () => {
  it('counts every outcome once, with its result, route_target, error type and backend error', async () => {
    const dead = await closedPort();
    const g = await fresh({
      targets: {
        game: { url: `${backend.url}/rpc/{cmd}`, timeoutMs: 2_000 },
        slow: { url: `${backend.url}/rpc/{cmd}`, timeoutMs: 150 },
        dead: { url: `http://127.0.0.1:${dead}/rpc`, timeoutMs: 2_000 },
      },
      routes: [
        { cmds: Cmd.SLEEP, target: 'slow' },
        { cmds: 7000, target: 'dead' },
        { cmds: '1-999999', target: 'game' },
      ],
      auth: { required: true, anonymousCmds: ANONYMOUS },
    });
    const c = await client(g);
    const expectStatus = async (cmd: number, body: string, status: number) =>
      expect((await c.request(cmd, body)).status, `cmd ${cmd}`).toBe(status);

    await expectStatus(Cmd.ECHO, 'hello', Status.OK);
    await expectStatus(Cmd.HTTP_401, '', Status.AUTH_FAILED);
    await expectStatus(Cmd.HTTP_403, '', Status.AUTH_FAILED);
    await expectStatus(Cmd.HTTP_404, '', Status.BACKEND_REJECTED);
    await expectStatus(Cmd.HTTP_500, '', Status.BACKEND_ERROR);
    await expectStatus(Cmd.HTTP_503, '', Status.BACKEND_ERROR);
    await expectStatus(Cmd.SLEEP, '800', Status.BACKEND_TIMEOUT);
    await expectStatus(Cmd.HANG_UP, '', Status.BACKEND_UNAVAILABLE);
    await expectStatus(7000, '', Status.BACKEND_UNAVAILABLE);
    await expectStatus(20, '', Status.NOT_AUTHENTICATED);
    await expectStatus(Cmd.LOGIN, 'p1', Status.OK);
    await expectStatus(1_000_000, '', Status.ROUTE_NOT_FOUND);
    await expectStatus(20, '', Status.OK);
    // A NOTIFY is a request too; it gets no RESPONSE.
    c.send(FrameType.NOTIFY, Cmd.ECHO, 99, 'n');

    const m = await eventually(async () => {
      const m = await scrape(g);
      expect(m.sum('gateway_requests_total')).toBe(14);
      return m;
    });
    expect(m.nonZero('gateway_requests_total', ['cmd', 'player_id', 'route_target', 'result'])).toEqual({
      '10||game|success': 2,
      '401||game|error': 1,
      '403||game|error': 1,
      '404||game|error': 1,
      '500||game|error': 1,
      '503||game|error': 1,
      '900||slow|error': 1,
      '902||game|error': 1,
      '7000||dead|error': 1,
      '20||game|drop': 1,
      '1||game|success': 1,
      'unrouted|||drop': 1, // cmds no route covers share one series
      '20||game|success': 1,
    });
    expect(m.nonZero('gateway_errors_total', ['type'])).toEqual({
      auth_failed: 2,
      backend_rejected: 1,
      backend_error: 2,
      backend_timeout: 1,
      backend_unavailable: 2,
      session_invalid: 1,
      route_not_found: 1,
    });
    expect(
      m.nonZero('gateway_backend_errors_total', ['target_service', 'status_code', 'error_type']),
    ).toEqual({
      'game|401|http_error': 1,
      'game|403|http_error': 1,
      'game|404|http_error': 1,
      'game|500|http_error': 1,
      'game|503|http_error': 1,
      'slow|0|timeout': 1,
      'game|0|connect_error': 1,
      'dead|0|connect_error': 1,
    });

    // One request-duration observation per request, one backend-duration one per backend call.
    const requestCounts = m.nonZero('gateway_request_duration_seconds_count', ['cmd', 'route_target']);
    expect(requestCounts).toEqual({
      '10|game': 2,
      '401|game': 1,
      '403|game': 1,
      '404|game': 1,
      '500|game': 1,
      '503|game': 1,
      '900|slow': 1,
      '902|game': 1,
      '7000|dead': 1,
      '20|game': 2,
      '1|game': 1,
      'unrouted|': 1,
    });
    expect(m.nonZero('gateway_backend_duration_seconds_count', ['target_service'])).toEqual({
      game: 10,
      slow: 1,
      dead: 1,
    });
    // The timed-out call lasted about the target's timeout.
    const slowSum = m.value('gateway_backend_duration_seconds_sum', { target_service: 'slow' })!;
    expect(slowSum).toBeGreaterThanOrEqual(0.14);
    expect(slowSum).toBeLessThan(0.8);
  });

  it('counts RATE_LIMITED and TOO_MANY_IN_FLIGHT as drop, never forwarded', async () => {
    const g = await fresh({ limits: { maxInFlightPerSession: 2, requestsPerSecond: 1, requestBurst: 3 } });
    // Five requests in a row on one session: a bucket of 3 tokens (refilled at 1/s) admits three.
    const a = await client(g);
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) statuses.push((await a.request(Cmd.ECHO, 'x')).status);
    expect(statuses).toEqual([0, 0, 0, Status.RATE_LIMITED, Status.RATE_LIMITED]);
    // Three slow pipelined requests on another: two may be in flight.
    const b = await client(g);
    for (let seq = 1; seq <= 3; seq++) b.send(FrameType.REQUEST, Cmd.SLEEP, seq, '200');
    const slow = await Promise.all(
      [1, 2, 3].map((seq) => b.next((f) => f.type === FrameType.RESPONSE && f.seq === seq)),
    );
    expect(slow.map((f) => f.status)).toEqual([0, 0, Status.TOO_MANY_IN_FLIGHT]);

    const m = await scrape(g);
    expect(m.nonZero('gateway_requests_total', ['cmd', 'player_id', 'route_target', 'result'])).toEqual({
      '10||game|success': 3,
      '10||game|drop': 2,
      '900||game|success': 2,
      '900||game|drop': 1,
    });
    expect(m.nonZero('gateway_errors_total', ['type'])).toEqual({ rate_limited: 2, too_many_in_flight: 1 });
    expect(m.nonZero('gateway_backend_duration_seconds_count', ['target_service'])).toEqual({ game: 5 });
    expect((await backend.requests()).length).toBe(5);
  });
});

describe('duration histograms', () => {
  it('use the Prometheus default buckets, in seconds, cumulative up to +Inf = _count', async () => {
    const g = await fresh();
    const c = await client(g);
    expect((await c.request(Cmd.SLEEP, '300')).status).toBe(0);
    expect((await c.request(Cmd.ECHO, 'fast')).status).toBe(0);
    const m = await scrape(g);

    for (const [name, labels] of [
      ['gateway_request_duration_seconds', { cmd: '900', route_target: 'game' }],
      ['gateway_request_duration_seconds', { cmd: '10', route_target: 'game' }],
      ['gateway_backend_duration_seconds', { target_service: 'game' }],
    ] as const) {
      const buckets = m.series(`${name}_bucket`, labels);
      expect(buckets.map((b) => b.labels.le)).toEqual(DEFAULT_BUCKETS);
      const values = buckets.map((b) => b.value);
      for (let i = 1; i < values.length; i++) expect(values[i]).toBeGreaterThanOrEqual(values[i - 1]);
      expect(values.at(-1)).toBe(m.value(`${name}_count`, labels));
    }
    const slow = { cmd: '900', route_target: 'game' };
    expect(m.value('gateway_request_duration_seconds_count', slow)).toBe(1);
    expect(m.value('gateway_request_duration_seconds_bucket', { ...slow, le: '0.25' })).toBe(0);
    expect(m.value('gateway_request_duration_seconds_bucket', { ...slow, le: '10' })).toBe(1);
    const slowSum = m.value('gateway_request_duration_seconds_sum', slow)!;
    expect(slowSum).toBeGreaterThanOrEqual(0.29);
    expect(slowSum).toBeLessThan(5);
    expect(m.value('gateway_backend_duration_seconds_count', { target_service: 'game' })).toBe(2);
    expect(
      m.value('gateway_backend_duration_seconds_sum', { target_service: 'game' }),
    ).toBeGreaterThanOrEqual(0.29);
  });
});

describe('gateway_bytes_in_total / gateway_bytes_out_total', () => {
  it('equal the bytes the clients sent and received, frame headers included', async () => {
    const g = await fresh();
    const a = await client(g);
    await a.login('bytes-a');
    await a.request(Cmd.ECHO, Buffer.alloc(3_000, 7));
    await a.request(Cmd.HTTP_500, 'boom');
    await a.request(1_000_000 - 1, 'x'.repeat(10));
    a.send(FrameType.PING, 0, 5, 'ping!');
    await a.nextOfType(FrameType.PONG);
    // One frame split over three writes, and two frames in one write.
    const frame = encodeFrame(FrameType.REQUEST, 0, Cmd.ECHO, 77, Buffer.from('split body'));
    a.writeRaw(frame.subarray(0, 3));
    await sleep(20);
    a.writeRaw(frame.subarray(3, 20));
    await sleep(20);
    a.writeRaw(
      Buffer.concat([
        frame.subarray(20),
        encodeFrame(FrameType.REQUEST, 0, Cmd.ECHO, 78, Buffer.from('two')),
      ]),
    );
    await a.next((f) => f.type === FrameType.RESPONSE && f.seq === 77);
    await a.next((f) => f.type === FrameType.RESPONSE && f.seq === 78);
    a.send(FrameType.NOTIFY, Cmd.ECHO, 0, 'notify');

    // b is kicked for a protocol error: the KICK is counted out, the bad frame in.
    const b = await client(g);
    await b.request(20, 'not logged in');
    b.send(FrameType.RESPONSE, 1, 1, 'clients may not send RESPONSE');
    expect((await b.nextOfType(FrameType.KICK)).status).toBe(Status.PROTOCOL_ERROR);
    await b.waitClosed();

    await eventually(async () => {
      const m = await scrape(g);
      expect(m.sum('gateway_requests_total')).toBe(8);
      expect(m.value('gateway_bytes_in_total')).toBe(a.socket.bytesWritten + b.socket.bytesWritten);
      expect(m.value('gateway_bytes_out_total')).toBe(a.socket.bytesRead + b.socket.bytesRead);
    });
    expect(a.socket.bytesRead).toBeGreaterThan(3_000);
  });
});

describe('gateway_sessions_current, gateway_players and gateway_requests_in_flight', () => {
  const sessions = async (g: Running) => {
    const m = await scrape(g);
    return {
      connected: m.value('gateway_sessions_current', { status: 'connected' }),
      authed: m.value('gateway_sessions_current', { status: 'authed' }),
      online: m.value('gateway_players', { status: 'online' }),
      offline: m.value('gateway_players', { status: 'offline' }),
    };
  };
  const expectSessions = (g: Running, want: Awaited<ReturnType<typeof sessions>>) =>
    eventually(async () => expect(await sessions(g)).toEqual(want));

  it('moves sessions connected → authed on login, back on logout, and drops them on close; REPLACED too', async () => {
    const g = await fresh();
    const a = await client(g);
    const b = await client(g);
    await expectSessions(g, { connected: 2, authed: 0, online: 0, offline: 0 });

    expect((await a.login('pa')).status).toBe(0);
    await expectSessions(g, { connected: 1, authed: 1, online: 1, offline: 0 });

    expect((await a.request(Cmd.LOGOUT)).status).toBe(0); // x-gateway-unbind
    await expectSessions(g, { connected: 2, authed: 0, online: 0, offline: 1 });

    await a.login('pa');
    await b.login('pb');
    await expectSessions(g, { connected: 0, authed: 2, online: 2, offline: 0 });

    // The same player logs in on a third session: a is kicked REPLACED.
    const c = await client(g);
    await expectSessions(g, { connected: 1, authed: 2, online: 2, offline: 0 });
    await c.login('pa');
    expect((await a.nextOfType(FrameType.KICK)).status).toBe(Status.REPLACED);
    await a.waitClosed();
    await expectSessions(g, { connected: 0, authed: 2, online: 2, offline: 0 });

    b.close();
    await expectSessions(g, { connected: 0, authed: 1, online: 1, offline: 1 });
    const d = await client(g);
    await expectSessions(g, { connected: 1, authed: 1, online: 1, offline: 1 });
    d.close();
    c.close();
    await expectSessions(g, { connected: 0, authed: 0, online: 0, offline: 2 });

    const m = await scrape(g);
    expect(m.nonZero('gateway_kicks_total', ['reason'])).toEqual({ replaced: 1 });
  });

  it('gateway_requests_in_flight counts requests waiting for the backend', async () => {
    const g = await fresh();
    const a = await client(g);
    const b = await client(g);
    a.send(FrameType.REQUEST, Cmd.SLEEP, 1, '600');
    a.send(FrameType.REQUEST, Cmd.SLEEP, 2, '600');
    b.send(FrameType.REQUEST, Cmd.SLEEP, 1, '600');
    await eventually(async () => expect((await scrape(g)).value('gateway_requests_in_flight')).toBe(3));
    await a.next((f) => f.type === FrameType.RESPONSE && f.seq === 1);
    await a.next((f) => f.type === FrameType.RESPONSE && f.seq === 2);
    await b.nextOfType(FrameType.RESPONSE);
    const m = await scrape(g);
    expect(m.value('gateway_requests_in_flight')).toBe(0);
    expect(m.nonZero('gateway_requests_total', ['cmd', 'result'])).toEqual({ '900|success': 3 });
  });
});

describe('gateway_kicks_total and gateway_heartbeat_timeouts_total', () => {
  it('counts every KICK by reason, heartbeat timeouts, and decode errors as decode_failed', async () => {
    const g = await fresh({
      heartbeat: { intervalMs: 200, timeoutMs: 1_500 },
      auth: { required: true, anonymousCmds: ANONYMOUS, timeoutMs: 1_000 },
    });
    const kicked = async (c: RawClient, status: number) => {
      expect((await c.nextOfType(FrameType.KICK, 4_000)).status).toBe(status);
      await c.waitClosed();
    };

    // Decode errors: a gateway-to-client type (RESPONSE) sent by a client, a length below 12,
    // and a length over limits.maxFrameBytes.
    const protocol = await client(g);
    protocol.send(FrameType.RESPONSE, 1, 1);
    const bad = await client(g);
    bad.writeRaw(Buffer.from([0, 0, 0, 4, 0, 0, 0, 0]));
    const large = await client(g);
    large.writeRaw(Buffer.from([0, 0xff, 0xff, 0xff, 2, 0, 0, 0]));
    // Replaced, kicked by the API, kicked by a backend directive.
    const first = await client(g);
    await first.login('twice');
    const second = await client(g);
    await second.login('twice');
    // second pings all along, so it is the one session left at the end.
    const pinger = setInterval(() => second.send(FrameType.PING, 0, 1), 100);
    const byApi = await client(g);
    await byApi.login('kick-me');
    const res = await fetch(`${g.apiUrl}/v1/kick`, {
      method: 'POST',
      body: JSON.stringify({ players: ['kick-me'], reason: 'test' }),
    });
    expect(await res.json()).toEqual({ kicked: 1 });
    const byBackend = await client(g);
    await byBackend.request(Cmd.ECHO_CLOSE, 'bye');
    // Never logs in: AUTH_TIMEOUT. Logs in and then stays silent: IDLE_TIMEOUT.
    const anonymous = await client(g);
    const silent = await client(g);
    await silent.login('silent');

    try {
      await Promise.all([
        kicked(protocol, Status.PROTOCOL_ERROR),
        kicked(bad, Status.BAD_FRAME),
        kicked(large, Status.FRAME_TOO_LARGE),
        kicked(first, Status.REPLACED),
        kicked(byApi, Status.KICKED),
        kicked(byBackend, Status.KICKED),
        kicked(anonymous, Status.AUTH_TIMEOUT),
        kicked(silent, Status.IDLE_TIMEOUT),
      ]);
    } finally {
      clearInterval(pinger);
    }
    expect(second.closed).toBe(false);

    const m = await eventually(async () => {
      const m = await scrape(g);
      expect(m.value('gateway_sessions_current', { status: 'authed' })).toBe(1);
      expect(m.value('gateway_sessions_current', { status: 'connected' })).toBe(0);
      return m;
    });
    expect(m.nonZero('gateway_kicks_total', ['reason'])).toEqual({
      protocol_error: 1,
      bad_frame: 1,
      frame_too_large: 1,
      replaced: 1,
      kicked: 2,
      auth_timeout: 1,
      idle_timeout: 1,
    });
    expect(m.value('gateway_heartbeat_timeouts_total')).toBe(1);
    expect(m.nonZero('gateway_errors_total', ['type'])).toEqual({ decode_failed: 3 });
  });
});

describe('the player_id label (metrics.playerIdLabel)', () => {
  const byPlayer = (m: Exposition) => m.nonZero('gateway_requests_total', ['cmd', 'player_id', 'result']);

  async function traffic(g: Running): Promise<void> {
    const loud = await client(g);
    const quiet = await client(g);
    await loud.request(Cmd.ECHO, 'before login');
    await loud.login('loud');
    await quiet.login('quiet');
    for (let i = 0; i < 10; i++) expect((await loud.request(Cmd.ECHO, `${i}`)).status).toBe(0);
    for (let i = 0; i < 3; i++) expect((await quiet.request(Cmd.ECHO, `${i}`)).status).toBe(0);
  }

  it('suspects (default): only a player over metrics.suspectRequestsPerMinute gets its id', async () => {
    const g = await fresh({ metrics: { suspectRequestsPerMinute: 5 } });
    await traffic(g);
    // loud's first five requests of the minute are under the threshold, the next five over it.
    expect(byPlayer(await scrape(g))).toEqual({
      '10||success': 1 + 5 + 3,
      '10|loud|success': 5,
      '1||success': 2,
    });
  });

  it('suspects with the default threshold (1000 per minute) labels nobody in a short test', async () => {
    const g = await fresh();
    await traffic(g);
    expect(byPlayer(await scrape(g))).toEqual({ '10||success': 14, '1||success': 2 });
  });

  it('all: every bound player, "" before login', async () => {
    const g = await fresh({ metrics: { playerIdLabel: 'all' } });
    await traffic(g);
    const m = await scrape(g);
    expect(byPlayer(m)).toEqual({
      '10||success': 1,
      '1||success': 2,
      '10|loud|success': 10,
      '10|quiet|success': 3,
    });
    // A labelled request also lands in the (cmd, route_target) duration histogram.
    expect(m.value('gateway_request_duration_seconds_count', { cmd: '10', route_target: 'game' })).toBe(14);
  });

  it('none: always ""', async () => {
    const g = await fresh({ metrics: { playerIdLabel: 'none', suspectRequestsPerMinute: 1 } });
    await traffic(g);
    expect(byPlayer(await scrape(g))).toEqual({ '10||success': 14, '1||success': 2 });
  });

  it('player-labelled drops and errors keep their result and route_target', async () => {
    const g = await fresh({ metrics: { playerIdLabel: 'all' } });
    const c = await client(g);
    await c.login('p');
    await c.request(Cmd.HTTP_500);
    await c.request(1_000_000);
    const m = await scrape(g);
    expect(m.nonZero('gateway_requests_total', ['cmd', 'player_id', 'route_target', 'result'])).toEqual({
      '1||game|success': 1,
      '500|p|game|error': 1,
      'unrouted|p||drop': 1,
    });
  });
});

describe('logs of forwarded requests', () => {
  const DEBUG = 20;
  const INFO = 30;
  const ERROR = 50;

  it('a failed forward is logged at error level with the x-request-id the backend received', async () => {
    const g = await fresh(
      {
        targets: {
          game: { url: `${backend.url}/rpc/{cmd}`, timeoutMs: 2_000 },
          slow: { url: `${backend.url}/rpc/{cmd}`, timeoutMs: 150 },
        },
        routes: [
          { cmds: Cmd.SLEEP, target: 'slow' },
          { cmds: '1-999999', target: 'game' },
        ],
      },
      'info',
    );
    const c = await client(g);
    const before = g.logs.lines.length;
    for (let i = 0; i < 20; i++) expect((await c.request(Cmd.ECHO, 'ok')).status).toBe(0);
    // No line per request at info level.
    expect(g.logs.lines.slice(before)).toEqual([]);

    expect((await c.request(Cmd.SLEEP, '800')).status).toBe(Status.BACKEND_TIMEOUT);
    expect((await c.request(Cmd.HANG_UP)).status).toBe(Status.BACKEND_UNAVAILABLE);
    expect((await c.request(Cmd.HTTP_500)).status).toBe(Status.BACKEND_ERROR);
    // A 4xx is the application saying no: not logged at info.
    expect((await c.request(Cmd.HTTP_404)).status).toBe(Status.BACKEND_REJECTED);
    expect((await c.request(Cmd.HTTP_401)).status).toBe(Status.AUTH_FAILED);
    const seen = await backend.requests();
    const ids = (cmd: string) =>
      seen.filter((s) => s.headers['x-gateway-cmd'] === cmd).map((s) => s.headers['x-request-id']);
    const [timeoutId] = ids('900');
    const [resetId] = ids('902');
    const [http500Id] = ids('500');
    expect(timeoutId).toMatch(/^test-node-/);
    const lines = g.logs.lines.slice(before);
    expect(lines).toEqual([
      expect.objectContaining({
        level: ERROR,
        requestId: timeoutId,
        target: 'slow',
        status: 'BACKEND_TIMEOUT',
      }),
      expect.objectContaining({
        level: ERROR,
        requestId: resetId,
        target: 'game',
        status: 'BACKEND_UNAVAILABLE',
      }),
      expect.objectContaining({
        level: ERROR,
        requestId: http500Id,
        target: 'game',
        status: 'BACKEND_ERROR',
        httpStatus: 500,
      }),
    ]);
    expect(lines.filter((l) => (l.level as number) <= INFO)).toEqual([]);
  });

  it('at debug level a success and a 4xx answer are logged at debug, a 5xx at error, with the request id', async () => {
    const g = await fresh({}, 'debug');
    const c = await client(g);
    const before = g.logs.lines.length;
    await c.request(Cmd.ECHO, 'ok');
    await c.request(Cmd.HTTP_500);
    await c.request(Cmd.HTTP_404);
    const seen = await backend.requests();
    const [okId, failedId, rejectedId] = seen.map((s) => s.headers['x-request-id']);
    expect(new Set([okId, failedId, rejectedId]).size).toBe(3);
    const lines = g.logs.lines.slice(before);
    expect(lines).toEqual([
      expect.objectContaining({
        level: DEBUG,
        msg: 'forwarded',
        requestId: okId,
        cmd: Cmd.ECHO,
        target: 'game',
      }),
      expect.objectContaining({
        level: ERROR,
        msg: 'backend call failed',
        requestId: failedId,
        cmd: Cmd.HTTP_500,
        httpStatus: 500,
        status: 'BACKEND_ERROR',
      }),
      expect.objectContaining({
        level: DEBUG,
        msg: 'backend call failed',
        requestId: rejectedId,
        cmd: Cmd.HTTP_404,
        httpStatus: 404,
        status: 'BACKEND_REJECTED',
      }),
    ]);
  });
});
