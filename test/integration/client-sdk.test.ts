import { spawn } from 'node:child_process';
import { createServer, type Server } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';
import {
  type ClientEvents,
  ClientStatus,
  connect,
  type GatewayClient,
  GatewayError,
  type Push,
  Status,
} from '../../src/client/index.js';
import { encodeFrame, FrameType } from '../../src/protocol/frame.js';
import { Cmd } from '../support/cmds.js';
import { GatewayProcess } from '../support/gateway-process.js';
import { startBackend, type TestBackend } from '../support/processes.js';
import { api } from '../support/push-api.js';
import { openRaw, postOk, type RunningBoth, startGatewayBoth, TRANSPORTS } from '../support/transports.js';
import { sleep } from '../support/wait.js';

let backend: TestBackend;
let gw: RunningBoth;
const open: GatewayClient[] = [];

/** Heartbeat short enough that a silent client dies within a test, and a one-message offline queue. */
const HEARTBEAT = { intervalMs: 200, timeoutMs: 1_000 };

beforeAll(async () => {
  backend = await startBackend();
  gw = await startGatewayBoth(
    backend.url,
    { heartbeat: HEARTBEAT, players: { offline: { maxMessages: 1 } } },
    'silent',
  );
});
afterAll(async () => {
  await Promise.all(open.map((c) => c.close()));
  await gw.gateway.stop();
  await backend.stop();
});
beforeEach(() => backend.clear());

async function client(url: string, options?: Parameters<typeof connect>[1]): Promise<GatewayClient> {
  const c = await connect(url, options);
  open.push(c);
  return c;
}

/** Resolves with the next `event` of `c`. */
function next<K extends keyof ClientEvents>(
  c: GatewayClient,
  event: K,
  timeoutMs = 5_000,
): Promise<Parameters<ClientEvents[K]>[0]> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`no ${String(event)} within ${timeoutMs} ms`)),
      timeoutMs,
    );
    c.once(event, ((arg: Parameters<ClientEvents[K]>[0]) => {
      clearTimeout(timer);
      resolve(arg);
    }) as ClientEvents[K]);
  });
}

async function until(check: () => Promise<boolean>, timeoutMs = 3_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await sleep(20);
  }
}

const text = (bytes: Uint8Array) => Buffer.from(bytes).toString();

