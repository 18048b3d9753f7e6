/**
 * The API and metrics listeners under hostile or sloppy clients (issue 11 items 1, 6, 9;
 * issue 12 items 1 and 3; SPEC §5): pipelined floods, lingering close after refusals,
 * slow headers and bodies, the connection cap, the token before 404/405, odd request
 * targets, HEAD, the bearer scheme's case, several tokens, and one rule for player ids.
 * Everything goes through real sockets.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FrameType } from '../../src/protocol/frame.js';
import { type Running, startGateway } from '../support/gateway-fixture.js';
import { api, b64, waitFor } from '../support/push-api.js';
import { RawClient } from '../support/raw-client.js';
import { sleep } from '../support/wait.js';

const TOKEN = 'hardening-token';
const AUTH = { authorization: `Bearer ${TOKEN}` };
const MiB = 1024 * 1024;

let gw: Running;
let metricsPort: number;
let apiPort: number;

beforeAll(async () => {
  gw = await startGateway(
    null,
    {
      listen: { tcp: '127.0.0.1:0', api: '127.0.0.1:0', metrics: '127.0.0.1:0' },
      api: { token: TOKEN, maxConnections: 64, headersTimeoutMs: 1_000, requestTimeoutMs: 3_000 },
    },
    'debug',
  );
  metricsPort = Number(gw.gateway.addresses!.metrics!.split(':').pop());
  apiPort = Number(new URL(gw.apiUrl).port);
});
afterAll(async () => {
  await gw.gateway.stop();
});

const errorLogs = () => gw.logs.lines.filter((l) => (l.level as number) >= 50);

/** Opens a socket and resolves once connected. */
function open(port: number, allowHalfOpen = false): Promise<Socket> {
  return new Promise((resolve, reject) => {
    // allowHalfOpen: the client goes on sending after the server's FIN, as uploaders do.
    const s = connect({ port, host: '127.0.0.1', allowHalfOpen });
    s.once('connect', () => resolve(s));
    s.once('error', reject);
  });
}

/**
 * A push whose body (100 000 bytes announced) trickles in at 1 byte / 200 ms, with
 * `headers` added; resolves with what the gateway answered once it closed, and when.
 */
async function trickledBody(headers: string, allowHalfOpen = false): Promise<{ text: string; ms: number }> {
  const s = await open(apiPort, allowHalfOpen);
  let text = '';
  s.on('data', (d) => {
    text += d.toString();
  });
  s.on('error', () => {});
  const t0 = Date.now();
  s.write(
    `POST /v1/push HTTP/1.1\r\nhost: gw\r\n${headers}content-type: application/json\r\ncontent-length: 100000\r\n\r\n`,
  );
  const trickle = setInterval(() => s.writable && s.write('x'), 200);
  await new Promise((resolve) => s.once('close', resolve));
  clearInterval(trickle);
  return { text, ms: Date.now() - t0 };
}

/** Writes `head`, collects the answer until the server closes or `ms` pass. */
async function exchange(
  port: number,
  head: string,
  ms = 3_000,
): Promise<{ text: string; closed: boolean; socket: Socket }> {
  const socket = await open(port);
  let text = '';
  socket.on('data', (d) => {
    text += d.toString('latin1');
  });
  socket.on('error', () => {});
  const closed = await new Promise<boolean>((resolve) => {
    socket.once('close', () => resolve(true));
    setTimeout(() => resolve(false), ms);
    socket.write(head);
  });
  return { text, closed, socket };
}

async function metricValue(name: string, labels: string): Promise<number> {
  const r = await api(gw, 'GET', '/metrics', undefined, AUTH);
  const line = (r.body as string).split('\n').find((l) => l.startsWith(`${name}{${labels}}`));
  return line === undefined ? 0 : Number(line.split(' ').pop());
}

