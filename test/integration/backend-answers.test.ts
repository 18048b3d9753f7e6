/**
 * Backend answers the gateway must not take whole (SPEC §4): a body over
 * limits.maxResponseBytes, headers over the HTTP client's limit, and directives naming ids
 * the API could not address; and UTF-8 player ids and group names end to end, on both
 * engines. The backend here writes header bytes as Go does: UTF-8, as they are.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FrameType } from '../../src/protocol/frame.js';
import { Status } from '../../src/protocol/status.js';
import { type Running, startGateway } from '../support/gateway-fixture.js';
import { api, b64 } from '../support/push-api.js';
import { json, RawClient } from '../support/raw-client.js';
import { RedisServer } from '../support/redis-server.js';
import { waitFor } from '../support/wait.js';

const Cmd = {
  /** body = player id → x-gateway-bind with its UTF-8 bytes. */
  LOGIN: 1,
  ECHO: 10,
  /** answers the x-gateway-player header it received, as bytes. */
  WHO: 20,
  /** joins the group named in the body (UTF-8). */
  JOIN: 21,
  /** a body of N bytes (N in the body), with content-length. */
  SIZED: 30,
  /** N bytes (N in the body), chunked: no content-length. */
  STREAMED: 31,
  /** an answer whose headers are over 16 KiB. */
  HUGE_HEADER: 32,
  /** answers the port the gateway's pool connection comes from. */
  PEER: 33,
} as const;

/**
 * Header bytes as Go writes them: the UTF-8 bytes, handed to Node as a latin1 string so
 * they pass unchanged. (Node writes the header block as latin1 only when the body is a
 * Buffer; with a string body it sends both as one UTF-8 string, so bodies here are Buffers.)
 */
const utf8Header = (s: string): string => Buffer.from(s, 'utf8').toString('latin1');

class Backend {
  private server!: Server;
  url = '';
  /** x-gateway-player of every request, decoded as UTF-8. */
  readonly players: string[] = [];

  async start(): Promise<void> {
    this.server = createServer((req: IncomingMessage, res: ServerResponse) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => this.answer(req, res, Buffer.concat(chunks)));
    });
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    const a = this.server.address();
    this.url = `http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}`;
  }

  private answer(req: IncomingMessage, res: ServerResponse, body: Buffer): void {
    const player = req.headers['x-gateway-player'];
    if (typeof player === 'string') this.players.push(Buffer.from(player, 'latin1').toString('utf8'));
    const text = body.toString('utf8');
    switch (Number(req.headers['x-gateway-cmd'])) {
      case Cmd.LOGIN:
        res.setHeader('x-gateway-bind', utf8Header(text));
        res.end(Buffer.from('welcome'));
        return;
      case Cmd.WHO:
        res.end(Buffer.from(typeof player === 'string' ? player : '', 'latin1'));
        return;
      case Cmd.JOIN:
        res.setHeader('x-gateway-join', utf8Header(text));
        res.end(Buffer.from('joined'));
        return;
      case Cmd.SIZED:
        res.end(Buffer.alloc(Number(text), 0x61));
        return;
      case Cmd.STREAMED: {
        let left = Number(text);
        const piece = Buffer.alloc(64 * 1024, 0x62);
        const more = (): void => {
          while (left > 0) {
            const n = Math.min(left, piece.length);
            left -= n;
            if (!res.write(piece.subarray(0, n))) {
              res.once('drain', more);
              return;
            }
          }
          res.end();
        };
        more();
        return;
      }
      case Cmd.PEER:
        res.end(Buffer.from(String(req.socket.remotePort)));
        return;
      case Cmd.HUGE_HEADER:
        res.setHeader('x-gateway-join', Array.from({ length: 10_000 }, (_, i) => `g${i}`).join(','));
        res.end('too much');
        return;
      default:
        res.end(body);
    }
  }

  stop(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((r) => this.server.close(() => r()));
  }
}

let backend: Backend;
let redis: RedisServer;
beforeAll(async () => {
  backend = new Backend();
  await backend.start();
  redis = await RedisServer.start();
});
afterAll(async () => {
  await backend.stop();
  await redis.stop();
});

const anonymous = {
  required: true,
  anonymousCmds: [Cmd.LOGIN, Cmd.ECHO, Cmd.SIZED, Cmd.STREAMED, Cmd.HUGE_HEADER, Cmd.PEER],
};

