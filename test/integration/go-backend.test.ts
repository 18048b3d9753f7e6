/**
 * The Go SDK end to end: examples/go-backend (written with sdk/go) is built with `go
 * build` and run as the backend of a real gateway process, with real TCP clients. Every
 * push here leaves the Go backend through the SDK's Client and reaches the clients
 * through the gateway's API; every directive is set by the SDK's Reply.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  buildGoBackend,
  freePort,
  type GoBackend,
  goInstalled,
  startGoBackend,
} from '../../examples/go-backend/launch.js';
import { FrameType } from '../../src/protocol/frame.js';
import { Status } from '../../src/protocol/status.js';
import { EtcdServer } from '../support/etcd-server.js';
import { GatewayProcess } from '../support/gateway-process.js';
import { waitFor } from '../support/push-api.js';
import { json, RawClient } from '../support/raw-client.js';

const hasGo = goInstalled();
if (!hasGo && process.env.CI) {
  throw new Error("`go` is missing: .ci/run installs Debian's golang-go package");
}

const hasEtcd = existsSync(process.env.ETCD_SERVER ?? '/usr/bin/etcd');
if (!hasEtcd && process.env.CI) {
  throw new Error("etcd is missing: .ci/run installs Debian's etcd-server package");
}

const Cmd = {
  LOGIN: 1001,
  LOGOUT: 1002,
  MOVE: 2001,
  LOOK: 2002,
  SAY: 2003,
  ECHO: 2004,
  WHISPER: 2005,
  QUIT: 2006,
};
const Push = { MOVED: 5001, LEFT: 5002, SAID: 5003, WHISPERED: 5004 };

describe.skipIf(!hasGo)('the Go example backend behind a real gateway', () => {
  let dir: string;
  let gw: GatewayProcess;
  let backend: GoBackend;
  const clients: RawClient[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'go-backend-test-'));
    // The first build compiles the standard library packages it uses: allow for it.
    const binary = buildGoBackend(dir);
    const port = await freePort();
    const target = { url: `http://127.0.0.1:${port}/game/{cmd}`, timeoutMs: 5_000 };
    gw = await GatewayProcess.start({
      nodeId: 'gw-go',
      // The local engine: these fields feed only the Redis settings, which `extra` replaces.
      redisUrl: 'redis://unused',
      keyPrefix: '',
      backendUrl: `http://127.0.0.1:${port}`,
      extra: {
        cluster: { engine: 'local' },
        targets: { game: target },
        routes: [{ cmds: '1000-2999', target: 'game' }],
        auth: { required: true, anonymousCmds: [Cmd.LOGIN] },
        events: { target: 'game' },
      },
    });
    backend = await startGoBackend(binary, { port, gatewayApi: gw.apiUrl });
  }, 180_000);

  afterAll(async () => {
    for (const c of clients) c.close();
    await backend?.close();
    await gw?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  async function connect(): Promise<RawClient> {
    const c = await RawClient.connect(gw.tcpPort);
    clients.push(c);
    return c;
  }

  /** Connects and logs in through the Go backend's LOGIN; waits until its online event arrived. */
  async function login(name: string): Promise<RawClient> {
    const c = await connect();
    const r = await c.request(Cmd.LOGIN, name);
    expect(r.status).toBe(Status.OK);
    await waitFor(
      () => backend.lines.some((l) => l.endsWith(`event online ${name}`)),
      5_000,
      `online ${name}`,
    );
    return c;
  }

  it('login binds the session through Reply.Bind; before it, the gateway refuses game cmds', async () => {
    const c = await connect();
    expect((await c.request(Cmd.ECHO, 'hello?')).status).toBe(Status.NOT_AUTHENTICATED);
    const r = await c.request(Cmd.LOGIN, 'alice');
    expect(r.status).toBe(Status.OK);
    expect(json(r)).toEqual({ player: 'alice', position: { x: 0, y: 0 } });
    expect((await c.request(Cmd.ECHO, 'round trip')).body.toString()).toBe('round trip');
    const player = await gw.api('GET', '/v1/players/alice');
    expect(player.body).toMatchObject({ playerId: 'alice', online: true, sessionId: c.hello.sessionId });
  });

  it('a bad name is ErrUnauthorized: AUTH_FAILED, and the session stays unbound', async () => {
    const c = await connect();
    const r = await c.request(Cmd.LOGIN, 'not a name');
    expect(r.status).toBe(Status.AUTH_FAILED);
    expect(json(r)).toMatchObject({ error: 'AUTH_FAILED', httpStatus: 401 });
    expect((await c.request(Cmd.ECHO, 'x')).status).toBe(Status.NOT_AUTHENTICATED);
  });

  it('MOVE pushes through the SDK to the group joined by Reply.Join at login', async () => {
    const mover = await login('mover');
    const watcher = await login('watcher');
    const r = await mover.request(Cmd.MOVE, JSON.stringify({ x: 3, y: 4 }));
    expect(r.status).toBe(Status.OK);
    const seen = await watcher.next(
      (f) => f.type === FrameType.PUSH && f.cmd === Push.MOVED && json(f).player === 'mover',
    );
    expect(json(seen)).toEqual({ player: 'mover', x: 3, y: 4 });
    expect(seen.seq).toBeGreaterThan(0);
    const look = await watcher.request(Cmd.LOOK);
    expect(json(look).mover).toEqual({ x: 3, y: 4 });
  });

  it('SAY is a broadcast through the SDK', async () => {
    const speaker = await login('speaker');
    const listener = await login('listener');
    expect((await speaker.request(Cmd.SAY, 'hi everyone')).status).toBe(Status.OK);
    const heard = await listener.next(
      (f) => f.type === FrameType.PUSH && f.cmd === Push.SAID && json(f).player === 'speaker',
    );
    expect(json(heard)).toEqual({ player: 'speaker', text: 'hi everyone' });
  });

  it('WHISPER looks the player up and pushes to that one player; an unknown one is an application status', async () => {
    const from = await login('whisperer');
    const to = await login('confidant');
    const r = await from.request(Cmd.WHISPER, JSON.stringify({ to: 'confidant', text: 'psst' }));
    expect(json(r)).toEqual({ to: 'confidant', result: 'delivered' });
    const got = await to.next((f) => f.type === FrameType.PUSH && f.cmd === Push.WHISPERED);
    expect(json(got)).toEqual({ from: 'whisperer', text: 'psst' });
    const unknown = await from.request(Cmd.WHISPER, JSON.stringify({ to: 'nobody-here', text: '?' }));
    expect(unknown.status).toBe(1404);
    expect(unknown.body.toString()).toBe('no player nobody-here');
  });

  it('player ids are UTF-8 end to end: bind header, API path, push JSON', async () => {
    const from = await login('写信人');
    const to = await login('玩家一号');
    const player = await gw.api('GET', `/v1/players/${encodeURIComponent('玩家一号')}`);
    expect(player.body).toMatchObject({ playerId: '玩家一号', online: true, sessionId: to.hello.sessionId });
    const r = await from.request(Cmd.WHISPER, JSON.stringify({ to: '玩家一号', text: '你好' }));
    expect(json(r)).toEqual({ to: '玩家一号', result: 'delivered' });
    const got = await to.next((f) => f.type === FrameType.PUSH && f.cmd === Push.WHISPERED);
    expect(json(got)).toEqual({ from: '写信人', text: '你好' });
  });

  it('Reject and an unhandled cmd are BACKEND_REJECTED with their HTTP status', async () => {
    const c = await login('rejected');
    const bad = await c.request(Cmd.MOVE, 'north');
    expect(bad.status).toBe(Status.BACKEND_REJECTED);
    expect(json(bad)).toMatchObject({ error: 'BACKEND_REJECTED', httpStatus: 400 });
    const unknown = await c.request(2999);
    expect(unknown.status).toBe(Status.BACKEND_REJECTED);
    expect(json(unknown)).toMatchObject({ httpStatus: 404 });
  });

  it('QUIT answers, then Reply.Close has the gateway kick the session', async () => {
    const c = await login('quitter');
    const r = await c.request(Cmd.QUIT);
    expect(r.body.toString()).toBe('bye');
    const kick = await c.nextOfType(FrameType.KICK);
    expect(kick.status).toBe(Status.KICKED);
    expect(json(kick)).toMatchObject({ error: 'KICKED', message: 'quit' });
    await c.waitClosed();
  });

  it('LOGOUT is Reply.Unbind: the session stays, unbound', async () => {
    const c = await login('leaver');
    expect((await c.request(Cmd.LOGOUT)).status).toBe(Status.OK);
    expect((await c.request(Cmd.ECHO, 'x')).status).toBe(Status.NOT_AUTHENTICATED);
    await waitFor(
      () => backend.lines.some((l) => l.endsWith('event offline leaver')),
      5_000,
      'offline leaver',
    );
    expect(c.closed).toBe(false);
  });

  it('lifecycle events: a disconnect and an API kick reach HandleEvent, which pushes LEFT to the world', async () => {
    const stayer = await login('stayer');
    const goner = await login('goner');
    const kicked = await login('kicked');
    goner.close();
    const left = await stayer.next(
      (f) => f.type === FrameType.PUSH && f.cmd === Push.LEFT && json(f).player === 'goner',
    );
    expect(json(left)).toEqual({ player: 'goner' });

    expect((await gw.api('POST', '/v1/kick', { players: ['kicked'], reason: 'maintenance' })).body).toEqual({
      kicked: 1,
    });
    expect((await kicked.nextOfType(FrameType.KICK)).status).toBe(Status.KICKED);
    await stayer.next((f) => f.type === FrameType.PUSH && f.cmd === Push.LEFT && json(f).player === 'kicked');
    const look = json(await stayer.request(Cmd.LOOK));
    expect(Object.keys(look)).toContain('stayer');
    expect(Object.keys(look)).not.toContain('goner');
    expect(Object.keys(look)).not.toContain('kicked');
  });

  it('the SDK Client against the real push API, every route (sdk/go live_test.go)', () => {
    const run = spawnSync('go', ['test', '-count=1', '-run', '^TestLiveGateway$', '-v', '.'], {
      cwd: fileURLToPath(new URL('../../sdk/go', import.meta.url)),
      env: {
        ...process.env,
        GOPROXY: 'off',
        GATEWAY_LIVE_API: gw.apiUrl,
        GATEWAY_LIVE_TCP: `127.0.0.1:${gw.tcpPort}`,
      },
      encoding: 'utf8',
      timeout: 120_000,
    });
    expect(run.stdout + run.stderr).toContain('--- PASS: TestLiveGateway');
    expect(run.status).toBe(0);
  }, 150_000);

  it('the Go backend shuts down gracefully on SIGTERM', async () => {
    await backend.close();
    expect(backend.child.exitCode).toBe(0);
    expect(backend.lines.some((l) => l.endsWith('go-backend stopped'))).toBe(true);
  });
});

