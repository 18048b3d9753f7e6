import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { FrameType } from '../../src/protocol/frame.js';
import { Status } from '../../src/protocol/status.js';
import { Cmd } from '../support/cmds.js';
import { type Running, startGateway } from '../support/gateway-fixture.js';
import { startBackend, type TestBackend } from '../support/processes.js';
import { json, RawClient } from '../support/raw-client.js';

let backend: TestBackend;
let gw: Running;

beforeAll(async () => {
  backend = await startBackend();
  gw = await startGateway(backend.url);
});
afterAll(async () => {
  await gw.gateway.stop();
  await backend.stop();
});
beforeEach(() => backend.clear());

describe('forwarding (SPEC §4)', () => {
  it('sends HELLO with session id, node, heartbeat and frame limit', async () => {
    const c = await RawClient.connect(gw.tcpPort);
    expect(c.hello).toEqual({
      sessionId: expect.any(String),
      node: 'test-node',
      heartbeatMs: 10_000,
      maxFrameBytes: 65_536,
    });
    c.close();
  });

  it('POSTs the body unchanged with every SPEC header, and relays a 2xx body with status 0', async () => {
    const c = await RawClient.connect(gw.tcpPort);
    const body = Buffer.from([0, 1, 2, 255, 254]);
    const r = await c.request(Cmd.ECHO, body);
    expect(r).toMatchObject({ type: FrameType.RESPONSE, status: 0, cmd: Cmd.ECHO, seq: 1 });
    expect(r.body.equals(body)).toBe(true);
    const [seen] = await backend.requests();
    expect(seen.method).toBe('POST');
    expect(seen.url).toBe('/rpc/10');
    expect(Buffer.from(seen.body, 'latin1').equals(body)).toBe(true);
    expect(seen.headers).toMatchObject({
      'content-type': 'application/octet-stream',
      'x-gateway-cmd': '10',
      'x-gateway-seq': '1',
      'x-gateway-kind': 'request',
      'x-gateway-session': c.hello.sessionId,
      'x-gateway-node': 'test-node',
      'x-gateway-client-ip': expect.stringMatching(/127\.0\.0\.1/),
      'x-request-id': expect.any(String),
    });
    expect(seen.headers['x-gateway-player']).toBeUndefined();
    c.close();
  });

  it('adds x-gateway-player once bound, and gives each request its own x-request-id', async () => {
    const c = await RawClient.connect(gw.tcpPort);
    expect((await c.login('alice')).status).toBe(0);
    await c.request(Cmd.ECHO, 'a');
    await c.request(Cmd.ECHO, 'b');
    const seen = await backend.requests();
    expect(seen[1].headers['x-gateway-player']).toBe('alice');
    expect(new Set(seen.map((s) => s.headers['x-request-id'])).size).toBe(3);
    c.close();
  });

  it('x-gateway-status with an application code 1000–65535 becomes the RESPONSE status', async () => {
    const c = await RawClient.connect(gw.tcpPort);
    const r = await c.request(Cmd.ECHO_STATUS, '4321');
    expect(r.status).toBe(4321);
    expect(r.body.toString()).toBe('4321');
    // Outside the application range it is ignored.
    expect((await c.request(Cmd.ECHO_STATUS, '7')).status).toBe(0);
    // Only plain decimal digits: these all read as 1000 to Number(), and none is a status.
    for (const odd of ['1e3', '0x3e8', '1000.0', '0b1111101000', '01000a', '+1000']) {
      expect((await c.request(Cmd.ECHO_STATUS, odd)).status, odd).toBe(0);
    }
    c.close();
  });

  it.each([
    [401, Status.AUTH_FAILED, 'AUTH_FAILED', undefined],
    [403, Status.AUTH_FAILED, 'AUTH_FAILED', undefined],
    [404, Status.BACKEND_REJECTED, 'BACKEND_REJECTED', 404],
    [418, Status.BACKEND_REJECTED, 'BACKEND_REJECTED', 418],
    [500, Status.BACKEND_ERROR, 'BACKEND_ERROR', 500],
    [503, Status.BACKEND_ERROR, 'BACKEND_ERROR', 503],
  ])('HTTP %i → status %i', async (http, status, name, httpStatus) => {
    const c = await RawClient.connect(gw.tcpPort);
    const r = await c.request(http);
    expect(r.status).toBe(status);
    const body = json(r);
    expect(body.error).toBe(name);
    expect(body.message).toEqual(expect.any(String));
    if (httpStatus !== undefined) expect(body.httpStatus).toBe(httpStatus);
    c.close();
  });

  it('no answer within timeoutMs → BACKEND_TIMEOUT, on time', async () => {
    const c = await RawClient.connect(gw.tcpPort);
    const t0 = Date.now();
    const r = await c.request(Cmd.SLEEP, '3000');
    expect(r.status).toBe(Status.BACKEND_TIMEOUT);
    expect(Date.now() - t0).toBeLessThan(2_500);
    expect(json(r).error).toBe('BACKEND_TIMEOUT');
    c.close();
  });

  it('a backend that drops the connection → BACKEND_UNAVAILABLE', async () => {
    const c = await RawClient.connect(gw.tcpPort);
    expect((await c.request(Cmd.HANG_UP)).status).toBe(Status.BACKEND_UNAVAILABLE);
    c.close();
  });

  it('a backend that is not listening → BACKEND_UNAVAILABLE', async () => {
    const dead = await startGateway('http://127.0.0.1:1', {}, 'silent');
    const c = await RawClient.connect(dead.tcpPort);
    const r = await c.request(Cmd.ECHO, 'x');
    expect(r.status).toBe(Status.BACKEND_UNAVAILABLE);
    c.close();
    await dead.gateway.stop();
  });

  it('relays a large backend body whole', async () => {
    const c = await RawClient.connect(gw.tcpPort);
    const r = await c.request(Cmd.SIZED, String(200_000));
    expect(r.status).toBe(0);
    expect(r.body.length).toBe(200_000);
    c.close();
  });

  it('NOTIFY is forwarded with kind notify and never answered', async () => {
    const c = await RawClient.connect(gw.tcpPort);
    c.send(FrameType.NOTIFY, Cmd.ECHO, 77, 'n');
    // A request after it proves the notify produced no frame of its own.
    const r = await c.request(Cmd.ECHO, 'after');
    expect(r.body.toString()).toBe('after');
    expect(c.frames).toEqual([]);
    const seen = await backend.requests();
    expect(seen.find((s) => s.headers['x-gateway-kind'] === 'notify')?.headers['x-gateway-seq']).toBe('77');
    c.close();
  });

  it('pipelined requests are handled concurrently and matched by seq', async () => {
    const c = await RawClient.connect(gw.tcpPort);
    c.send(FrameType.REQUEST, Cmd.SLEEP, 1, '300');
    c.send(FrameType.REQUEST, Cmd.ECHO, 2, 'fast');
    const first = await c.nextOfType(FrameType.RESPONSE);
    expect(first.seq).toBe(2);
    const second = await c.nextOfType(FrameType.RESPONSE);
    expect(second.seq).toBe(1);
    c.close();
  });

  it('x-gateway-close sends the RESPONSE, then KICK KICKED, then closes', async () => {
    const c = await RawClient.connect(gw.tcpPort);
    const r = await c.request(Cmd.ECHO_CLOSE, 'last');
    expect(r.body.toString()).toBe('last');
    const kick = await c.nextOfType(FrameType.KICK);
    expect(kick.status).toBe(Status.KICKED);
    expect(json(kick)).toEqual({ error: 'KICKED', message: 'bye' });
    await c.waitClosed();
  });

  it('logs the x-request-id of a failed forward', async () => {
    const c = await RawClient.connect(gw.tcpPort);
    await c.request(Cmd.HTTP_503);
    const [seen] = await backend.requests();
    const id = seen.headers['x-request-id'];
    expect(gw.logs.lines.some((l) => l.requestId === id && l.level === 50)).toBe(true);
    c.close();
  });
});