describe('answers the gateway does not take whole', () => {
  let gw: Running;
  beforeAll(async () => {
    gw = await startGateway(backend.url, { auth: anonymous }, 'silent');
  });
  afterAll(() => gw.gateway.stop());

  const backendErrors = (type: string): number =>
    gw.gateway.metrics.backendErrors.child('game', '0', type).value;

  it.each([
    ['with content-length', Cmd.SIZED],
    ['chunked', Cmd.STREAMED],
  ])(
    'an answer over limits.maxResponseBytes (%s) is BACKEND_ERROR naming the limit; the session lives',
    async (_how, cmd) => {
      const c = await RawClient.connect(gw.tcpPort);
      const before = backendErrors('response_too_large');
      const r = await c.request(cmd, String(3 * 1024 * 1024));
      expect(r.status).toBe(Status.BACKEND_ERROR);
      expect(json(r)).toMatchObject({
        error: 'BACKEND_ERROR',
        message: expect.stringContaining('limits.maxResponseBytes'),
      });
      expect(backendErrors('response_too_large')).toBe(before + 1);
      expect((await c.request(Cmd.ECHO, 'still here')).body.toString()).toBe('still here');
      expect(c.closed).toBe(false);
      c.close();
    },
  );

  it('the pool connection an answer over the limit came on is discarded, not reused', async () => {
    const c = await RawClient.connect(gw.tcpPort);
    const peer = async () => (await c.request(Cmd.PEER, '')).body.toString();
    const first = await peer();
    // One request at a time: the pool keeps using the one connection it has.
    expect(await peer()).toBe(first);
    expect((await c.request(Cmd.STREAMED, String(3 * 1024 * 1024))).status).toBe(Status.BACKEND_ERROR);
    const after = await peer();
    expect(after).not.toBe(first);
    expect(await peer()).toBe(after);
    c.close();
  });

  it('eight pipelined 50 MB answers on one session keep memory bounded', async () => {
    const c = await RawClient.connect(gw.tcpPort);
    const rssBefore = process.memoryUsage().rss;
    let peak = rssBefore;
    const sampler = setInterval(() => {
      peak = Math.max(peak, process.memoryUsage().rss);
    }, 5);
    const answers = await Promise.all(
      Array.from({ length: 8 }, () => c.request(Cmd.STREAMED, String(50 * 1024 * 1024), 10_000)),
    );
    clearInterval(sampler);
    console.log(
      `8 pipelined 50 MB answers: RSS +${((peak - rssBefore) / 1024 / 1024).toFixed(1)} MiB at peak`,
    );
    expect(answers.map((a) => a.status)).toEqual(Array(8).fill(Status.BACKEND_ERROR));
    // Each answer is cut off after limits.maxResponseBytes (1 MiB): nowhere near 8 × 50 MB.
    expect(peak - rssBefore).toBeLessThan(150 * 1024 * 1024);
    expect(c.closed).toBe(false);
    c.close();
  });

  it('headers over the HTTP client limit are BACKEND_ERROR, counted bad_response, and never open the circuit', async () => {
    const c = await RawClient.connect(gw.tcpPort);
    const before = backendErrors('bad_response');
    // More than circuitBreaker.failures (5): connect errors in a row this many would open it.
    for (let i = 0; i < 7; i++) {
      const r = await c.request(Cmd.HUGE_HEADER, '');
      expect(r.status).toBe(Status.BACKEND_ERROR);
    }
    expect(backendErrors('bad_response')).toBe(before + 7);
    expect(backendErrors('connect_error')).toBe(0);
    expect(backendErrors('circuit_open')).toBe(0);
    expect((await c.request(Cmd.ECHO, 'served')).body.toString()).toBe('served');
    c.close();
  });

  it('a bind to an id the API could not address is refused and counted; the RESPONSE still arrives', async () => {
    const c = await RawClient.connect(gw.tcpPort);
    const before = gw.gateway.metrics.errors.child('invalid_directive').value;
    const r = await c.request(Cmd.LOGIN, 'x'.repeat(300));
    expect(r.status).toBe(0);
    expect(r.body.toString()).toBe('welcome');
    await waitFor(() => gw.gateway.metrics.errors.child('invalid_directive').value === before + 1);
    expect(gw.gateway.sessions.get(c.hello.sessionId)?.playerId).toBeNull();
    c.close();
  });

  it('a join of a group name the API could not address is refused; valid names in the same list are joined', async () => {
    const c = await RawClient.connect(gw.tcpPort);
    expect((await c.login('joiner')).status).toBe(0);
    const before = gw.gateway.metrics.errors.child('invalid_directive').value;
    expect((await c.request(Cmd.JOIN, `${'g'.repeat(200)},ok-group`)).status).toBe(0);
    await waitFor(() => gw.gateway.metrics.errors.child('invalid_directive').value === before + 1);
    const pushed = await api(gw, 'POST', '/v1/groups/ok-group/push', { cmd: 4, data: b64('hi') });
    expect(pushed.body).toEqual({ delivered: 1 });
    c.close();
  });
});

describe.each(['local', 'redis'] as const)(
  'UTF-8 player ids and group names end to end (%s engine)',
  (engine) => {
    let gw: Running;
    beforeAll(async () => {
      gw = await startGateway(
        backend.url,
        {
          auth: anonymous,
          cluster: { engine, redis: { url: redis.url, keyPrefix: `utf8-${engine}:` } },
        },
        'silent',
      );
    });
    afterAll(() => gw.gateway.stop());

    it('a backend binds 玩家1; it is forwarded as UTF-8, found by the API, and reached by pushes', async () => {
      const player = `玩家1-${engine}`;
      const c = await RawClient.connect(gw.tcpPort);
      expect((await c.login(player)).status).toBe(0);
      expect((await c.request(Cmd.WHO, '')).body.toString('utf8')).toBe(player);
      expect(backend.players).toContain(player);

      const info = await api(gw, 'GET', `/v1/players/${encodeURIComponent(player)}`);
      expect(info.status).toBe(200);
      expect(info.body).toMatchObject({ playerId: player, online: true });

      const pushed = await api(gw, 'POST', '/v1/push', { players: [player], cmd: 3, data: b64('你好') });
      expect(pushed.body).toMatchObject({ delivered: 1 });
      expect((await c.nextOfType(FrameType.PUSH)).body.toString('utf8')).toBe('你好');

      const group = `地图-${engine}`;
      expect((await c.request(Cmd.JOIN, group)).status).toBe(0);
      await waitFor(async () => {
        const r = await api(gw, 'POST', `/v1/groups/${encodeURIComponent(group)}/push`, {
          cmd: 4,
          data: b64('map'),
        });
        return r.body.delivered === 1;
      });
      expect((await c.nextOfType(FrameType.PUSH)).body.toString()).toBe('map');
      c.close();
    });
  },
);