describe('pipelined floods (issue 11 item 1)', () => {
  /**
   * Four sockets each write `count` pipelined GET /metrics and never read. Meanwhile a
   * game client PINGs; answers the largest PING round trip and RSS growth seen.
   */
  async function flood(port: number, headers: string, count: number) {
    const player = await RawClient.connect(gw.tcpPort);
    const rssBefore = process.memoryUsage().rss;
    let rssPeak = rssBefore;
    const request = `GET /metrics HTTP/1.1\r\nhost: gw\r\n${headers}\r\n`;
    const sockets = await Promise.all([0, 1, 2, 3].map(() => open(port)));
    for (const s of sockets) {
      s.pause(); // never reads
      s.on('error', () => {});
      s.write(request.repeat(count));
    }
    let maxRtt = 0;
    let pongs = 0;
    const until = Date.now() + 3_000;
    for (let seq = 1; Date.now() < until; seq++) {
      const t0 = performance.now();
      player.send(FrameType.PING, 0, seq, 'x');
      await player.next((f) => f.type === FrameType.PONG && f.seq === seq, 5_000);
      pongs++;
      maxRtt = Math.max(maxRtt, performance.now() - t0);
      rssPeak = Math.max(rssPeak, process.memoryUsage().rss);
      await sleep(20);
    }
    const closedByServer = sockets.filter((s) => s.destroyed || s.readableEnded).length;
    for (const s of sockets) s.destroy();
    player.close();
    return { maxRtt, rssGrowth: rssPeak - rssBefore, pongs, closedByServer };
  }

  it('5 000 pipelined scrapes on four non-reading sockets of listen.metrics leave PING under 250 ms and RSS under +150 MiB', async () => {
    const r = await flood(metricsPort, '', 5_000);
    console.log(
      `listen.metrics flood: max PING RTT ${r.maxRtt.toFixed(1)} ms, RSS +${(r.rssGrowth / MiB).toFixed(1)} MiB, ${r.pongs} PONGs`,
    );
    expect(r.maxRtt).toBeLessThan(250);
    expect(r.rssGrowth).toBeLessThan(150 * MiB);
    // Still serving scrapes.
    expect((await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).status).toBe(200);
  });

  it('the same on the API port, with the token', async () => {
    const r = await flood(apiPort, `authorization: Bearer ${TOKEN}\r\n`, 5_000);
    console.log(
      `API flood: max PING RTT ${r.maxRtt.toFixed(1)} ms, RSS +${(r.rssGrowth / MiB).toFixed(1)} MiB, ${r.pongs} PONGs`,
    );
    expect(r.maxRtt).toBeLessThan(250);
    expect(r.rssGrowth).toBeLessThan(150 * MiB);
    expect(await metricValue('gateway_api_rejected_total', 'reason="pipelined"')).toBeGreaterThan(0);
  });

  it('the same on the API port without the token (401, then the connection closes)', async () => {
    const r = await flood(apiPort, '', 5_000);
    console.log(
      `API flood, no token: max PING RTT ${r.maxRtt.toFixed(1)} ms, RSS +${(r.rssGrowth / MiB).toFixed(1)} MiB, ${r.pongs} PONGs`,
    );
    expect(r.maxRtt).toBeLessThan(250);
    expect(r.rssGrowth).toBeLessThan(150 * MiB);
  });

  it('a few pipelined requests are answered, in order, one at a time', async () => {
    const s = await open(apiPort);
    let text = '';
    s.on('data', (d) => {
      text += d.toString();
    });
    const req = (path: string) =>
      `GET ${path} HTTP/1.1\r\nhost: gw\r\n${'authorization: Bearer '}${TOKEN}\r\n\r\n`;
    s.write(req('/healthz') + req('/v1/stats') + req('/readyz'));
    await waitFor(() => (text.match(/HTTP\/1\.1 200/g) ?? []).length === 3);
    expect(text.indexOf('"ok"')).toBeLessThan(text.indexOf('"sessions"'));
    expect(text.indexOf('"sessions"')).toBeLessThan(text.indexOf('"ready"'));
    s.destroy();
  });
});