describe.each(TRANSPORTS)('SDK over %s against a real gateway', (kind) => {
  it('connect() resolves after HELLO', async () => {
    const c = await client(gw.url(kind));
    expect(c.state).toBe('open');
    expect(c.hello).toEqual({
      sessionId: expect.any(String),
      node: 'test-node',
      heartbeatMs: 200,
      maxFrameBytes: 65_536,
    });
  });

  it('request() resolves with status 0 and the body; string and byte bodies', async () => {
    const c = await client(gw.url(kind));
    const r = await c.request(Cmd.ECHO, 'hello');
    expect(r.ok).toBe(true);
    expect(r.statusName).toBe('OK');
    expect(r.text()).toBe('hello');
    const bytes = new Uint8Array([0, 1, 255]);
    expect([...(await c.request(Cmd.ECHO, bytes)).body]).toEqual([0, 1, 255]);
    expect((await c.request(Cmd.ECHO)).body.length).toBe(0);
    expect(text(await c.call(Cmd.ECHO, 'via call'))).toBe('via call');
  });

  it('a non-zero status resolves; call() and expectOk() turn it into a GatewayError', async () => {
    const c = await client(gw.url(kind));
    const app = await c.request(Cmd.ECHO_STATUS, '4321');
    expect(app.status).toBe(4321);
    expect(app.ok).toBe(false);
    expect(app.statusName).toBe('APP_4321');
    expect(text(app.error()!.body!)).toBe('4321');

    const failed = await c.request(Cmd.HTTP_503);
    expect(failed.status).toBe(Status.BACKEND_ERROR);
    expect(failed.json()).toMatchObject({ error: 'BACKEND_ERROR', httpStatus: 503 });

    const err = await c.call(Cmd.HTTP_503).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GatewayError);
    expect(err).toMatchObject({ status: 202, name: 'BACKEND_ERROR', httpStatus: 503 });
    expect(() => app.expectOk()).toThrow(GatewayError);
  });

  it('matches pipelined responses by seq', async () => {
    const c = await client(gw.url(kind));
    const slow = c.request(Cmd.SLEEP, '200');
    const fast = c.request(Cmd.ECHO, 'fast');
    const order: string[] = [];
    await Promise.all([slow.then(() => order.push('slow')), fast.then(() => order.push('fast'))]);
    expect(order).toEqual(['fast', 'slow']);
    expect((await slow).text()).toBe('200');
  });

  it('notify() forwards without an answer', async () => {
    const c = await client(gw.url(kind));
    expect(c.notify(Cmd.ECHO, 'n')).toBe(true);
    await until(async () => (await backend.requests()).some((s) => s.headers['x-gateway-kind'] === 'notify'));
    expect(c.inFlight).toBe(0);
  });

  it("emits 'push' for POST /v1/push after login", async () => {
    const c = await client(gw.url(kind));
    await c.call(Cmd.LOGIN, `sdk-push-${kind}`);
    const got = next(c, 'push');
    await postOk(gw, '/v1/push', {
      players: [`sdk-push-${kind}`],
      cmd: 5,
      data: Buffer.from('hi').toString('base64'),
    });
    const push = (await got) as Push;
    expect(push).toMatchObject({ cmd: 5, seq: 1 });
    expect(text(push.body)).toBe('hi');
  });

  it("emits 'kick' and 'close' on POST /v1/kick, and rejects requests in flight with the KICK", async () => {
    const c = await client(gw.url(kind));
    await c.call(Cmd.LOGIN, `sdk-kick-${kind}`);
    const kicked = next(c, 'kick');
    const closed = next(c, 'close');
    const inFlight = c.request(Cmd.SLEEP, '1000').catch((e: unknown) => e);
    await postOk(gw, '/v1/kick', { players: [`sdk-kick-${kind}`], reason: 'bye now' });
    expect(await kicked).toEqual({ status: Status.KICKED, error: 'KICKED', message: 'bye now' });
    expect(await closed).toMatchObject({ kick: { status: Status.KICKED } });
    expect(await inFlight).toMatchObject({ status: Status.KICKED, name: 'KICKED' });
    expect(c.state).toBe('closed');
    await expect(c.request(Cmd.ECHO)).rejects.toMatchObject({ status: ClientStatus.NOT_CONNECTED });
    expect(c.notify(Cmd.ECHO)).toBe(false);
  });

  it('keeps an idle session alive with PINGs (a silent raw client is kicked meanwhile)', async () => {
    const c = await client(gw.url(kind));
    await c.call(Cmd.LOGIN, `sdk-idle-${kind}`);
    const kicks: unknown[] = [];
    c.on('kick', (k) => kicks.push(k));
    const raw = await openRaw(gw, kind);
    await sleep(2.5 * HEARTBEAT.timeoutMs);
    expect((await raw.nextOfType(FrameType.KICK)).status).toBe(Status.IDLE_TIMEOUT);
    expect(kicks).toEqual([]);
    expect(c.state).toBe('open');
    expect((await c.request(Cmd.ECHO, 'still here')).text()).toBe('still here');
    const player = await api(gw, 'GET', `/v1/players/sdk-idle-${kind}`);
    expect(player.body).toMatchObject({ online: true, sessionId: c.hello.sessionId });
  });

  it('does not reconnect after an admin KICK (KICKED) by default, even with reconnect on', async () => {
    const player = `sdk-no-re-${kind}`;
    const c = await client(gw.url(kind), { reconnect: { minMs: 20, maxMs: 50 } });
    await c.call(Cmd.LOGIN, player);
    const scheduled: unknown[] = [];
    c.on('reconnecting', (r) => scheduled.push(r));
    const disconnected = next(c, 'disconnect');
    const closed = next(c, 'close');
    await postOk(gw, '/v1/kick', { players: [player], reason: 'banned' });
    expect(await disconnected).toMatchObject({ kick: { status: Status.KICKED }, reconnecting: false });
    expect(await closed).toMatchObject({ kick: { status: Status.KICKED, message: 'banned' } });
    expect(c.state).toBe('closed');
    expect(scheduled).toEqual([]);
    expect((await api(gw, 'GET', `/v1/players/${player}`)).body).toMatchObject({ online: false });
  });

  it('reconnects after KICK IDLE_TIMEOUT, with onReconnect logging in again', async () => {
    const player = `sdk-re-idle-${kind}`;
    let relogins = 0;
    // No heartbeat: the gateway kicks the silent session after heartbeat.timeoutMs.
    const c = await client(gw.url(kind), {
      heartbeat: false,
      reconnect: { minMs: 20, maxMs: 50 },
      onReconnect: async (again) => {
        await again.call(Cmd.LOGIN, player);
        relogins++;
      },
    });
    await c.call(Cmd.LOGIN, player);
    const first = c.hello.sessionId;
    const disconnected = next(c, 'disconnect');
    const reconnected = next(c, 'reconnect');
    expect(await disconnected).toMatchObject({ kick: { status: Status.IDLE_TIMEOUT }, reconnecting: true });
    const info = await reconnected;
    expect(info.hello.sessionId).not.toBe(first);
    expect(relogins).toBe(1);
    expect(c.state).toBe('open');
    expect((await api(gw, 'GET', `/v1/players/${player}`)).body).toMatchObject({
      online: true,
      sessionId: info.hello.sessionId,
    });
    const pushed = next(c, 'push');
    await postOk(gw, '/v1/push', { players: [player], cmd: 7, data: '' });
    expect(await pushed).toMatchObject({ cmd: 7 });
    await c.close();
  });

  it('shouldReconnect overrides the policy: reconnect after KICKED', async () => {
    const player = `sdk-re-kick-${kind}`;
    const c = await client(gw.url(kind), {
      reconnect: { minMs: 20, maxMs: 50, shouldReconnect: () => true },
      onReconnect: (again) => again.call(Cmd.LOGIN, player),
    });
    await c.call(Cmd.LOGIN, player);
    const disconnected = next(c, 'disconnect');
    const reconnected = next(c, 'reconnect');
    await postOk(gw, '/v1/kick', { players: [player] });
    expect(await disconnected).toMatchObject({ kick: { status: Status.KICKED }, reconnecting: true });
    await reconnected;
    expect((await api(gw, 'GET', `/v1/players/${player}`)).body).toMatchObject({ online: true });
  });

  it("retries when onReconnect fails, emitting 'error'", async () => {
    const player = `sdk-re-fail-${kind}`;
    let calls = 0;
    const c = await client(gw.url(kind), {
      reconnect: { minMs: 20, maxMs: 40, shouldReconnect: () => true },
      onReconnect: async (again) => {
        if (++calls === 1) throw new Error('login service down');
        await again.call(Cmd.LOGIN, player);
      },
    });
    await c.call(Cmd.LOGIN, player);
    const failed = next(c, 'error');
    const reconnected = next(c, 'reconnect');
    await postOk(gw, '/v1/kick', { players: [player] });
    expect((await failed).message).toBe('login service down');
    expect(await reconnected).toMatchObject({ attempt: 2 });
    expect(calls).toBe(2);
    expect((await c.request(Cmd.ECHO, 'ok')).text()).toBe('ok');
  });

  it('does not reconnect after KICK REPLACED by default', async () => {
    const player = `sdk-replaced-${kind}`;
    const a = await client(gw.url(kind), { reconnect: { minMs: 20, maxMs: 50 } });
    await a.call(Cmd.LOGIN, player);
    const disconnected = next(a, 'disconnect');
    const closed = next(a, 'close');
    const b = await client(gw.url(kind));
    await b.call(Cmd.LOGIN, player);
    expect(await disconnected).toMatchObject({ kick: { status: Status.REPLACED }, reconnecting: false });
    expect(await closed).toMatchObject({ kick: { status: Status.REPLACED, error: 'REPLACED' } });
    expect(a.state).toBe('closed');
    expect((await api(gw, 'GET', `/v1/players/${player}`)).body).toMatchObject({
      online: true,
      sessionId: b.hello.sessionId,
    });
  });

  it("emits 'gap' when pushes were lost while offline (offline queue overflow)", async () => {
    const player = `sdk-gap-${kind}`;
    // A KICK does not reconnect by default; this client opts in to come back after one.
    const c = await client(gw.url(kind), {
      reconnect: { minMs: 400, maxMs: 400, shouldReconnect: () => true },
      onReconnect: (again) => again.call(Cmd.LOGIN, player),
    });
    await c.call(Cmd.LOGIN, player);
    const firstPush = next(c, 'push');
    await postOk(gw, '/v1/push', { players: [player], cmd: 5, data: '' });
    expect(await firstPush).toMatchObject({ seq: 1 });

    const disconnected = next(c, 'disconnect');
    await postOk(gw, '/v1/kick', { players: [player] });
    await disconnected;
    await until(async () => (await api(gw, 'GET', `/v1/players/${player}`)).body.online === false);
    // players.offline.maxMessages is 1: seq 2 and 3 are dropped from the queue, 4 is kept.
    for (let i = 0; i < 3; i++) {
      expect(await postOk(gw, '/v1/push', { players: [player], cmd: 5, data: '' })).toMatchObject({
        cached: 1,
      });
    }
    const gap = next(c, 'gap');
    const replayed = next(c, 'push');
    expect(await gap).toEqual({ expected: 2, got: 4 });
    expect(await replayed).toMatchObject({ seq: 4 });
    expect(c.lastPushSeq).toBe(4);
  });

  it('refuses a body over the gateway maxFrameBytes locally, and stays connected', async () => {
    const c = await client(gw.url(kind));
    const err = await c.request(Cmd.ECHO, new Uint8Array(65_536 - 11)).catch((e: unknown) => e);
    expect(err).toMatchObject({ status: Status.FRAME_TOO_LARGE, name: 'FRAME_TOO_LARGE' });
    expect((await c.request(Cmd.ECHO, new Uint8Array(65_536 - 12))).body.length).toBe(65_524);
  });

  it('rejects with REQUEST_TIMEOUT after requestTimeoutMs, and ignores the late answer', async () => {
    const c = await client(gw.url(kind), { requestTimeoutMs: 100 });
    await expect(c.request(Cmd.SLEEP, '300')).rejects.toMatchObject({
      status: ClientStatus.REQUEST_TIMEOUT,
      name: 'REQUEST_TIMEOUT',
    });
    expect(c.inFlight).toBe(0);
    await sleep(300);
    expect((await c.request(Cmd.ECHO, 'next')).text()).toBe('next');
  });

  it('close() rejects requests in flight with CLIENT_CLOSED and ends the session', async () => {
    const c = await client(gw.url(kind));
    const inFlight = c.request(Cmd.SLEEP, '500').catch((e: unknown) => e);
    const closed = next(c, 'close');
    await c.close();
    expect(await inFlight).toMatchObject({ status: ClientStatus.CLIENT_CLOSED });
    expect(await closed).toEqual({ kick: null, error: null });
    expect(c.state).toBe('closed');
  });
});

