import { connect, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { encodeFrame, FrameType } from '../../src/protocol/frame.js';
import { Status } from '../../src/protocol/status.js';
import { Cmd } from '../support/cmds.js';
import { type Running, startGateway } from '../support/gateway-fixture.js';
import { startBackend, type TestBackend } from '../support/processes.js';
import { api, b64 } from '../support/push-api.js';
import { json, RawClient } from '../support/raw-client.js';
import { RawWsClient } from '../support/transports.js';
import { sleep, waitFor } from '../support/wait.js';

let backend: TestBackend | null = null;
let gw: Running | null = null;

type Overrides = Parameters<typeof startGateway>[1];

async function setup(overrides: Overrides | ((backendUrl: string) => Overrides) = {}): Promise<Running> {
  backend = await startBackend();
  const o = typeof overrides === 'function' ? overrides(backend.url) : overrides;
  gw = await startGateway(backend.url, o, 'silent');
  return gw;
}

afterEach(async () => {
  await gw?.gateway.stop();
  await backend?.stop();
  gw = null;
  backend = null;
});

describe('heartbeat (SPEC §7)', () => {
  it('kicks IDLE_TIMEOUT when the client sends nothing within heartbeat.timeoutMs', async () => {
    const g = await setup({ heartbeat: { intervalMs: 100, timeoutMs: 300 } });
    const c = await RawClient.connect(g.tcpPort);
    expect(c.hello.heartbeatMs).toBe(100);
    const t0 = Date.now();
    const kick = await c.nextOfType(FrameType.KICK);
    expect(kick.status).toBe(Status.IDLE_TIMEOUT);
    expect(json(kick).error).toBe('IDLE_TIMEOUT');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(250);
    await c.waitClosed();
    expect(g.gateway.metrics.kicks.total({ reason: 'idle_timeout' })).toBe(1);
  });

  it('PINGs keep a session alive; liveness ignores the gateway’s own writes', async () => {
    const g = await setup({ heartbeat: { intervalMs: 100, timeoutMs: 300 } });
    const pinging = await RawClient.connect(g.tcpPort);
    const silent = await RawClient.connect(g.tcpPort);
    await silent.login('silent-player');
    const timer = setInterval(() => pinging.send(FrameType.PING, 0, 1), 100);
    // Push to the silent one all the time: successful writes must not count as liveness.
    const pusher = setInterval(() => {
      fetch(`${g.apiUrl}/v1/push`, {
        method: 'POST',
        body: JSON.stringify({ players: ['silent-player'], cmd: 5, data: '' }),
      }).catch(() => {});
    }, 50);
    try {
      expect((await silent.nextOfType(FrameType.KICK, 2_000)).status).toBe(Status.IDLE_TIMEOUT);
      await sleep(300);
      expect(pinging.closed).toBe(false);
    } finally {
      clearInterval(timer);
      clearInterval(pusher);
      pinging.close();
    }
  });
});

describe('auth gate (SPEC §7)', () => {
  it('only auth.anonymousCmds pass before bind; others get NOT_AUTHENTICATED without a backend call', async () => {
    const g = await setup({ auth: { required: true, anonymousCmds: [Cmd.LOGIN] } });
    const c = await RawClient.connect(g.tcpPort);
    await backend!.clear();
    const r = await c.request(Cmd.ECHO, 'x');
    expect(r.status).toBe(Status.NOT_AUTHENTICATED);
    expect(json(r).error).toBe('NOT_AUTHENTICATED');
    expect(await backend!.requests()).toEqual([]);
    expect((await c.login('bob')).status).toBe(0);
    expect((await c.request(Cmd.ECHO, 'now')).status).toBe(0);
    c.close();
  });

  it('auth.required false forwards everything', async () => {
    const g = await setup({ auth: { required: false } });
    const c = await RawClient.connect(g.tcpPort);
    expect((await c.request(Cmd.ECHO, 'x')).status).toBe(0);
    c.close();
  });

  it('kicks AUTH_TIMEOUT when not bound within auth.timeoutMs, but not a bound session', async () => {
    const g = await setup({ auth: { required: true, anonymousCmds: [Cmd.LOGIN], timeoutMs: 300 } });
    const anon = await RawClient.connect(g.tcpPort);
    const bound = await RawClient.connect(g.tcpPort);
    await bound.login('carol');
    expect((await anon.nextOfType(FrameType.KICK)).status).toBe(Status.AUTH_TIMEOUT);
    await anon.waitClosed();
    await sleep(200);
    expect(bound.closed).toBe(false);
    bound.close();
  });

  it('logout (x-gateway-unbind) returns the session to connected and the gate closes again', async () => {
    const g = await setup({ auth: { required: true, anonymousCmds: [Cmd.LOGIN] } });
    const c = await RawClient.connect(g.tcpPort);
    await c.login('dave');
    expect(g.gateway.sessions.authed).toBe(1);
    expect((await c.request(Cmd.LOGOUT)).status).toBe(0);
    await waitFor(() => g.gateway.sessions.authed === 0, 3_000, 'the session back to connected');
    expect(g.gateway.sessions.authed).toBe(0);
    expect(g.gateway.sessions.connected).toBe(1);
    expect((await c.request(Cmd.ECHO)).status).toBe(Status.NOT_AUTHENTICATED);
    c.close();
  });

  it('a second login of the same player kicks the older session with REPLACED', async () => {
    const g = await setup();
    const a = await RawClient.connect(g.tcpPort);
    const b = await RawClient.connect(g.tcpPort);
    await a.login('erin');
    await b.login('erin');
    const kick = await a.nextOfType(FrameType.KICK);
    expect(kick.status).toBe(Status.REPLACED);
    await a.waitClosed();
    // The newer session is unaffected by the old one closing.
    expect((await b.request(Cmd.ECHO, 'still here')).status).toBe(0);
    const info = await (await fetch(`${g.apiUrl}/v1/players/erin`)).json();
    expect(info).toMatchObject({ online: true, sessionId: b.hello.sessionId });
    b.close();
  });
});

describe('limits', () => {
  it('TOO_MANY_IN_FLIGHT past limits.maxInFlightPerSession, without touching a backend', async () => {
    const g = await setup({ limits: { maxInFlightPerSession: 2 } });
    const c = await RawClient.connect(g.tcpPort);
    await backend!.clear();
    for (let seq = 1; seq <= 3; seq++) c.send(FrameType.REQUEST, Cmd.SLEEP, seq, '300');
    const refused = await c.nextOfType(FrameType.RESPONSE);
    expect(refused).toMatchObject({ seq: 3, status: Status.TOO_MANY_IN_FLIGHT });
    const others = [await c.nextOfType(FrameType.RESPONSE), await c.nextOfType(FrameType.RESPONSE)];
    expect(others.map((f) => f.status)).toEqual([0, 0]);
    expect((await backend!.requests()).length).toBe(2);
    c.close();
  });

  it('RATE_LIMITED past the token bucket (requestsPerSecond, burst), without touching a backend', async () => {
    const g = await setup({ limits: { requestsPerSecond: 5, requestBurst: 3 } });
    const c = await RawClient.connect(g.tcpPort);
    await backend!.clear();
    for (let seq = 1; seq <= 5; seq++) c.send(FrameType.REQUEST, Cmd.ECHO, seq);
    const statuses = [];
    for (let i = 0; i < 5; i++) statuses.push((await c.nextOfType(FrameType.RESPONSE)).status);
    expect(statuses.filter((s) => s === 0).length).toBe(3);
    expect(statuses.filter((s) => s === Status.RATE_LIMITED).length).toBe(2);
    expect((await backend!.requests()).length).toBe(3);
    // Tokens come back at 5/s.
    await sleep(450);
    expect((await c.request(Cmd.ECHO)).status).toBe(0);
    c.close();
  });

  it('ROUTE_NOT_FOUND for a cmd no route covers', async () => {
    const g = await setup({ routes: [{ cmds: [Cmd.LOGIN, Cmd.ECHO], target: 'game' }] });
    const c = await RawClient.connect(g.tcpPort);
    const r = await c.request(Cmd.SLEEP, '1');
    expect(r.status).toBe(Status.ROUTE_NOT_FOUND);
    c.close();
  });

  it('closes connections over limits.maxConnections at once and counts them', async () => {
    const g = await setup({ limits: { maxConnections: 2 } });
    const a = await RawClient.connect(g.tcpPort);
    const b = await RawClient.connect(g.tcpPort);
    const extra = connect({ port: g.tcpPort, host: '127.0.0.1' });
    const got: Buffer[] = [];
    extra.on('data', (d) => got.push(d));
    await new Promise<void>((resolve) => extra.on('close', () => resolve()));
    expect(got).toEqual([]);
    expect(g.gateway.metrics.connectionsRejected.total({ reason: 'max_connections' })).toBe(1);
    a.close();
    b.close();
  });

  it('kicks SLOW_CONSUMER when unsent output passes limits.maxWriteBufferBytes', async () => {
    // Answers up to 1 MiB are read (limits.maxResponseBytes), and each is over the 64 KiB write bound.
    const g = await setup({ limits: { maxWriteBufferBytes: 64 * 1024, maxResponseBytes: 1024 * 1024 } });
    const c = await RawClient.connect(g.tcpPort);
    c.socket.pause(); // never read
    for (let seq = 1; seq <= 40; seq++) c.send(FrameType.REQUEST, Cmd.SIZED, seq, String(100_000));
    const deadline = Date.now() + 10_000;
    while (g.gateway.metrics.kicks.total({ reason: 'slow_consumer' }) === 0 && Date.now() < deadline) {
      await sleep(50);
    }
    expect(g.gateway.metrics.kicks.total({ reason: 'slow_consumer' })).toBe(1);
    c.close();
  });
});

/** 100 pushes of 64 KB (cmd 7) to a player whose client does not read: more than the kernel buffers hold. */
async function queueUnread(g: Running, player: string): Promise<void> {
  const big = b64(Buffer.alloc(64 * 1024, 0x61));
  for (let i = 0; i < 100; i++) {
    const r = await api(g, 'POST', '/v1/push', { players: [player], cmd: 7, data: big });
    expect(r.body).toMatchObject({ delivered: 1 });
  }
}

describe('a client that half-closes (TCP FIN) while frames are still queued for it', () => {
  it('a push after the FIN is cached and replayed at the next login, never answered delivered and lost', async () => {
    // A write bound high enough to queue more than the kernel buffers hold without a SLOW_CONSUMER kick.
    const g = await setup({ limits: { maxWriteBufferBytes: 64 * 1024 * 1024 } });
    const c = await RawClient.connect(g.tcpPort);
    expect((await c.login('fin-alice')).status).toBe(0);
    c.socket.pause();
    await queueUnread(g, 'fin-alice');
    // Half-close: the gateway reads the FIN while 6.4 MB are still on their way to the client.
    c.socket.end();
    await sleep(300);
    const after = await api(g, 'POST', '/v1/push', {
      players: ['fin-alice'],
      cmd: 8,
      data: b64('after the FIN'),
    });
    expect(after.body).toMatchObject({ delivered: 0, cached: 1 });
    c.socket.resume();
    await c.waitClosed();
    // Everything answered delivered arrived; the late one did not.
    expect(c.frames.filter((f) => f.type === FrameType.PUSH && f.cmd === 7)).toHaveLength(100);
    expect(c.frames.filter((f) => f.cmd === 8)).toEqual([]);
    const again = await RawClient.connect(g.tcpPort);
    expect((await again.login('fin-alice')).status).toBe(0);
    const replayed = await again.nextOfType(FrameType.PUSH);
    expect([replayed.cmd, replayed.seq, replayed.body.toString()]).toEqual([8, 101, 'after the FIN']);
    again.close();
  });
});

describe('a WebSocket client that sends its close frame while frames are still queued for it', () => {
  it('a push after the close frame is cached, never answered delivered and lost', async () => {
    const g = await setup({
      listen: { tcp: '127.0.0.1:0', ws: '127.0.0.1:0', api: '127.0.0.1:0' },
      limits: { maxWriteBufferBytes: 64 * 1024 * 1024 },
    });
    const c = await RawWsClient.connect(Number(g.gateway.addresses!.ws!.split(':').pop()));
    c.writeRaw(encodeFrame(FrameType.REQUEST, 0, Cmd.LOGIN, 1, Buffer.from('ws-fin-bob')));
    expect((await c.nextOfType(FrameType.RESPONSE)).status).toBe(0);
    const socket = (c.ws as unknown as { _socket: Socket })._socket;
    socket.pause();
    await queueUnread(g, 'ws-fin-bob');
    c.ws.close(1000);
    await sleep(300);
    const after = await api(g, 'POST', '/v1/push', {
      players: ['ws-fin-bob'],
      cmd: 8,
      data: b64('after close'),
    });
    expect(after.body).toMatchObject({ delivered: 0, cached: 1 });
    socket.resume();
    await c.waitClosed();
    expect(c.frames.filter((f) => f.type === FrameType.PUSH && f.cmd === 7)).toHaveLength(100);
    expect(c.frames.filter((f) => f.cmd === 8)).toEqual([]);
  });
});

describe('graceful shutdown (SPEC §10)', () => {
  it('readyz 503 while draining, lets requests in flight finish, then KICK SERVER_SHUTDOWN', async () => {
    const g = await setup({ shutdown: { drainMs: 5_000 } });
    expect((await fetch(`${g.apiUrl}/readyz`)).status).toBe(200);
    const c = await RawClient.connect(g.tcpPort);
    c.send(FrameType.REQUEST, Cmd.SLEEP, 1, '500');
    await sleep(50);
    const stopping = g.gateway.stop();
    await sleep(50);
    expect((await fetch(`${g.apiUrl}/readyz`)).status).toBe(503);
    expect((await fetch(`${g.apiUrl}/healthz`)).status).toBe(200);
    const response = await c.nextOfType(FrameType.RESPONSE);
    expect(response).toMatchObject({ seq: 1, status: 0 });
    expect((await c.nextOfType(FrameType.KICK)).status).toBe(Status.SERVER_SHUTDOWN);
    await c.waitClosed();
    await stopping;
  });

  it('posts the offline event of a session that ends as it stops, after its online event', async () => {
    const g = await setup({ events: { target: 'game' } });
    const c = await RawClient.connect(g.tcpPort);
    await c.login('leaving');
    // The client leaves just as the gateway stops: its offline event is still in flight
    // when the backend pools are closed.
    c.close();
    await g.gateway.stop();
    const events = (await backend!.requests()).filter((r) => r.headers['x-gateway-kind'] === 'event');
    expect(events.map((e) => [e.headers['x-gateway-event'], e.headers['x-gateway-player']])).toEqual([
      ['online', 'leaving'],
      ['offline', 'leaving'],
    ]);
  });

  it('a request that outlives shutdown.drainMs is cut off by the KICK', async () => {
    const g = await setup((url) => ({
      shutdown: { drainMs: 200 },
      targets: { game: { url: `${url}/rpc/{cmd}`, timeoutMs: 5_000 } },
    }));
    const c = await RawClient.connect(g.tcpPort);
    c.send(FrameType.REQUEST, Cmd.SLEEP, 1, '3000');
    await sleep(50);
    const t0 = Date.now();
    await g.gateway.stop();
    expect(Date.now() - t0).toBeLessThan(2_500);
    expect((await c.nextOfType(FrameType.KICK)).status).toBe(Status.SERVER_SHUTDOWN);
  });
});