/**
 * Sends one oversized call at full speed over a raw socket and answers the status line
 * the client read, how much it wrote, and how long it took. The client reads its answer
 * only once its whole body is written (to its kernel), as clients that send, then read;
 * a reset while it is still writing fails the write and loses the unread answer.
 */
function oversized(
  kind: 'json' | 'binary' | 'chunked',
  size: number,
  auth = true,
  pace: { chunk: number; everyMs: number } | null = null,
  port = apiPort,
): Promise<{ status: string; written: number; ms: number }> {
  return new Promise((resolve) => {
    const t0 = Date.now();
    // Goes on sending after the server's FIN, as an uploader that does not watch for it.
    const s = connect({ port, host: '127.0.0.1', allowHalfOpen: true });
    let written = 0;
    let response = '';
    let done = false;
    const authLine = auth ? `authorization: Bearer ${TOKEN}\r\n` : '';
    const path = kind === 'json' ? '/v1/push' : '/v1/push?players=nobody&cmd=1';
    const type = kind === 'json' ? 'application/json' : 'application/octet-stream';
    const framing = kind === 'chunked' ? 'transfer-encoding: chunked\r\n' : `content-length: ${size}\r\n`;
    const chunkSize = pace?.chunk ?? 64 * 1024;
    const payload = Buffer.alloc(chunkSize, kind === 'json' ? 0x20 : 0x41);
    const piece =
      kind === 'chunked'
        ? Buffer.concat([Buffer.from(`${chunkSize.toString(16)}\r\n`), payload, Buffer.from('\r\n')])
        : payload;
    const pump = (): void => {
      while (!done && written < size) {
        written += chunkSize;
        const ok = s.write(piece);
        if (pace !== null) {
          setTimeout(pump, pace.everyMs);
          return;
        }
        if (!ok) return;
      }
      if (!done && kind === 'chunked') s.write('0\r\n\r\n');
      if (!done && written >= size) s.resume();
    };
    // A fast sender reads once it is done writing; a slow one reads as it goes.
    if (pace === null) s.pause();
    s.on('connect', () => {
      s.write(`POST ${path} HTTP/1.1\r\nhost: gw\r\n${authLine}content-type: ${type}\r\n${framing}\r\n`);
      if (kind === 'json') {
        s.write('{"players":["nobody"],"cmd":1,"data":"');
        written += 40;
      }
      pump();
    });
    s.on('drain', () => {
      if (pace === null) pump();
    });
    s.on('data', (d) => {
      response += d.toString('latin1');
    });
    s.on('error', () => {});
    // The server's FIN: the answer is complete; stop as a client that saw it would.
    s.on('end', () => s.destroy());
    s.on('close', () => {
      done = true;
      resolve({ status: response.split('\r\n')[0], written, ms: Date.now() - t0 });
    });
  });
}