const hasGlobalWebSocket = typeof (globalThis as { WebSocket?: unknown }).WebSocket === 'function';

describe('SDK with a standard WebSocket (the browser API)', () => {
  it("runs on a standard WebSocket given as the option (Node's own); in Node the default stays `ws`", async () => {
    const player = 'sdk-browser';
    const clientModule = fileURLToPath(new URL('../../src/client/index.ts', import.meta.url));
    // Runs in a child: this process has no global WebSocket to test with.
    const code = `
      let opened = 0;
      const Native = globalThis.WebSocket;
      globalThis.WebSocket = class extends Native { constructor(...a) { super(...a); opened++; } };
      const { connect } = await import(${JSON.stringify(clientModule)});
      // Without the option, Node uses the ws package even with a global WebSocket (Node 22+
      // ignores ca/cert/key and hides socket errors): this one is not counted.
      const plain = await connect(process.env.GW_URL);
      await plain.close();
      const c = await connect(process.env.GW_URL, { WebSocket: globalThis.WebSocket });
      const login = await c.request(${Cmd.LOGIN}, ${JSON.stringify(player)});
      const pushed = new Promise((resolve) => c.on('push', resolve));
      console.log('ready');
      const push = await pushed;
      console.log(JSON.stringify({ opened, login: login.text(), push: { cmd: push.cmd, seq: push.seq, body: [...push.body] } }));
      await c.close();
    `;
    const child = spawn(
      process.execPath,
      // Node 20 has the global WebSocket only behind the flag; Node 22+ has it by default.
      [
        ...(hasGlobalWebSocket ? [] : ['--experimental-websocket']),
        '--import',
        'tsx',
        '--input-type=module',
        '-e',
        code,
      ],
      {
        env: { ...process.env, GW_URL: gw.url('ws') },
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    const lines: string[] = [];
    let onLine: () => void = () => {};
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      lines.push(...d.split('\n').filter(Boolean));
      onLine();
    });
    const waitLines = (n: number) =>
      new Promise<void>((resolve) => {
        onLine = () => lines.length >= n && resolve();
        onLine();
      });
    await waitLines(1);
    expect(lines[0]).toBe('ready');
    await postOk(gw, '/v1/push', { players: [player], cmd: 3, data: Buffer.from([9, 8]).toString('base64') });
    await waitLines(2);
    expect(JSON.parse(lines[1])).toEqual({
      opened: 1,
      login: `welcome ${player}`,
      push: { cmd: 3, seq: 1, body: [9, 8] },
    });
    await new Promise((r) => child.once('exit', r));
  });
});

