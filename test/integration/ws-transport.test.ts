import { connect as tcpConnect } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { encodeFrame, FrameType } from '../../src/protocol/frame.js';
import { Status } from '../../src/protocol/status.js';
import { WsTransport } from '../../src/transport/ws-transport.js';
import { Cmd } from '../support/cmds.js';
import { startBackend, type TestBackend } from '../support/processes.js';
import { json, type RawClient } from '../support/raw-client.js';
import {
  openRaw,
  postOk,
  RawWsClient,
  type RunningBoth,
  startGatewayBoth,
  TRANSPORTS,
  type TransportKind,
} from '../support/transports.js';
import { sleep } from '../support/wait.js';

let backend: TestBackend;
let gw: RunningBoth;

beforeAll(async () => {
  backend = await startBackend();
  gw = await startGatewayBoth(backend.url);
});
afterAll(async () => {
  await gw.gateway.stop();
  await backend.stop();
});
beforeEach(() => backend.clear());

/** A frame header with any length field, type and flags: what a broken client might send. */
function rawHeader(length: number, type: number, flags = 0, cmd = 10, seq = 1): Buffer {
  const b = Buffer.alloc(16);
  b.writeUInt32BE(length, 0);
  b[4] = type;
  b[5] = flags;
  b.writeUInt32BE(cmd, 8);
  b.writeUInt32BE(seq, 12);
  return b;
}

async function expectKick(kind: TransportKind, bytes: Buffer, status: number, name: string): Promise<void> {
  const c = await openRaw(gw, kind);
  c.writeRaw(bytes);
  const kick = await c.nextOfType(FrameType.KICK);
  expect(kick.status).toBe(status);
  expect(json(kick).error).toBe(name);
  await c.waitClosed();
}

