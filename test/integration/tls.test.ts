// TLS on the listeners (issue 12 item 2, docs/tls.md): TLS over TCP, wss, the API over
// https, client certificates, the version floor, the handshake timeout and its metric,
// config errors, SIGHUP reload in a real process, the SDK and the load tool. The
// certificates are made for the run by test/support/tls.ts (openssl); none is committed.

import { type ChildProcess, spawn } from 'node:child_process';
import { copyFileSync, writeFileSync } from 'node:fs';
import { connect as netConnect } from 'node:net';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { createServer as createTlsServer, connect as tlsConnect } from 'node:tls';
import { fileURLToPath } from 'node:url';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { type GatewayClient, type Push, connect as sdkConnect } from '../../src/client/index.js';
import { ConfigError } from '../../src/config/load.js';
import type { GatewayConfigInput } from '../../src/config/schema.js';
import { Gateway } from '../../src/gateway.js';
import { FrameType } from '../../src/protocol/frame.js';
import { FrameDecoder } from '../../src/protocol/frame-decoder.js';
import { Cmd } from '../support/cmds.js';
import { type Running, startGateway } from '../support/gateway-fixture.js';
import { startBackend, stopChild, type TestBackend } from '../support/processes.js';
import { RawPeer } from '../support/raw-peer.js';
import { type Issued, RawTlsClient, TestPki } from '../support/tls.js';
import { waitFor } from '../support/wait.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
let pki: TestPki;
let server1: Issued;
let server2: Issued;
let caPem: string;
let backend: TestBackend;

beforeAll(async () => {
  pki = new TestPki();
  server1 = pki.server('server-one');
  server2 = pki.server('server-two');
  caPem = pki.read(pki.ca.cert);
  backend = await startBackend();
});
afterAll(async () => {
  await backend?.stop();
});

/** A bare wss client with RawClient's interface (one binary message per frame). */
class RawWssClient extends RawPeer {
  private constructor(readonly ws: WebSocket) {
    super();
    ws.on('message', (data: Buffer) => {
      new FrameDecoder(64 * 1024 * 1024, (type, status, cmd, seq, body) =>
        this.deliver({ type, flags: 0, status, cmd, seq, body: Buffer.from(body) }),
      ).push(data);
    });
    ws.on('close', () => this.closedNow());
  }

  static async connect(url: string, options: WebSocket.ClientOptions): Promise<RawWssClient> {
    const ws = new WebSocket(url, { perMessageDeflate: false, ...options });
    const client = new RawWssClient(ws);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
    });
    ws.on('error', () => {});
    await client.readHello();
    return client;
  }

  writeRaw(bytes: Buffer): void {
    this.ws.send(bytes, { binary: true });
  }

  close(): void {
    this.ws.terminate();
  }
}

function tlsConfig(extra: Record<string, unknown> = {}): GatewayConfigInput['listen'] {
  return {
    tcp: '127.0.0.1:0',
    ws: '127.0.0.1:0',
    api: '127.0.0.1:0',
    tls: { cert: server1.cert, key: server1.key, ...extra },
  } as GatewayConfigInput['listen'];
}

const port = (address: string | null): number => Number(address!.split(':').pop());

/** An undici dispatcher that trusts the test CA (and presents `client`, if given). */
function agent(client?: Issued): Agent {
  return new Agent({
    connect: {
      ca: caPem,
      ...(client === undefined ? {} : { cert: pki.read(client.cert), key: pki.read(client.key) }),
    },
  });
}

async function push(apiUrl: string, player: string, data: string, dispatcher: Agent): Promise<unknown> {
  const res = await request(`${apiUrl}/v1/push`, {
    method: 'POST',
    dispatcher,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ players: [player], cmd: 7, data: Buffer.from(data).toString('base64') }),
  });
  expect(res.statusCode).toBe(200);
  return res.body.json();
}

