/**
 * API safety (SPEC §5): bearer token, body size limit, input validation, 404/405, and
 * the rule that nothing is pushed (or kicked, or joined) from a rejected request.
 */
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FrameType } from '../../src/protocol/frame.js';
import { type Running, startGateway } from '../support/gateway-fixture.js';
import { startBackend, type TestBackend } from '../support/processes.js';
import { api, b64, expectNothingReceived, loginAs } from '../support/push-api.js';
import type { RawClient } from '../support/raw-client.js';

const TOKEN = 's3cret-token';
const AUTH = { authorization: `Bearer ${TOKEN}` };
const MAX_BODY = 1024;

let backend: TestBackend;
let gw: Running;
/** Online, in group "lobby", and must receive nothing from any rejected request. */
let watcher: RawClient;

beforeAll(async () => {
  backend = await startBackend();
  gw = await startGateway(backend.url, { api: { token: TOKEN, maxBodyBytes: MAX_BODY } }, 'silent');
  watcher = await loginAs(gw, 'watcher');
  expect((await api(gw, 'PUT', '/v1/groups/lobby/members', { players: ['watcher'] }, AUTH)).body).toEqual({
    members: 1,
  });
});
afterAll(async () => {
  watcher.close();
  await gw.gateway.stop();
  await backend.stop();
});

/** Every protected route with a request that would succeed with the token. */
const protectedRoutes: Array<[string, string, unknown]> = [
  ['POST', '/v1/push', { players: ['watcher'], cmd: 1, data: b64('x') }],
  ['POST', '/v1/broadcast', { cmd: 1, data: b64('x') }],
  ['POST', '/v1/groups/lobby/push', { cmd: 1, data: b64('x') }],
  ['PUT', '/v1/groups/lobby/members', { players: ['watcher'] }],
  ['DELETE', '/v1/groups/lobby/members', { players: ['watcher'] }],
  ['GET', '/v1/groups/lobby/members', undefined],
  ['POST', '/v1/kick', { players: ['watcher'], reason: 'no' }],
  ['GET', '/v1/players/watcher', undefined],
  ['GET', '/v1/stats', undefined],
  ['GET', '/metrics', undefined],
];

describe('api.token', () => {
  const wrong: Array<[string, Record<string, string>]> = [
    ['no authorization header', {}],
    ['a wrong token', { authorization: 'Bearer nope' }],
    ['the token without "Bearer "', { authorization: TOKEN }],
    ['another scheme', { authorization: `Basic ${TOKEN}` }],
    ['the token with a suffix', { authorization: `Bearer ${TOKEN}x` }],
    ['an empty bearer', { authorization: 'Bearer ' }],
  ];

  it.each(protectedRoutes)('%s %s answers 401 without a valid bearer token', async (method, path, body) => {
    for (const [, headers] of wrong) {
      const r = await api(gw, method, path, body, headers);
      expect(r.status).toBe(401);
      expect(r.body).toEqual({ error: 'unauthorized', message: expect.stringContaining('Bearer') });
    }
  });

  it('nothing is pushed, joined, left or kicked by the refused requests', async () => {
    expect(watcher.closed).toBe(false);
    await expectNothingReceived(watcher);
    // Still in the lobby, with seq untouched: the next push is seq 1.
    const r = await api(gw, 'POST', '/v1/groups/lobby/push', { cmd: 2, data: b64('ok') }, AUTH);
    expect(r.body).toEqual({ delivered: 1 });
    const push = await watcher.nextOfType(FrameType.PUSH);
    expect([push.seq, push.body.toString()]).toEqual([1, 'ok']);
  });

  it('the valid token is accepted on every route', async () => {
    expect((await api(gw, 'GET', '/v1/stats', undefined, AUTH)).status).toBe(200);
    const metrics = await api(gw, 'GET', '/metrics', undefined, AUTH);
    expect(metrics.status).toBe(200);
    expect(metrics.body).toContain('gateway_push_total');
  });

  it('/healthz and /readyz need no token', async () => {
    expect(await api(gw, 'GET', '/healthz')).toMatchObject({ status: 200, body: { status: 'ok' } });
    expect(await api(gw, 'GET', '/readyz')).toMatchObject({ status: 200, body: { status: 'ready' } });
    // A wrong token does not hurt them either.
    expect((await api(gw, 'GET', '/healthz', undefined, { authorization: 'Bearer nope' })).status).toBe(200);
  });
});