describe('lingering close after a refusal (issue 12 item 1, issue 11 item 6)', () => {
  it('40 oversized calls (2–3 MiB; JSON, binary, chunked) at full speed all read their 413', async () => {
    const kinds = ['json', 'binary', 'chunked'] as const;
    const calls = Array.from({ length: 40 }, (_, i) =>
      oversized(kinds[i % 3], 2 * MiB + ((i * 97_531) % MiB)),
    );
    const results = await Promise.all(calls);
    const statuses = results.map((r) => r.status);
    expect(statuses.filter((s) => s.startsWith('HTTP/1.1 413')).length, JSON.stringify(statuses)).toBe(40);
    expect(
      await metricValue('gateway_api_rejected_total', 'reason="payload_too_large"'),
    ).toBeGreaterThanOrEqual(40);
  });

  it('bodies larger than the kernel buffers (6–7 MiB) read their 413 too, with api.lingerBytes 16 MiB', async () => {
    // Loopback buffers here swallow 3 MiB before the gateway's reset arrives, so the 2–3 MiB
    // case passes even when the socket is destroyed at once; a body the buffers cannot hold
    // shows the difference: without lingering every such client loses its 413.
    const g = await startGateway(null, { api: { token: TOKEN, lingerBytes: 16 * MiB } }, 'silent');
    try {
      const port = Number(new URL(g.apiUrl).port);
      const kinds = ['json', 'binary', 'chunked'] as const;
      const results = await Promise.all(
        Array.from({ length: 12 }, (_, i) => oversized(kinds[i % 3], 6 * MiB + i * 65_536, true, null, port)),
      );
      expect(results.map((r) => r.status.slice(0, 12))).toEqual(Array(12).fill('HTTP/1.1 413'));
    } finally {
      await g.gateway.stop();
    }
  });

  it('unauthenticated oversized uploads read their 401', async () => {
    const results = await Promise.all(
      Array.from({ length: 12 }, (_, i) => oversized(i % 2 ? 'binary' : 'chunked', 3 * MiB, false)),
    );
    expect(results.map((r) => r.status)).toEqual(Array(12).fill('HTTP/1.1 401 Unauthorized'));
  });

  it('a slow 50 MiB upload is cut off early: bounded time and bytes', async () => {
    const r = await oversized('chunked', 50 * MiB, true, { chunk: 64 * 1024, everyMs: 10 });
    expect(r.status).toMatch(/^HTTP\/1\.1 413/);
    // maxBodyBytes (1 MiB) + lingerBytes (2 MiB) + what the kernels buffer; lingerMs 2 s.
    expect(r.written).toBeLessThan(8 * MiB);
    expect(r.ms).toBeLessThan(5_000);
  });

  it('an unauthenticated body trickled at 1 byte / 200 ms gets its 401 and is closed within lingerMs', async () => {
    const r = await trickledBody('', true);
    expect(r.text).toMatch(/^HTTP\/1\.1 401/);
    // lingerMs is 2 s by default: closed by the gateway then (before: kept open past 330 s).
    expect(r.ms).toBeGreaterThan(1_500);
    expect(r.ms).toBeLessThan(4_000);
  });
});

describe('slow clients and the connection cap (issue 11 item 6)', () => {
  it('trickled headers are closed after api.headersTimeoutMs', async () => {
    const s = await open(apiPort);
    s.on('error', () => {});
    const t0 = Date.now();
    s.write('GET /healthz HTTP/1.1\r\nhost: gw\r\n');
    const trickle = setInterval(() => s.writable && s.write('x-slow: 1\r\n'), 300);
    await new Promise((resolve) => s.once('close', resolve));
    clearInterval(trickle);
    // headersTimeoutMs is 1 s here, checked every 0.5 s.
    expect(Date.now() - t0).toBeLessThan(3_000);
  });

  it('an authenticated body trickled at 1 byte / 200 ms gets 408 after api.requestTimeoutMs', async () => {
    const r = await trickledBody(`authorization: Bearer ${TOKEN}\r\n`);
    expect(r.text).toMatch(/^HTTP\/1\.1 408/);
    // requestTimeoutMs is 3 s here, checked every 0.5 s: a valid token buys no more time.
    expect(r.ms).toBeGreaterThan(2_500);
    expect(r.ms).toBeLessThan(5_000);
  });

  it('api.maxConnections caps API connections; game clients still get their HELLO', async () => {
    const before = await metricValue('gateway_api_rejected_total', 'reason="max_connections"');
    const held = await Promise.all(Array.from({ length: 80 }, () => open(apiPort)));
    for (const s of held) s.on('error', () => {});
    await waitFor(() => held.filter((s) => s.destroyed || s.readableEnded).length >= 16);
    const player = await RawClient.connect(gw.tcpPort);
    expect(player.hello.node).toBe('test-node');
    player.close();
    for (const s of held) s.destroy();
    await waitFor(async () => (await api(gw, 'GET', '/healthz')).status === 200);
    expect(
      await metricValue('gateway_api_rejected_total', 'reason="max_connections"'),
    ).toBeGreaterThanOrEqual(before + 16);
  });
});