describe('TLS on every listener', () => {
  let gw: Running;
  let apiUrl: string;
  const dispatcher = () => agent();

  beforeAll(async () => {
    const listen = { ...tlsConfig({ handshakeTimeoutMs: 400 }), metrics: '127.0.0.1:0' };
    gw = await startGateway(backend.url, { listen }, 'silent');
    apiUrl = `https://${gw.gateway.addresses!.api}`;
  });
  afterAll(async () => {
    await gw?.gateway.stop();
  });

  it('TLS over TCP: a client logs in, gets a RESPONSE, and a PUSH sent through the API over https', async () => {
    const c = await RawTlsClient.connect(gw.tcpPort, { ca: caPem });
    expect(c.peerName).toBe('server-one');
    expect(c.socket.getProtocol()).toMatch(/^TLSv1\.[23]$/);
    expect((await c.login('tls-alice')).status).toBe(0);
    const echo = await c.request(Cmd.ECHO, 'over tls');
    expect([echo.status, echo.body.toString()]).toEqual([0, 'over tls']);
    expect(await push(apiUrl, 'tls-alice', 'pushed over tls', dispatcher())).toMatchObject({ delivered: 1 });
    const p = await c.nextOfType(FrameType.PUSH);
    expect([p.cmd, p.seq, p.body.toString()]).toEqual([7, 1, 'pushed over tls']);
    c.close();
  });

  it('wss: a client logs in, gets a RESPONSE and a PUSH', async () => {
    const url = `wss://127.0.0.1:${port(gw.gateway.addresses!.ws)}/`;
    const c = await RawWssClient.connect(url, { ca: caPem });
    expect((await c.login('wss-bob')).status).toBe(0);
    const echo = await c.request(Cmd.ECHO, 'over wss');
    expect(echo.body.toString()).toBe('over wss');
    expect(await push(apiUrl, 'wss-bob', 'to wss', dispatcher())).toMatchObject({ delivered: 1 });
    expect((await c.nextOfType(FrameType.PUSH)).body.toString()).toBe('to wss');
    c.close();
  });

  it('the API and listen.metrics answer over https with the CA; /metrics has the handshake errors', async () => {
    const res = await request(`${apiUrl}/healthz`, { dispatcher: dispatcher() });
    expect(res.statusCode).toBe(200);
    await res.body.dump();
    // Without the CA the certificate is not trusted.
    await expect(request(`${apiUrl}/healthz`)).rejects.toThrow(/self.signed|unable to (get|verify)/i);
    for (const at of [apiUrl, `https://${gw.gateway.addresses!.metrics}`]) {
      const metrics = await request(`${at}/metrics`, { dispatcher: dispatcher() });
      expect(metrics.statusCode).toBe(200);
      expect(await metrics.body.text()).toMatch(/^# TYPE gateway_tls_handshake_errors_total counter$/m);
    }
  });

  it('a plain-text client on a TLS port gets no HELLO and is counted as a handshake error', async () => {
    const before = gw.gateway.metrics.tlsHandshakeErrors.total({ reason: 'error' });
    const socket = netConnect({ host: '127.0.0.1', port: gw.tcpPort });
    const received: Buffer[] = [];
    socket.on('data', (d) => received.push(d));
    socket.on('error', () => {});
    // A frame where a ClientHello should be.
    socket.write(Buffer.from([0, 0, 0, 12, 6, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]));
    await new Promise((resolve) => socket.once('close', resolve));
    // Whatever came back is a TLS alert (content type 21), never a frame.
    for (const chunk of received) expect(chunk[0]).toBe(21);
    await waitFor(() => gw.gateway.metrics.tlsHandshakeErrors.total({ reason: 'error' }) === before + 1);
  });

  it('refuses TLS 1.1 (a client a TLS 1.0+ server accepts)', async () => {
    // The same client options against a server that allows old versions: the client can speak 1.1.
    const old = { maxVersion: 'TLSv1.1', minVersion: 'TLSv1', ciphers: 'DEFAULT@SECLEVEL=0' } as const;
    const lenient = createTlsServer({
      cert: pki.read(server1.cert),
      key: pki.read(server1.key),
      minVersion: 'TLSv1',
      ciphers: 'DEFAULT@SECLEVEL=0',
    });
    await new Promise<void>((resolve) => lenient.listen(0, '127.0.0.1', resolve));
    const lenientPort = (lenient.address() as { port: number }).port;
    const accepted = tlsConnect({ host: '127.0.0.1', port: lenientPort, ca: caPem, ...old });
    await new Promise<void>((resolve, reject) => {
      accepted.once('secureConnect', resolve);
      accepted.once('error', reject);
    });
    expect(accepted.getProtocol()).toBe('TLSv1.1');
    accepted.destroy();
    lenient.close();

    const before = gw.gateway.metrics.tlsHandshakeErrors.total({ reason: 'error' });
    await expect(RawTlsClient.connect(gw.tcpPort, { ca: caPem, ...old })).rejects.toThrow(
      /protocol version|unsupported protocol/i,
    );
    await waitFor(() => gw.gateway.metrics.tlsHandshakeErrors.total({ reason: 'error' }) === before + 1);
  });

  it('closes a connection that never starts its handshake after handshakeTimeoutMs, and counts it', async () => {
    const before = gw.gateway.metrics.tlsHandshakeErrors.total({ reason: 'timeout' });
    const { ws, api, metrics } = gw.gateway.addresses!;
    for (const p of [gw.tcpPort, port(ws), port(api), port(metrics)]) {
      const socket = netConnect({ host: '127.0.0.1', port: p });
      socket.on('error', () => {});
      let bytes = 0;
      socket.on('data', (d) => (bytes += d.length));
      // Never sends a byte: only the gateway's timeout can close it.
      await new Promise((resolve) => socket.once('close', resolve));
      expect(bytes).toBe(0);
    }
    expect(gw.gateway.metrics.tlsHandshakeErrors.total({ reason: 'timeout' })).toBe(before + 4);
  });

  it('the timeout counts from the connection, not from the last byte: a trickled ClientHello is closed too', async () => {
    const before = gw.gateway.metrics.tlsHandshakeErrors.total({ reason: 'timeout' });
    // A ClientHello record header announcing 512 bytes, then the bytes one at a time every 50 ms.
    const hello = Buffer.concat([Buffer.from([22, 3, 1, 2, 0, 1, 0, 1, 252, 3, 3]), Buffer.alloc(501, 1)]);
    const socket = netConnect({ host: '127.0.0.1', port: gw.tcpPort });
    socket.on('error', () => {});
    let sent = 0;
    const trickle = setInterval(() => socket.write(hello.subarray(sent, ++sent)), 50);
    await new Promise((resolve) => socket.once('close', resolve));
    clearInterval(trickle);
    // Closed while the ClientHello was still incomplete (a byte per 50 ms for 400 ms).
    expect(sent).toBeLessThan(hello.length);
    expect(gw.gateway.metrics.tlsHandshakeErrors.total({ reason: 'timeout' })).toBe(before + 1);
  });
});

describe('client certificates (listen.tls.ca)', () => {
  let gw: Running;
  let alice: Issued;
  let stranger: Issued;

  beforeAll(async () => {
    alice = pki.client('client-alice');
    stranger = pki.client('client-stranger', pki.otherCa);
    gw = await startGateway(backend.url, { listen: tlsConfig({ ca: pki.ca.cert }) }, 'silent');
  });
  afterAll(async () => {
    await gw?.gateway.stop();
  });

  const withCert = (c: Issued) => ({ ca: caPem, cert: pki.read(c.cert), key: pki.read(c.key) });

  it('accepts a client whose certificate the CA signed, on TCP and on the API', async () => {
    const c = await RawTlsClient.connect(gw.tcpPort, withCert(alice));
    expect((await c.login('cert-alice')).status).toBe(0);
    c.close();
    const res = await request(`https://${gw.gateway.addresses!.api}/healthz`, { dispatcher: agent(alice) });
    expect(res.statusCode).toBe(200);
    await res.body.dump();
  });

  it.each(['tls', 'wss'] as const)('the SDK presents cert and key over %s://', async (scheme) => {
    const { tcp, ws } = gw.gateway.addresses!;
    const at = scheme === 'tls' ? `tls://${tcp}` : `wss://${ws}/`;
    const client = await sdkConnect(at, withCert(alice));
    expect((await client.request(Cmd.ECHO, 'with a cert')).text()).toBe('with a cert');
    await client.close();
    await expect(sdkConnect(at, { ca: caPem })).rejects.toThrow(/certificate|socket hang up|closed/i);
  });

  it('refuses a client without a certificate, and one signed by another CA', async () => {
    const before = gw.gateway.metrics.tlsHandshakeErrors.total({ reason: 'error' });
    await expect(RawTlsClient.connect(gw.tcpPort, { ca: caPem })).rejects.toThrow(/certificate/i);
    await expect(RawTlsClient.connect(gw.tcpPort, withCert(stranger))).rejects.toThrow(
      // Node judges the chain after the handshake and closes without an alert.
      /closed before HELLO|ECONNRESET/,
    );
    const url = `wss://127.0.0.1:${port(gw.gateway.addresses!.ws)}/`;
    await expect(RawWssClient.connect(url, { ca: caPem })).rejects.toThrow(/certificate|socket hang up/i);
    await expect(
      request(`https://${gw.gateway.addresses!.api}/healthz`, { dispatcher: agent() }),
    ).rejects.toThrow();
    await waitFor(() => gw.gateway.metrics.tlsHandshakeErrors.total({ reason: 'error' }) >= before + 4);
  });
});

describe('listen.tls.plain', () => {
  it('keeps the named listeners plain: the API over http while TCP is TLS', async () => {
    const gw = await startGateway(backend.url, { listen: tlsConfig({ plain: ['api'] }) }, 'silent');
    try {
      const res = await fetch(`http://${gw.gateway.addresses!.api}/healthz`);
      expect(res.status).toBe(200);
      const c = await RawTlsClient.connect(gw.tcpPort, { ca: caPem });
      expect((await c.request(Cmd.ECHO, 'x')).body.toString()).toBe('x');
      c.close();
    } finally {
      await gw.gateway.stop();
    }
  });
});

describe('TLS config errors name the key', () => {
  const make = (tls: Record<string, unknown>) => () =>
    new Gateway({
      config: { listen: { tcp: '127.0.0.1:0', api: '127.0.0.1:0', tls } } as GatewayConfigInput,
    });

  it.each([
    [
      'a missing cert file',
      () => ({ cert: join(pki.dir, 'nope.pem'), key: server1.key }),
      /^listen\.tls\.cert: cannot read/,
    ],
    [
      'a cert that is not PEM',
      () => ({ cert: server1.key, key: server1.key }),
      /^listen\.tls\.cert: .* is not PEM/,
    ],
    [
      'a key that is not PEM',
      () => ({ cert: server1.cert, key: server1.cert }),
      /^listen\.tls\.key: .* is not PEM/,
    ],
    [
      'a key of another certificate',
      () => ({ cert: server1.cert, key: server2.key }),
      /^listen\.tls\.key: .* is not the key of/,
    ],
    [
      'a ca that is not PEM',
      () => ({ cert: server1.cert, key: server1.key, ca: server1.key }),
      /^listen\.tls\.ca: /,
    ],
  ])('%s', (_name, tls, message) => {
    expect(make(tls())).toThrow(ConfigError);
    expect(make(tls())).toThrow(message);
  });

  it('a key without a cert is a schema error naming listen.tls.cert', () => {
    expect(make({ key: server1.key })).toThrow(/listen\.tls\.cert/);
    expect(make({ cert: server1.cert, key: server1.key, plain: ['udp'] })).toThrow(/listen\.tls\.plain\.0/);
  });

  it('the command line exits 2 with the message, for a start and for check-config', async () => {
    const file = join(pki.dir, 'bad-tls.yaml');
    const bad = join(pki.dir, 'garbage.pem');
    writeFileSync(bad, 'not a certificate\n');
    writeFileSync(
      file,
      JSON.stringify({
        listen: { tcp: '127.0.0.1:0', api: '127.0.0.1:0', tls: { cert: bad, key: server1.key } },
      }),
    );
    for (const args of [
      ['--config', file],
      ['check-config', file],
    ]) {
      const r = await runCli(args);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/^game-gateway: listen\.tls\.cert: .*garbage\.pem is not PEM/m);
      expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
    }
  });
});