describe('api.maxBodyBytes', () => {
  it('413 for a JSON body over the limit', async () => {
    const body = { players: ['watcher'], cmd: 1, data: b64(Buffer.alloc(MAX_BODY)) };
    const r = await api(gw, 'POST', '/v1/push', body, AUTH);
    expect(r.status).toBe(413);
    expect(r.body).toEqual({
      error: 'payload_too_large',
      message: expect.stringContaining(String(MAX_BODY)),
    });
  });

  it('413 for a binary push over the limit; exactly the limit is fine', async () => {
    const octet = { ...AUTH, 'content-type': 'application/octet-stream' };
    const over = await api(gw, 'POST', '/v1/push?players=watcher&cmd=1', Buffer.alloc(MAX_BODY + 1), octet);
    expect(over.status).toBe(413);
    expect(over.body.error).toBe('payload_too_large');
    await expectNothingReceived(watcher);
    const at = await api(gw, 'POST', '/v1/push?players=watcher&cmd=1', Buffer.alloc(MAX_BODY, 9), octet);
    expect(at.body).toMatchObject({ delivered: 1 });
    expect((await watcher.nextOfType(FrameType.PUSH)).body.length).toBe(MAX_BODY);
  });

  it('413 for broadcast, group push, members and kick over the limit', async () => {
    const pad = 'x'.repeat(MAX_BODY);
    for (const [method, path] of [
      ['POST', '/v1/broadcast'],
      ['POST', '/v1/groups/lobby/push'],
      ['PUT', '/v1/groups/lobby/members'],
      ['POST', '/v1/kick'],
    ]) {
      const r = await api(gw, method, path, `{"cmd":1,"players":["watcher"],"pad":"${pad}"}`, {
        ...AUTH,
        'content-type': 'application/json',
      });
      expect(r.status, `${method} ${path}`).toBe(413);
    }
    await expectNothingReceived(watcher);
  });

  it('stops reading a huge chunked upload: answers 413 and closes the connection', async () => {
    const { status, written, closedByServer } = await chunkedFlood(gw, 256 * 1024 * 1024);
    expect(status).toMatch(/^HTTP\/1\.1 413/);
    expect(closedByServer).toBe(true);
    // The client gave up long before its 256 MiB: only what the kernel buffers got through.
    expect(written).toBeLessThan(64 * 1024 * 1024);
    await expectNothingReceived(watcher);
  });
});

/**
 * Streams a chunked POST /v1/push of up to `limit` bytes and reports the status line,
 * how much was written before the server closed the connection, and whether it did.
 */
function chunkedFlood(
  g: Running,
  limit: number,
): Promise<{ status: string; written: number; closedByServer: boolean }> {
  const { hostname, port } = new URL(g.apiUrl);
  return new Promise((resolve) => {
    const socket = connect({ host: hostname, port: Number(port) });
    let written = 0;
    let response = '';
    let closed = false;
    const chunk = Buffer.alloc(64 * 1024, 0x41);
    const framed = Buffer.concat([
      Buffer.from(`${chunk.length.toString(16)}\r\n`),
      chunk,
      Buffer.from('\r\n'),
    ]);
    const pump = (): void => {
      while (!closed && written < limit) {
        written += chunk.length;
        if (!socket.write(framed)) return;
      }
      if (!closed) socket.end('0\r\n\r\n');
    };
    socket.on('connect', () => {
      socket.write(
        `POST /v1/push?players=watcher&cmd=1 HTTP/1.1\r\nhost: ${hostname}\r\n` +
          `authorization: Bearer ${TOKEN}\r\ncontent-type: application/octet-stream\r\n` +
          'transfer-encoding: chunked\r\n\r\n',
      );
      pump();
    });
    socket.on('drain', pump);
    socket.on('data', (d) => {
      response += d.toString('latin1');
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      closed = true;
      resolve({ status: response.split('\r\n')[0], written, closedByServer: written < limit });
    });
  });
}