describe('API odds (issue 11 item 9)', () => {
  it('the token is checked before 404 and 405: routes cannot be listed without it', async () => {
    expect((await api(gw, 'GET', '/v1/nope')).status).toBe(401);
    expect((await api(gw, 'GET', '/v1/push')).status).toBe(401);
    expect((await api(gw, 'DELETE', '/v1/players/x')).status).toBe(401);
    expect((await api(gw, 'GET', '/v1/nope', undefined, AUTH)).status).toBe(404);
    expect((await api(gw, 'GET', '/v1/push', undefined, AUTH)).status).toBe(405);
  });

  it('a malformed request target is 400 JSON, and nothing is logged as an error', async () => {
    const before = errorLogs().length;
    for (const target of ['http://[/x', '*', 'http://']) {
      const r = await exchange(
        apiPort,
        `GET ${target} HTTP/1.1\r\nhost: gw\r\n${'authorization: Bearer '}${TOKEN}\r\n\r\n`,
        1_000,
      );
      expect(r.text, target).toMatch(/^HTTP\/1\.1 400/);
      expect(r.text).toContain('"error":"invalid_request"');
      r.socket.destroy();
    }
    expect(errorLogs().length).toBe(before);
  });

  it('a client aborting mid-body is logged at debug level, not as an error', async () => {
    const before = errorLogs().length;
    const s = await open(apiPort);
    s.on('error', () => {});
    s.write(
      `POST /v1/push HTTP/1.1\r\nhost: gw\r\nauthorization: Bearer ${TOKEN}\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n{"players":`,
    );
    await sleep(100);
    s.destroy();
    await waitFor(() => gw.logs.lines.some((l) => l.msg === 'api client aborted'));
    expect(gw.logs.lines.find((l) => l.msg === 'api client aborted')!.level).toBe(20);
    expect(errorLogs().length).toBe(before);
  });

  it('HEAD is answered wherever GET is', async () => {
    for (const path of ['/healthz', '/readyz', '/metrics', '/v1/stats']) {
      const r = await fetch(`${gw.apiUrl}${path}`, { method: 'HEAD', headers: AUTH });
      expect(r.status, path).toBe(200);
      expect(await r.text()).toBe('');
    }
    expect((await fetch(`http://127.0.0.1:${metricsPort}/metrics`, { method: 'HEAD' })).status).toBe(200);
    expect((await api(gw, 'POST', '/healthz', undefined, AUTH)).headers.get('allow')).toBe('GET, HEAD');
  });

  it('the bearer scheme is case-insensitive', async () => {
    for (const scheme of ['bearer', 'BEARER', 'Bearer', 'bEaReR']) {
      expect(
        (await api(gw, 'GET', '/v1/stats', undefined, { authorization: `${scheme} ${TOKEN}` })).status,
      ).toBe(200);
    }
    expect(
      (await api(gw, 'GET', '/v1/stats', undefined, { authorization: `Bearer  ${TOKEN}x` })).status,
    ).toBe(401);
  });
});

describe('player ids: one rule for JSON and octet-stream pushes (src/players/names.ts)', () => {
  const octet = { ...AUTH, 'content-type': 'application/octet-stream' };
  it.each([
    ['a 257-character id', 'p'.repeat(257)],
    ['a control character', 'a\u0001b'],
    ['a leading space', ' alice'],
    ['a trailing tab', 'alice\t'],
  ])('%s is refused by both forms', async (_name, id) => {
    const json = await api(gw, 'POST', '/v1/push', { players: [id], cmd: 1, data: b64('x') }, AUTH);
    expect(json.status).toBe(400);
    const binary = await api(
      gw,
      'POST',
      `/v1/push?players=${encodeURIComponent(id)}&cmd=1`,
      Buffer.from('x'),
      octet,
    );
    expect(binary.status).toBe(400);
    expect(binary.body.error).toBe('invalid_request');
  });

  it('UTF-8 ids and inner spaces are fine in both forms', async () => {
    const id = '玩家 1';
    const json = await api(gw, 'POST', '/v1/push', { players: [id], cmd: 1 }, AUTH);
    expect(json.body).toMatchObject({ dropped: 1 });
    const binary = await api(
      gw,
      'POST',
      `/v1/push?players=${encodeURIComponent(id)}&cmd=1`,
      Buffer.from('x'),
      octet,
    );
    expect(binary.body).toMatchObject({ dropped: 1 });
  });
});