describe('SDK across a gateway restart (a real gateway process)', () => {
  let node: GatewayProcess;
  beforeAll(async () => {
    node = await GatewayProcess.start({
      nodeId: 'sdk-restart',
      redisUrl: 'redis://127.0.0.1:1', // unused: the local engine
      keyPrefix: 'unused:',
      backendUrl: backend.url,
      extra: { cluster: { engine: 'local' } },
    });
  });
  afterAll(() => node.stop());

  it('reconnects after KICK SERVER_SHUTDOWN once the gateway is back, and logs in again', async () => {
    const player = 'sdk-restart-player';
    const c = await client(`tcp://127.0.0.1:${node.tcpPort}`, {
      reconnect: { minMs: 50, maxMs: 200 },
      onReconnect: (again) => again.call(Cmd.LOGIN, player),
    });
    await c.call(Cmd.LOGIN, player);
    const disconnected = next(c, 'disconnect');
    const attempts: number[] = [];
    c.on('reconnecting', (r) => attempts.push(r.attempt));
    expect(await node.stop()).toBe(0);
    expect(await disconnected).toMatchObject({
      kick: { status: Status.SERVER_SHUTDOWN },
      reconnecting: true,
    });
    const reconnected = next(c, 'reconnect', 15_000);
    await node.restart();
    const info = await reconnected;
    expect(attempts.length).toBeGreaterThanOrEqual(1);
    expect(info.hello.node).toBe('sdk-restart');
    expect((await node.api('GET', `/v1/players/${player}`)).body).toMatchObject({
      online: true,
      sessionId: info.hello.sessionId,
    });
    await c.close();
  });

  it('reconnects after the connection is lost without a KICK (the gateway process killed)', async () => {
    const player = 'sdk-killed-player';
    const c = await client(`tcp://127.0.0.1:${node.tcpPort}`, {
      reconnect: { minMs: 50, maxMs: 200 },
      onReconnect: (again) => again.call(Cmd.LOGIN, player),
    });
    await c.call(Cmd.LOGIN, player);
    const disconnected = next(c, 'disconnect');
    await node.stop('SIGKILL');
    expect(await disconnected).toMatchObject({ kick: null, reconnecting: true });
    const reconnected = next(c, 'reconnect', 15_000);
    await node.restart();
    const info = await reconnected;
    expect((await node.api('GET', `/v1/players/${player}`)).body).toMatchObject({
      online: true,
      sessionId: info.hello.sessionId,
    });
    await c.close();
  });
});