describe('invalid requests: 400 {"error": "invalid_request", "message": ...}', () => {
  const cases: Array<[string, string, string, unknown, RegExp]> = [
    ['malformed JSON', 'POST', '/v1/push', '{"players": [', /JSON/],
    ['an empty body', 'POST', '/v1/push', '', /JSON/],
    ['a JSON array', 'POST', '/v1/push', [], /expected object/],
    ['players not an array', 'POST', '/v1/push', { players: 'watcher', cmd: 1 }, /^players: .*array/],
    ['players empty', 'POST', '/v1/push', { players: [], cmd: 1 }, /players must name at least one player/],
    ['an empty player id', 'POST', '/v1/push', { players: [''], cmd: 1 }, /^players\.0: .*non-empty/],
    ['a number as player id', 'POST', '/v1/push', { players: [7], cmd: 1 }, /^players\.0: .*string/],
    ['cmd missing', 'POST', '/v1/push', { players: ['watcher'] }, /^cmd: /],
    ['cmd as a string', 'POST', '/v1/push', { players: ['watcher'], cmd: '1' }, /^cmd: .*number/],
    ['cmd negative', 'POST', '/v1/push', { players: ['watcher'], cmd: -1 }, /^cmd: /],
    [
      'cmd not an integer',
      'POST',
      '/v1/push',
      { players: ['watcher'], cmd: 1.5 },
      /^cmd: cmd must be an integer/,
    ],
    ['cmd over u32', 'POST', '/v1/push', { players: ['watcher'], cmd: 2 ** 32 }, /^cmd: cmd must fit in u32/],
    [
      'bad base64',
      'POST',
      '/v1/push',
      { players: ['watcher'], cmd: 1, data: 'not base64!' },
      /^data: data must be base64/,
    ],
    [
      'base64 of the wrong length',
      'POST',
      '/v1/push',
      { players: ['watcher'], cmd: 1, data: 'abcde' },
      /^data: /,
    ],
    ['data not a string', 'POST', '/v1/push', { players: ['watcher'], cmd: 1, data: [1, 2] }, /^data: /],
    [
      'offline not a boolean',
      'POST',
      '/v1/push',
      { players: ['watcher'], cmd: 1, offline: 'no' },
      /^offline: /,
    ],
    [
      'an unknown field',
      'POST',
      '/v1/push',
      { players: ['watcher'], cmd: 1, ttl: 5 },
      /unknown field\(s\) ttl/,
    ],
    ['broadcast without cmd', 'POST', '/v1/broadcast', { data: b64('x') }, /^cmd: /],
    [
      'broadcast with players',
      'POST',
      '/v1/broadcast',
      { cmd: 1, players: ['watcher'] },
      /unknown field\(s\) players/,
    ],
    ['broadcast with bad base64', 'POST', '/v1/broadcast', { cmd: 1, data: '%%%' }, /^data: /],
    ['group push with bad base64', 'POST', '/v1/groups/lobby/push', { cmd: 1, data: '%%%' }, /^data: /],
    ['a group name with a comma', 'POST', '/v1/groups/a%2Cb/push', { cmd: 1 }, /group names/],
    // Inner spaces are fine (src/players/names.ts); at either end a header would trim them.
    [
      'a group name with a leading space',
      'PUT',
      '/v1/groups/%20ab/members',
      { players: ['watcher'] },
      /group names/,
    ],
    ['a bad percent-encoding', 'GET', '/v1/players/%E0%A4%A', undefined, /percent-encoding/],
    ['members without players', 'PUT', '/v1/groups/lobby/members', {}, /^players: /],
    [
      'members with empty players',
      'DELETE',
      '/v1/groups/lobby/members',
      { players: [] },
      /at least one player/,
    ],
    ['kick with empty players', 'POST', '/v1/kick', { players: [] }, /at least one player/],
    ['kick with a numeric reason', 'POST', '/v1/kick', { players: ['watcher'], reason: 5 }, /^reason: /],
    [
      'kick with an unknown field',
      'POST',
      '/v1/kick',
      { players: ['watcher'], why: 'x' },
      /unknown field\(s\) why/,
    ],
  ];

  it.each(cases)('%s → 400 naming the problem', async (_name, method, path, body, message) => {
    const r = await api(gw, method, path, body, { ...AUTH, 'content-type': 'application/json' });
    expect(r.status).toBe(400);
    expect(r.headers.get('content-type')).toBe('application/json');
    expect(r.body).toEqual({ error: 'invalid_request', message: expect.stringMatching(message) });
  });

  const binary: Array<[string, string, RegExp]> = [
    ['no players', '/v1/push?cmd=1', /players must list at least one player/],
    ['empty players', '/v1/push?players=&cmd=1', /players must list at least one player/],
    ['only commas', '/v1/push?players=,,&cmd=1', /players must list at least one player/],
    ['no cmd', '/v1/push?players=watcher', /cmd must be a u32/],
    ['cmd not a number', '/v1/push?players=watcher&cmd=abc', /cmd must be a u32/],
    ['cmd negative', '/v1/push?players=watcher&cmd=-1', /cmd must be a u32/],
    ['cmd over u32', '/v1/push?players=watcher&cmd=4294967296', /cmd must be a u32/],
    ['cmd fractional', '/v1/push?players=watcher&cmd=1.5', /cmd must be a u32/],
    [
      'offline not a boolean',
      '/v1/push?players=watcher&cmd=1&offline=maybe',
      /offline must be true or false/,
    ],
  ];

  it.each(binary)('binary push with %s → 400 naming the problem', async (_name, path, message) => {
    const r = await api(gw, 'POST', path, Buffer.from('payload'), {
      ...AUTH,
      'content-type': 'application/octet-stream',
    });
    expect(r.status).toBe(400);
    expect(r.body).toEqual({ error: 'invalid_request', message: expect.stringMatching(message) });
  });

  it('nothing was pushed, kicked or changed by any of them', async () => {
    expect(watcher.closed).toBe(false);
    await expectNothingReceived(watcher);
    const info = (await api(gw, 'GET', '/v1/players/watcher', undefined, AUTH)).body;
    expect(info).toMatchObject({ online: true, offlineQueued: 0 });
    // Still a lobby member (the refused DELETE did not remove it).
    expect((await api(gw, 'POST', '/v1/groups/lobby/push', { cmd: 3 }, AUTH)).body).toEqual({ delivered: 1 });
    const push = await watcher.nextOfType(FrameType.PUSH);
    // Its seq follows the last accepted push: refused requests took none.
    expect(push.seq).toBe(info.pushSeq + 1);
  });
});