function runCli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', ...args], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  return new Promise((resolve) => child.on('exit', (code) => resolve({ code, stdout, stderr })));
}

describe('SIGHUP reloads the certificates (real process)', () => {
  let child: ChildProcess;
  const logs: Array<Record<string, unknown>> = [];
  let tcpPort: number;
  let wsPort: number;
  let apiUrl: string;
  const live = () => ({ cert: join(pki.dir, 'live.pem'), key: join(pki.dir, 'live.key') });

  beforeAll(async () => {
    copyFileSync(server1.cert, live().cert);
    copyFileSync(server1.key, live().key);
    const file = join(pki.dir, 'reload.yaml');
    writeFileSync(
      file,
      JSON.stringify({
        node: { id: 'tls-reload' },
        listen: { tcp: '127.0.0.1:0', ws: '127.0.0.1:0', api: '127.0.0.1:0', tls: live() },
        targets: { game: { url: `${backend.url}/rpc/{cmd}` } },
        routes: [{ cmds: '1-999999', target: 'game' }],
        auth: { anonymousCmds: [Cmd.LOGIN] },
      }),
    );
    child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', '--config', file], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const listening = await new Promise<Record<string, string>>((resolve, reject) => {
      createInterface({ input: child.stdout! }).on('line', (line) => {
        const entry = JSON.parse(line) as Record<string, unknown>;
        logs.push(entry);
        if (entry.msg === 'gateway listening') resolve(entry as Record<string, string>);
      });
      child.once('exit', (code) => reject(new Error(`gateway exited with ${code}`)));
    });
    tcpPort = port(listening.tcp);
    wsPort = port(listening.ws);
    apiUrl = `https://${listening.api}`;
  });
  afterAll(async () => {
    if (child) await stopChild(child);
  });

  const reloads = () => logs.filter((l) => String(l.msg).startsWith('tls certificates')).map((l) => l.msg);

  it('an open session stays connected; a new connection gets the new certificate', async () => {
    const before = await RawTlsClient.connect(tcpPort, { ca: caPem });
    expect(before.peerName).toBe('server-one');
    expect((await before.login('hup-carol')).status).toBe(0);

    copyFileSync(server2.cert, live().cert);
    copyFileSync(server2.key, live().key);
    child.kill('SIGHUP');
    await waitFor(() => reloads().length === 1, 5_000, 'the reload log line');
    expect(reloads()).toEqual(['tls certificates reloaded']);

    const after = await RawTlsClient.connect(tcpPort, { ca: caPem });
    expect(after.peerName).toBe('server-two');
    // The wss and API listeners took it too.
    for (const p of [wsPort, port(apiUrl)]) {
      const socket = tlsConnect({ host: '127.0.0.1', port: p, ca: caPem });
      await new Promise((resolve, reject) => {
        socket.once('secureConnect', resolve);
        socket.once('error', reject);
      });
      expect(socket.getPeerCertificate().subject.CN).toBe('server-two');
      socket.destroy();
    }

    // The session opened before the reload still works both ways.
    expect(before.closed).toBe(false);
    expect((await before.request(Cmd.ECHO, 'still here')).body.toString()).toBe('still here');
    expect(await push(apiUrl, 'hup-carol', 'after reload', agent())).toMatchObject({ delivered: 1 });
    expect((await before.nextOfType(FrameType.PUSH)).body.toString()).toBe('after reload');
    before.close();
    after.close();
  });

  it('a bad file keeps the old certificate and logs why', async () => {
    writeFileSync(live().cert, 'garbage\n');
    child.kill('SIGHUP');
    await waitFor(() => reloads().length === 2, 5_000, 'the second reload log line');
    const line = logs.find((l) => l.msg === 'tls certificates not reloaded; the old ones stay');
    expect(String(line?.err)).toMatch(/^listen\.tls\.cert: .*live\.pem is not PEM/);
    const c = await RawTlsClient.connect(tcpPort, { ca: caPem });
    expect(c.peerName).toBe('server-two');
    c.close();
  });
});