describe('npm run demo -- --backend go', () => {
  it.skipIf(!hasGo)(
    'runs the scripted client against the Go backend and exits 0 with --once',
    () => {
      const run = spawnSync(
        process.execPath,
        ['--import', 'tsx', 'examples/demo.ts', '--backend', 'go', '--once'],
        {
          env: { ...process.env, DEMO_PORTS: '0' },
          encoding: 'utf8',
          timeout: 120_000,
        },
      );
      expect(run.status).toBe(0);
      expect(run.stdout).toMatch(/← RESPONSE status 0 \{"player":"alice","position":\{"x":0,"y":0\}\}/);
      expect(run.stdout).toMatch(/← PUSH cmd 5001 seq \d+ \{"player":"alice","x":3,"y":4\}/);
      expect(run.stdout).toMatch(/\[backend\] .*event online alice/);
      expect(run.stdout).toMatch(/— done —/);
    },
    150_000,
  );

  it('without go on PATH: says how to install it and exits 1', () => {
    const run = spawnSync(
      process.execPath,
      ['--import', 'tsx', 'examples/demo.ts', '--backend', 'go', '--once'],
      {
        env: { ...process.env, DEMO_PORTS: '0', PATH: '/nonexistent' },
        encoding: 'utf8',
        timeout: 60_000,
      },
    );
    expect(run.status).toBe(1);
    expect(run.stderr).toContain('apt-get install golang-go');
  }, 90_000);
});