describe('routing errors', () => {
  it.each([
    ['GET', '/'],
    ['GET', '/v1'],
    ['POST', '/v1/pushes'],
    ['GET', '/v1/players'],
    ['GET', '/v1/players/a/b'],
    ['POST', '/v1/groups/lobby'],
    ['GET', '/v2/stats'],
  ])('%s %s → 404', async (method, path) => {
    const r = await api(gw, method, path, method === 'POST' ? { cmd: 1 } : undefined, AUTH);
    expect(r.status).toBe(404);
    expect(r.body).toEqual({ error: 'not_found', message: expect.any(String) });
  });

  it.each([
    ['GET', '/v1/push', 'POST'],
    ['PUT', '/v1/push', 'POST'],
    ['GET', '/v1/broadcast', 'POST'],
    ['DELETE', '/v1/kick', 'POST'],
    ['POST', '/v1/players/watcher', 'GET, HEAD'],
    ['DELETE', '/v1/players/watcher', 'GET, HEAD'],
    ['POST', '/v1/groups/lobby/members', 'GET, PUT, DELETE, HEAD'],
    ['PATCH', '/v1/groups/lobby/members', 'GET, PUT, DELETE, HEAD'],
    ['PUT', '/v1/groups/lobby/push', 'POST'],
    ['POST', '/v1/stats', 'GET, HEAD'],
    ['POST', '/healthz', 'GET, HEAD'],
  ])('%s %s → 405 with allow: %s', async (method, path, allow) => {
    const r = await api(
      gw,
      method,
      path,
      method === 'GET' ? undefined : { players: ['watcher'], cmd: 1 },
      AUTH,
    );
    expect(r.status).toBe(405);
    expect(r.headers.get('allow')).toBe(allow);
    expect(r.body).toEqual({ error: 'method_not_allowed', message: expect.stringContaining(method) });
  });

  it('nothing was pushed or kicked by a 404 or 405', async () => {
    expect(watcher.closed).toBe(false);
    await expectNothingReceived(watcher);
  });
});