describe('the client SDK and the load tool over TLS', () => {
  let gw: Running;
  const clients: GatewayClient[] = [];

  beforeAll(async () => {
    gw = await startGateway(backend.url, { listen: tlsConfig() }, 'silent');
  });
  afterAll(async () => {
    for (const c of clients) await c.close();
    await gw?.gateway.stop();
  });

  it.each(['tls', 'wss'] as const)(
    'the SDK connects with %s:// and a ca, logs in, gets a RESPONSE and a PUSH',
    async (scheme) => {
      const at =
        scheme === 'tls'
          ? `tls://127.0.0.1:${gw.tcpPort}`
          : `wss://127.0.0.1:${port(gw.gateway.addresses!.ws)}/`;
      const client = await sdkConnect(at, { ca: caPem });
      clients.push(client);
      const player = `sdk-${scheme}`;
      expect((await client.request(Cmd.LOGIN, player)).ok).toBe(true);
      expect((await client.request(Cmd.ECHO, 'hi')).text()).toBe('hi');
      const pushed = new Promise<Push>((resolve) => client.once('push', resolve));
      await push(`https://${gw.gateway.addresses!.api}`, player, 'sdk push', agent());
      expect(new TextDecoder().decode((await pushed).body)).toBe('sdk push');
      // Without the CA the gateway's certificate is refused.
      await expect(sdkConnect(at, { reconnect: false })).rejects.toThrow(
        /self.signed|unable to (get|verify)/i,
      );
    },
  );

  it.each(['tls', 'wss'] as const)(
    'the load tool runs against %s:// with --ca, and names the certificate error without it',
    async (scheme) => {
      const caFile = pki.ca.cert;
      const url =
        scheme === 'tls'
          ? `tls://127.0.0.1:${gw.tcpPort}`
          : `wss://127.0.0.1:${port(gw.gateway.addresses!.ws)}/`;
      const args = [
        '-n',
        '2',
        '-d',
        '1',
        '--login-cmd',
        String(Cmd.LOGIN),
        '--mix',
        String(Cmd.ECHO),
        '--json',
        '-q',
      ];
      const ok = await runLoad(['--url', url, '--ca', caFile, ...args]);
      expect(ok.code).toBe(0);
      const summary = JSON.parse(ok.stdout) as { sessions: { connected: number }; requests: { ok: number } };
      expect(summary.sessions.connected).toBe(2);
      expect(summary.requests.ok).toBeGreaterThan(0);
      const refused = await runLoad(['--url', url, ...args]);
      expect(refused.code).toBe(1);
      expect(JSON.parse(refused.stdout).sessions.connectErrors).toEqual({
        UNABLE_TO_VERIFY_LEAF_SIGNATURE: 2,
      });
    },
  );
});

function runLoad(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/load/cli.ts', ...args], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  return new Promise((resolve) => child.on('exit', (code) => resolve({ code, stdout, stderr })));
}