describe('api.tokens (issue 12 item 3)', () => {
  it('every listed token is accepted; setTokens replaces them; refusals are counted', async () => {
    const g = await startGateway(null, { api: { token: 'one', tokens: ['two', 'three'] } }, 'silent');
    try {
      for (const t of ['one', 'two', 'three']) {
        expect((await api(g, 'GET', '/v1/stats', undefined, { authorization: `Bearer ${t}` })).status).toBe(
          200,
        );
      }
      g.gateway.api.setTokens(['four']);
      expect((await api(g, 'GET', '/v1/stats', undefined, { authorization: 'Bearer one' })).status).toBe(401);
      expect((await api(g, 'GET', '/v1/stats', undefined, { authorization: 'Bearer four' })).status).toBe(
        200,
      );
      const text = (await api(g, 'GET', '/metrics', undefined, { authorization: 'Bearer four' }))
        .body as string;
      expect(text).toContain('gateway_api_rejected_total{reason="unauthorized"} 1');
    } finally {
      await g.gateway.stop();
    }
  });
});

describe('SIGHUP reloads api.tokens in a real process (issue 12 item 3)', () => {
  it('a new token list applies on kill -HUP; a bad file keeps the old one', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gw-hup-'));
    const path = join(dir, 'gateway.yaml');
    const write = (tokens: string) =>
      writeFileSync(path, `listen: { tcp: "127.0.0.1:0", api: "127.0.0.1:0" }\napi: { tokens: ${tokens} }\n`);
    write('[old-token]');
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', '--config', path], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const logs: Array<Record<string, unknown>> = [];
    createInterface({ input: child.stdout! }).on('line', (line) => {
      if (line.startsWith('{')) logs.push(JSON.parse(line));
    });
    try {
      await waitFor(() => logs.some((l) => l.msg === 'gateway listening'), 15_000);
      const url = `http://${logs.find((l) => l.msg === 'gateway listening')!.api}/v1/stats`;
      const status = async (token: string) =>
        (await fetch(url, { headers: { authorization: `Bearer ${token}` } })).status;
      expect(await status('old-token')).toBe(200);
      expect(await status('new-token')).toBe(401);

      // Rotation: both for a while, then only the new one.
      write('[old-token, new-token]');
      child.kill('SIGHUP');
      await waitFor(() => logs.filter((l) => l.msg === 'api tokens reloaded').length === 1);
      expect([await status('old-token'), await status('new-token')]).toEqual([200, 200]);
      write('[new-token]');
      child.kill('SIGHUP');
      await waitFor(() => logs.filter((l) => l.msg === 'api tokens reloaded').length === 2);
      expect([await status('old-token'), await status('new-token')]).toEqual([401, 200]);

      // A file that does not validate keeps the tokens in use, and says why.
      writeFileSync(path, 'api: { tokens: [x], bogus: 1 }\n');
      child.kill('SIGHUP');
      await waitFor(() => logs.some((l) => l.msg === 'api tokens not reloaded; the old ones stay'));
      expect(String(logs.find((l) => l.msg === 'api tokens not reloaded; the old ones stay')!.err)).toMatch(
        /api\.bogus: unknown key/,
      );
      expect(await status('new-token')).toBe(200);
      expect(child.exitCode).toBeNull();
    } finally {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    }
  }, 30_000);
});