// The same cases, once per transport: the WebSocket acceptor feeds the same Session.
describe.each(TRANSPORTS)('%s: SPEC §3 protocol and forwarding', (kind) => {
  it('sends HELLO first', async () => {
    const c = await openRaw(gw, kind);
    expect(c.hello).toEqual({
      sessionId: expect.any(String),
      node: 'test-node',
      heartbeatMs: 10_000,
      maxFrameBytes: 65_536,
    });
    c.close();
  });

  it('forwards a REQUEST with the SPEC headers and relays the body with status 0', async () => {
    const c = await openRaw(gw, kind);
    const body = Buffer.from([0, 1, 2, 255]);
    const r = await c.request(Cmd.ECHO, body);
    expect(r).toMatchObject({ type: FrameType.RESPONSE, status: 0, cmd: Cmd.ECHO, seq: 1 });
    expect(r.body.equals(body)).toBe(true);
    const [seen] = await backend.requests();
    expect(seen.headers).toMatchObject({
      'x-gateway-cmd': '10',
      'x-gateway-kind': 'request',
      'x-gateway-session': c.hello.sessionId,
      'x-gateway-client-ip': expect.stringMatching(/127\.0\.0\.1/),
    });
    c.close();
  });

  it('relays an application status from x-gateway-status, and backend errors as statuses', async () => {
    const c = await openRaw(gw, kind);
    expect((await c.request(Cmd.ECHO_STATUS, '4321')).status).toBe(4321);
    const r = await c.request(Cmd.HTTP_503);
    expect(r.status).toBe(Status.BACKEND_ERROR);
    expect(json(r)).toMatchObject({ error: 'BACKEND_ERROR', httpStatus: 503 });
    c.close();
  });

  it('refuses a non-anonymous cmd before login with NOT_AUTHENTICATED', async () => {
    const c = await openRaw(gw, kind);
    expect((await c.request(20, 'x')).status).toBe(Status.NOT_AUTHENTICATED);
    expect(await backend.requests()).toEqual([]);
    c.close();
  });

  it('forwards NOTIFY without answering it', async () => {
    const c = await openRaw(gw, kind);
    c.send(FrameType.NOTIFY, Cmd.ECHO, 77, 'n');
    expect((await c.request(Cmd.ECHO, 'after')).body.toString()).toBe('after');
    expect(c.frames).toEqual([]);
    const seen = await backend.requests();
    expect(seen.find((s) => s.headers['x-gateway-kind'] === 'notify')?.headers['x-gateway-seq']).toBe('77');
    c.close();
  });

  it('handles pipelined requests concurrently, matched by seq', async () => {
    const c = await openRaw(gw, kind);
    c.send(FrameType.REQUEST, Cmd.SLEEP, 1, '300');
    c.send(FrameType.REQUEST, Cmd.ECHO, 2, 'fast');
    expect((await c.nextOfType(FrameType.RESPONSE)).seq).toBe(2);
    expect((await c.nextOfType(FrameType.RESPONSE)).seq).toBe(1);
    c.close();
  });

  it('answers PING with PONG carrying its seq and body', async () => {
    const c = await openRaw(gw, kind);
    c.send(FrameType.PING, 0, 42, 'hi');
    const pong = await c.nextOfType(FrameType.PONG);
    expect(pong.seq).toBe(42);
    expect(pong.body.toString()).toBe('hi');
    c.close();
  });

  it('relays a large backend body whole', async () => {
    const c = await openRaw(gw, kind);
    const r = await c.request(Cmd.SIZED, String(200_000));
    expect(r.body.length).toBe(200_000);
    if (c instanceof RawWsClient) expect(c.messageSizes).toContain(200_016);
    c.close();
  });

  it('delivers a push from POST /v1/push with the player push sequence', async () => {
    const c = await openRaw(gw, kind);
    const player = `push-${kind}`;
    expect((await c.login(player)).status).toBe(0);
    const data = Buffer.from('hello player').toString('base64');
    expect(await postOk(gw, '/v1/push', { players: [player], cmd: 5, data })).toMatchObject({ delivered: 1 });
    await postOk(gw, '/v1/push', { players: [player], cmd: 6, data });
    const p1 = await c.nextOfType(FrameType.PUSH);
    const p2 = await c.nextOfType(FrameType.PUSH);
    expect(p1).toMatchObject({ cmd: 5, seq: 1 });
    expect(p1.body.toString()).toBe('hello player');
    expect(p2).toMatchObject({ cmd: 6, seq: 2 });
    c.close();
  });

  it('delivers a large broadcast (header and body written apart) as one frame', async () => {
    const c = await openRaw(gw, kind);
    await c.login(`bcast-${kind}`);
    const body = Buffer.alloc(5_000, 7);
    await postOk(gw, '/v1/broadcast', { cmd: 9, data: body.toString('base64') });
    const p = await c.nextOfType(FrameType.PUSH);
    expect(p.cmd).toBe(9);
    expect(p.body.equals(body)).toBe(true);
    if (c instanceof RawWsClient) expect(c.messageSizes).toContain(5_016);
    c.close();
  });

  it('kicks with KICKED on POST /v1/kick, then closes', async () => {
    const c = await openRaw(gw, kind);
    const player = `kick-${kind}`;
    await c.login(player);
    expect(await postOk(gw, '/v1/kick', { players: [player], reason: 'cheating' })).toEqual({ kicked: 1 });
    const kick = await c.nextOfType(FrameType.KICK);
    expect(kick.status).toBe(Status.KICKED);
    expect(json(kick).error).toBe('KICKED');
    await c.waitClosed();
  });

  it('x-gateway-close sends the RESPONSE, then KICK KICKED, then closes', async () => {
    const c = await openRaw(gw, kind);
    expect((await c.request(Cmd.ECHO_CLOSE, 'last')).body.toString()).toBe('last');
    expect((await c.nextOfType(FrameType.KICK)).status).toBe(Status.KICKED);
    await c.waitClosed();
  });

  it('length < 12 → KICK BAD_FRAME', async () => {
    await expectKick(kind, rawHeader(8, FrameType.REQUEST).subarray(0, 12), Status.BAD_FRAME, 'BAD_FRAME');
  });

  it('length > limits.maxFrameBytes → KICK FRAME_TOO_LARGE', async () => {
    await expectKick(kind, rawHeader(70_000, FrameType.REQUEST), Status.FRAME_TOO_LARGE, 'FRAME_TOO_LARGE');
  });

  it('an unknown frame type → KICK PROTOCOL_ERROR', async () => {
    await expectKick(kind, rawHeader(12, 99), Status.PROTOCOL_ERROR, 'PROTOCOL_ERROR');
  });

  it('a gateway-to-client type sent by the client → KICK PROTOCOL_ERROR', async () => {
    await expectKick(kind, rawHeader(12, FrameType.RESPONSE), Status.PROTOCOL_ERROR, 'PROTOCOL_ERROR');
  });

  it('flags ≠ 0 → KICK PROTOCOL_ERROR', async () => {
    await expectKick(kind, rawHeader(12, FrameType.REQUEST, 1), Status.PROTOCOL_ERROR, 'PROTOCOL_ERROR');
  });

  it('a PING body over 64 bytes → KICK BAD_FRAME', async () => {
    const c = await openRaw(gw, kind);
    c.send(FrameType.PING, 0, 1, Buffer.alloc(65));
    expect((await c.nextOfType(FrameType.KICK)).status).toBe(Status.BAD_FRAME);
    await c.waitClosed();
  });

  it('forwards nothing after a protocol error', async () => {
    const c = await openRaw(gw, kind);
    c.writeRaw(rawHeader(12, FrameType.REQUEST, 4));
    c.send(FrameType.REQUEST, Cmd.ECHO, 2, 'never');
    expect((await c.nextOfType(FrameType.KICK)).status).toBe(Status.PROTOCOL_ERROR);
    await c.waitClosed();
    expect(await backend.requests()).toEqual([]);
  });

  it('a client that stops reading is kicked with SLOW_CONSUMER (bufferedBytes is honest)', async () => {
    const own = await startGatewayBoth(backend.url, {}, 'silent');
    const c = await openRaw(own, kind);
    await c.login('slow');
    if (c instanceof RawWsClient) c.ws.pause();
    else (c as RawClient).socket.pause();
    const data = Buffer.alloc(500_000, 1).toString('base64');
    let results: Array<Record<string, unknown>> = [];
    // Kernel buffers on loopback hold a few MB; then the gateway's own queue passes 1 MiB.
    for (let i = 0; i < 40 && !results.some((r) => r.dropped === 1); i++) {
      results = [await postOk(own, '/v1/push', { players: ['slow'], cmd: 5, data })];
    }
    expect(results[0]).toMatchObject({ dropped: 1 });
    if (c instanceof RawWsClient) c.ws.resume();
    else (c as RawClient).socket.resume();
    expect((await c.nextOfType(FrameType.KICK, 10_000)).status).toBe(Status.SLOW_CONSUMER);
    await own.gateway.stop();
  });

  it('graceful shutdown sends KICK SERVER_SHUTDOWN and closes', async () => {
    const own = await startGatewayBoth(backend.url, {}, 'silent');
    const c = await openRaw(own, kind);
    await own.gateway.stop();
    expect((await c.nextOfType(FrameType.KICK)).status).toBe(Status.SERVER_SHUTDOWN);
    await c.waitClosed();
  });
});