/** The keys under `prefix` in the etcd at `url` (its v3 JSON gateway). */
async function etcdKeys(url: string, prefix: string): Promise<string[]> {
  const end = Buffer.from(prefix);
  end[end.length - 1]++;
  const res = await fetch(`${url}/v3/kv/range`, {
    method: 'POST',
    body: JSON.stringify({ key: Buffer.from(prefix).toString('base64'), range_end: end.toString('base64') }),
  });
  const body = (await res.json()) as { kvs?: Array<{ key: string }> };
  return (body.kvs ?? []).map((kv) => Buffer.from(kv.key, 'base64').toString());
}

describe.skipIf(!hasGo || !hasEtcd)('the Go backend in etcd through sdk/go/registry', () => {
  let etcd: EtcdServer;
  let dir: string;
  let binary: string;
  beforeAll(async () => {
    etcd = await EtcdServer.start();
    dir = mkdtempSync(join(tmpdir(), 'go-backend-etcd-'));
    binary = buildGoBackend(dir);
  }, 120_000);
  afterAll(async () => {
    await etcd?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it.each(['kratos', 'go-zero'] as const)(
    '%s: the gateway discovers it, it finds the gateway, and its Close takes it out at once',
    async (layout) => {
      const prefix = layout === 'kratos' ? '/microservices' : '';
      const gw = await GatewayProcess.start({
        nodeId: `gw-${layout}`,
        redisUrl: 'redis://unused',
        keyPrefix: '',
        backendUrl: 'http://unused',
        extra: {
          cluster: { engine: 'local' },
          registry: {
            etcd: { endpoints: [etcd.url] },
            layout,
            prefix,
            ttlSeconds: 2,
            service: 'game-gateway',
          },
          targets: { game: { discover: 'game', path: '/game/{cmd}', timeoutMs: 5_000 } },
          routes: [{ cmds: '1000-2999', target: 'game' }],
          auth: { required: true, anonymousCmds: [Cmd.LOGIN] },
          events: { target: 'game' },
        },
      });
      let backend: GoBackend | null = null;
      try {
        const gatewayPrefix = layout === 'kratos' ? '/microservices/game-gateway/' : 'game-gateway/';
        await waitFor(
          async () => (await etcdKeys(etcd.url, gatewayPrefix)).length === 1,
          10_000,
          'gateway record',
        );
        // No GATEWAY_API: the backend reads the gateway's record with registry.Lookup.
        backend = await startGoBackend(binary, { port: await freePort(), etcdEndpoints: etcd.url, layout });
        expect(backend.lines.some((l) => l.endsWith(`gateways from etcd: ${gw.apiUrl}`))).toBe(true);
        const instances = async (): Promise<unknown[]> =>
          (await gw.api('GET', '/v1/stats')).body.targets.game.instances;
        await waitFor(async () => (await instances()).length === 1, 10_000, 'the backend discovered');

        const c = await RawClient.connect(gw.tcpPort);
        expect((await c.request(Cmd.LOGIN, `disc-${layout}`)).status).toBe(Status.OK);
        expect((await c.request(Cmd.MOVE, JSON.stringify({ x: 1, y: 2 }))).status).toBe(Status.OK);
        const moved = await c.next((f) => f.type === FrameType.PUSH && f.cmd === Push.MOVED);
        expect(json(moved)).toEqual({ player: `disc-${layout}`, x: 1, y: 2 });
        c.close();

        // SIGTERM: the backend's Registration.Close revokes its lease before it stops serving.
        await backend.close();
        backend = null;
        await waitFor(async () => (await instances()).length === 0, 10_000, 'the backend gone');
        const late = await RawClient.connect(gw.tcpPort);
        expect((await late.request(Cmd.LOGIN, 'late')).status).toBe(Status.BACKEND_UNAVAILABLE);
        late.close();
      } finally {
        await backend?.close();
        await gw.stop();
      }
    },
    60_000,
  );
});