describe('SDK connection failures', () => {
  it.each([
    ['tcp', 'tcp://127.0.0.1:1'],
    ['ws', 'ws://127.0.0.1:1/'],
  ])('connect() to a closed %s port rejects with CONNECT_FAILED', async (_kind, url) => {
    const err = await connect(url).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GatewayError);
    expect(err).toMatchObject({ status: ClientStatus.CONNECT_FAILED, name: 'CONNECT_FAILED' });
  });

  it('rejects an unknown URL scheme', async () => {
    await expect(connect('http://127.0.0.1:1/')).rejects.toThrow(/unsupported URL scheme/);
  });

  describe('against fake servers', () => {
    let tcp: Server;
    let wss: WebSocketServer;
    let tcpPort: number;
    let wsPort: number;
    /** What the fake servers do after HELLO. */
    let behaviour: 'silent' | 'garbage' | 'no-hello' = 'silent';
    const hello = encodeFrame(
      FrameType.HELLO,
      0,
      0,
      0,
      Buffer.from(JSON.stringify({ sessionId: 's', node: 'fake', heartbeatMs: 50, maxFrameBytes: 1024 })),
    );

    beforeAll(async () => {
      tcp = createServer((socket) => {
        socket.on('error', () => {});
        if (behaviour === 'no-hello') return;
        socket.write(hello);
        // Later than HELLO, so connect() has resolved when it comes.
        if (behaviour === 'garbage') setTimeout(() => socket.write(Buffer.from([0, 0, 0, 1, 9])), 50);
      });
      await new Promise<void>((r) => tcp.listen(0, '127.0.0.1', r));
      tcpPort = (tcp.address() as { port: number }).port;
      wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
      wss.on('connection', (ws) => {
        if (behaviour === 'no-hello') return;
        ws.send(hello);
        if (behaviour === 'garbage') setTimeout(() => ws.send('text is not a frame'), 50);
      });
      await new Promise((r) => wss.once('listening', r));
      wsPort = (wss.address() as { port: number }).port;
    });
    afterAll(async () => {
      await new Promise((r) => wss.close(r));
      tcp.close();
    });
    const urls = () => [`tcp://127.0.0.1:${tcpPort}`, `ws://127.0.0.1:${wsPort}/`];

    it('drops a connection on which nothing arrives for deadAfterMs', async () => {
      behaviour = 'silent';
      for (const url of urls()) {
        const c = await connect(url, { deadAfterMs: 200 });
        const t0 = Date.now();
        const info = await next(c, 'close');
        expect(info.error?.message).toMatch(/no frame from the gateway for 200 ms/);
        expect(Date.now() - t0).toBeLessThan(1_000);
      }
    });

    it('closes on a frame that breaks the frame format', async () => {
      behaviour = 'garbage';
      for (const url of urls()) {
        const c = await connect(url, { heartbeat: false });
        const info = await next(c, 'close');
        expect(info.error?.name).toBe('FrameError');
      }
    });

    it('rejects with CONNECT_FAILED when no HELLO comes within connectTimeoutMs', async () => {
      behaviour = 'no-hello';
      for (const url of urls()) {
        const t0 = Date.now();
        await expect(connect(url, { connectTimeoutMs: 150 })).rejects.toMatchObject({
          status: ClientStatus.CONNECT_FAILED,
          message: expect.stringMatching(/no HELLO/),
        });
        expect(Date.now() - t0).toBeLessThan(1_000);
      }
    });
  });
});