describe('ws: one frame per binary message', () => {
  it('a text message → KICK PROTOCOL_ERROR', async () => {
    const c = await RawWsClient.connect(gw.wsPort);
    c.sendText('{"cmd":10}');
    const kick = await c.nextOfType(FrameType.KICK);
    expect(kick.status).toBe(Status.PROTOCOL_ERROR);
    expect(json(kick).message).toMatch(/text message/);
    await c.waitClosed();
  });

  it('two frames in one message → KICK BAD_FRAME, and neither is forwarded', async () => {
    const c = await RawWsClient.connect(gw.wsPort);
    const a = encodeFrame(FrameType.REQUEST, 0, Cmd.ECHO, 1, Buffer.from('a'));
    const b = encodeFrame(FrameType.REQUEST, 0, Cmd.ECHO, 2, Buffer.from('b'));
    c.writeRaw(Buffer.concat([a, b]));
    const kick = await c.nextOfType(FrameType.KICK);
    expect(kick.status).toBe(Status.BAD_FRAME);
    expect(json(kick).message).toMatch(/exactly one frame/);
    await c.waitClosed();
    expect(await backend.requests()).toEqual([]);
  });

  it('part of a frame in a message → KICK BAD_FRAME', async () => {
    const c = await RawWsClient.connect(gw.wsPort);
    c.writeRaw(encodeFrame(FrameType.REQUEST, 0, Cmd.ECHO, 1, Buffer.from('abcdef')).subarray(0, 19));
    const kick = await c.nextOfType(FrameType.KICK);
    expect(kick.status).toBe(Status.BAD_FRAME);
    expect(json(kick).message).toMatch(/part of a frame/);
    await c.waitClosed();
  });

  it.each([
    ['an empty message', 0],
    ['a message of 3 bytes', 3],
  ])('%s → KICK BAD_FRAME', async (_name, size) => {
    const c = await RawWsClient.connect(gw.wsPort);
    c.writeRaw(Buffer.alloc(size));
    expect((await c.nextOfType(FrameType.KICK)).status).toBe(Status.BAD_FRAME);
    await c.waitClosed();
  });

  it('accepts a frame of exactly limits.maxFrameBytes', async () => {
    const c = await RawWsClient.connect(gw.wsPort);
    const body = Buffer.alloc(65_536 - 12, 1);
    const r = await c.request(Cmd.ECHO, body);
    expect(r.status).toBe(0);
    expect(r.body.length).toBe(body.length);
    c.close();
  });

  it('a message over limits.maxFrameBytes + 4 is refused by the WebSocket layer (close 1009)', async () => {
    const c = await RawWsClient.connect(gw.wsPort);
    c.writeRaw(encodeFrame(FrameType.REQUEST, 0, Cmd.ECHO, 1, Buffer.alloc(65_536)));
    await c.waitClosed();
    expect(c.closeCode).toBe(1009);
    expect(await backend.requests()).toEqual([]);
  });

  it('accepts any path', async () => {
    const c = await RawWsClient.connect(gw.wsPort, '/some/deep/path?token=x');
    expect((await c.request(Cmd.ECHO, 'ok')).body.toString()).toBe('ok');
    c.close();
  });

  it('answers a plain HTTP request with 426', async () => {
    const res = await fetch(`http://127.0.0.1:${gw.wsPort}/`);
    expect(res.status).toBe(426);
    await res.text();
  });

  it('a KICK ends the WebSocket with a close frame (code 1000)', async () => {
    const c = await RawWsClient.connect(gw.wsPort);
    c.writeRaw(rawHeader(12, 99));
    await c.nextOfType(FrameType.KICK);
    await c.waitClosed();
    expect(c.closeCode).toBe(1000);
  });

  it('counts WebSocket sessions like TCP ones in /v1/stats', async () => {
    const c = await RawWsClient.connect(gw.wsPort);
    await c.login('stats-ws');
    const stats = (await (await fetch(`${gw.apiUrl}/v1/stats`)).json()) as { sessions: { authed: number } };
    expect(stats.sessions.authed).toBeGreaterThanOrEqual(1);
    c.close();
  });
});

describe('ws: handshake timeout', () => {
  const accepted: string[] = [];
  let transport: WsTransport;
  let port: number;

  beforeAll(async () => {
    transport = new WsTransport(
      { host: '127.0.0.1', port: 0 },
      (connection, bind) => {
        accepted.push(connection.remoteAddress);
        bind({ data: () => {}, close: () => {} });
      },
      { maxFrameBytes: 1024, handshakeTimeoutMs: 200 },
    );
    port = (await transport.listen()).port;
  });
  afterAll(() => transport.close());

  it('destroys a TCP connection that never completes the upgrade', async () => {
    const socket = tcpConnect({ port, host: '127.0.0.1' });
    await new Promise((r) => socket.once('connect', r));
    socket.write('GET / HTTP/1.1\r\nHost: x\r\n');
    const t0 = Date.now();
    await new Promise((r) => socket.once('close', r));
    expect(Date.now() - t0).toBeLessThan(1_500);
    expect(accepted).toEqual([]);
  });

  it('leaves an upgraded connection alone', async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/`);
    await new Promise((r) => ws.once('open', r));
    await sleep(400);
    expect(ws.readyState).toBe(WebSocket.OPEN);
    expect(accepted).toHaveLength(1);
    ws.terminate();
  });

  it('close() stops accepting without waiting for open connections', async () => {
    const own = new WsTransport(
      { host: '127.0.0.1', port: 0 },
      (_c, bind) => bind({ data() {}, close() {} }),
      {
        maxFrameBytes: 1024,
      },
    );
    const { port: ownPort } = await own.listen();
    const ws = new WebSocket(`ws://127.0.0.1:${ownPort}/`);
    await new Promise((r) => ws.once('open', r));
    await own.close();
    const refused = new WebSocket(`ws://127.0.0.1:${ownPort}/`);
    await expect(new Promise((_r, reject) => refused.once('error', reject))).rejects.toThrow(/ECONNREFUSED/);
    expect(ws.readyState).toBe(WebSocket.OPEN);
    ws.terminate();
  });
});
