/**
 * The plugin API end to end: real backend process, in-process gateway, real TCP clients and
 * the real HTTP API. Fixture plugins live in test/fixtures/plugins/.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { loadConfigFile } from '../../src/config/load.js';
import type { GatewayConfigInput } from '../../src/config/schema.js';
import { Gateway } from '../../src/gateway.js';
import { createLogger } from '../../src/logger.js';
import { PluginError } from '../../src/plugins/plugin-error.js';
import { FrameType } from '../../src/protocol/frame.js';
import { Status } from '../../src/protocol/status.js';
import { PluginCmd } from '../fixtures/plugins/cmds.js';
import { Cmd } from '../support/cmds.js';
import { LogCapture, type Running, startGateway } from '../support/gateway-fixture.js';
import { startBackend, type TestBackend } from '../support/processes.js';
import { json, RawClient } from '../support/raw-client.js';
import { sleep } from '../support/wait.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const fixture = (name: string) => `./test/fixtures/plugins/${name}.ts`;

let backend: TestBackend;
beforeAll(async () => {
  backend = await startBackend();
});
afterAll(() => backend.stop());
beforeEach(() => backend.clear());

/** A gateway whose routes cover only cmds 1–999 (plus `extra.routes`), so 7000+ have no route. */
function gatewayWith(
  plugins: GatewayConfigInput['plugins'],
  extra: Partial<GatewayConfigInput> = {},
): Promise<Running> {
  const { routes = [], ...rest } = extra;
  return startGateway(backend.url, {
    auth: {
      required: true,
      anonymousCmds: [Cmd.LOGIN, Cmd.ECHO, PluginCmd.HELLO, PluginCmd.RANGE_FIRST, PluginCmd.RANGE_FIRST + 2],
    },
    plugins,
    ...rest,
    routes: [{ cmds: '1-999', target: 'game' }, ...routes],
  });
}

async function connectAs(gw: Running, player: string): Promise<RawClient> {
  const c = await RawClient.connect(gw.tcpPort);
  expect((await c.login(player)).status).toBe(0);
  return c;
}

function pluginErrors(gw: Running): number {
  return gw.gateway.metrics.errors.total({ type: 'plugin_error' });
}

describe('local handlers', () => {
  let gw: Running;
  beforeAll(async () => {
    gw = await gatewayWith([{ module: fixture('local'), options: { watcher: 'watcher' } }]);
  });
  afterAll(() => gw.gateway.stop());

  it('answers a cmd in the gateway: no backend, no route needed', async () => {
    const c = await RawClient.connect(gw.tcpPort);
    const r = await c.request(PluginCmd.HELLO, 'hi');
    expect(r).toMatchObject({ type: FrameType.RESPONSE, status: 0, cmd: PluginCmd.HELLO, seq: 1 });
    expect(r.body.toString()).toBe('hello anonymous: hi #1');
    expect(await backend.requests()).toEqual([]);
    c.close();
  });

  it('keeps the auth gate for handled cmds that are not anonymous', async () => {
    const c = await RawClient.connect(gw.tcpPort);
    expect((await c.request(PluginCmd.COUNT)).status).toBe(Status.NOT_AUTHENTICATED);
    await c.login('alice-gate');
    expect((await c.request(PluginCmd.COUNT)).body.toString()).toBe('1');
    c.close();
  });

  it('gives each session its own state', async () => {
    const a = await connectAs(gw, 'state-a');
    const b = await connectAs(gw, 'state-b');
    expect((await a.request(PluginCmd.COUNT)).body.toString()).toBe('1');
    expect((await a.request(PluginCmd.COUNT)).body.toString()).toBe('2');
    expect((await b.request(PluginCmd.COUNT)).body.toString()).toBe('1');
    // A NOTIFY runs the handler too, but is never answered.
    a.send(FrameType.NOTIFY, PluginCmd.COUNT, 99);
    expect((await a.request(PluginCmd.COUNT)).body.toString()).toBe('4');
    expect(a.frames.filter((f) => f.type === FrameType.RESPONSE)).toEqual([]);
    a.close();
    b.close();
  });

  it('handles ranges and async handlers, with application statuses and byte bodies', async () => {
    const c = await RawClient.connect(gw.tcpPort);
    const r = await c.request(PluginCmd.RANGE_FIRST + 2);
    expect(r.status).toBe(1002);
    expect([...r.body]).toEqual([1, 2, 3]);
    c.close();
  });

  it('answers a gateway status as the SPEC error body; nothing returned is an empty OK', async () => {
    const c = await connectAs(gw, 'statuses');
    const r = await c.request(PluginCmd.REJECT);
    expect(r.status).toBe(Status.BACKEND_REJECTED);
    expect(json(r)).toEqual({ error: 'BACKEND_REJECTED', message: 'not today' });
    const empty = await c.request(PluginCmd.EMPTY);
    expect(empty.status).toBe(0);
    expect(empty.body.length).toBe(0);
    c.close();
  });

  it('pushes to players and groups; onBind runs at login', async () => {
    const alice = await connectAs(gw, 'push-alice');
    expect((await alice.nextOfType(FrameType.PUSH)).body.toString()).toBe('welcome push-alice');
    const r = await alice.request(PluginCmd.PUSH_SELF);
    expect(r.body.toString()).toBe('delivered');
    const push = await alice.nextOfType(FrameType.PUSH);
    expect(push).toMatchObject({ cmd: 55, seq: 2 });
    expect(push.body.toString()).toBe('pushed by local');

    const bob = await connectAs(gw, 'push-bob');
    await alice.request(PluginCmd.JOIN_ROOM);
    expect((await bob.request(PluginCmd.JOIN_ROOM)).body.toString()).toBe('2');
    expect((await alice.next((f) => f.cmd === 56 && f.body.includes('push-bob'))).type).toBe(FrameType.PUSH);
    expect((await bob.next((f) => f.cmd === 56)).body.toString()).toBe('room hello from push-bob');
    await alice.request(PluginCmd.LEAVE_ROOM);
    await bob.request(PluginCmd.LEAVE_ROOM);
    alice.close();
    bob.close();
  });

  it('refuses player ids and group names the API could not address, with a TypeError naming each', async () => {
    const alice = await connectAs(gw, 'names-alice');
    const errors = JSON.parse((await alice.request(PluginCmd.BAD_NAMES)).body.toString()) as string[];
    expect(errors).toEqual([
      expect.stringMatching(/^player id "p{300}": player ids are at most 256 characters$/),
      'player id "a,b": player ids must not contain commas',
      expect.stringMatching(/^group "g{200}": group names are at most 128 characters$/),
      'group " edge": group names must not start or end with whitespace',
      'player id "tab\\there": player ids must not contain control characters',
    ]);
    // Nothing of the refused list push was applied: the next cmd-55 push alice gets is 7040's.
    await alice.request(PluginCmd.PUSH_SELF);
    expect((await alice.next((f) => f.cmd === 55)).body.toString()).toBe('pushed by local');
    alice.close();
  });

  it('runs onSessionClose when a connection ends, with the player still known', async () => {
    const watcher = await connectAs(gw, 'watcher');
    const leaver = await connectAs(gw, 'leaver');
    leaver.close();
    const push = await watcher.next((f) => f.cmd === 78);
    expect(push.body.toString()).toBe('closed leaver');
    watcher.close();
  });

  it('counts local requests with route_target = the plugin name, and serves plugin metrics', async () => {
    const c = await RawClient.connect(gw.tcpPort);
    await c.request(PluginCmd.HELLO, 'm');
    c.close();
    const text = await (await fetch(`${gw.apiUrl}/metrics`)).text();
    expect(text).toMatch(/gateway_local_calls_total\{cmd="7000"\} [1-9]/);
    expect(text).toMatch(
      /gateway_requests_total\{cmd="7000",player_id="",route_target="local",result="success"\} [1-9]/,
    );
    expect(text).toMatch(/gateway_request_duration_seconds_count\{cmd="7000",route_target="local"\} [1-9]/);
  });
});

describe('hooks', () => {
  let gw: Running;
  beforeAll(async () => {
    gw = await gatewayWith(
      [
        {
          module: fixture('first'),
          options: { answersTrace: true, replyOn: 6001, route: { cmd: 6000, target: 'other' } },
        },
        { module: fixture('second'), options: { replyOn: 6002 } },
      ],
      {
        targets: {
          game: { url: `${backend.url}/rpc/{cmd}`, timeoutMs: 1_000 },
          other: { url: `${backend.url}/other/{cmd}`, timeoutMs: 1_000 },
        },
        routes: [{ cmds: '6000-6002', target: 'game' }],
      },
    );
  });
  afterAll(() => gw.gateway.stop());

  async function trace(c: RawClient): Promise<string[]> {
    return JSON.parse((await c.request(PluginCmd.TRACE)).body.toString());
  }

  it('runs hooks in registration order: plugins in config order, hooks in addHook order, async awaited', async () => {
    const c = await connectAs(gw, 'order');
    await trace(c);
    const r = await c.request(Cmd.ECHO, 'echo');
    expect(r.body.toString()).toBe('echo');
    expect(await trace(c)).toEqual([
      'first:req1:10',
      'first:req2:10',
      'second:req1:10',
      'second:req2:10',
      // onResponse hooks settle before the client gets the RESPONSE.
      'first:res:10:game:0',
      'second:res:10:game:0',
    ]);
    c.close();
  });

  it('lets onRequest choose the target of a request', async () => {
    const c = await connectAs(gw, 'router');
    await backend.clear();
    expect((await c.request(6000, 'x')).body.toString()).toBe('x');
    const seen = await backend.requests();
    expect(seen.map((s) => s.url)).toEqual(['/other/6000']);
    expect(await trace(c)).toContain('second:res:6000:other:0');
    expect(gw.gateway.metrics.requests.total({ cmd: '6000', route_target: 'other', result: 'success' })).toBe(
      1,
    );
    c.close();
  });

  it('lets onRequest answer: later hooks, handlers and backends are skipped', async () => {
    const c = await connectAs(gw, 'replier');
    await trace(c);
    await backend.clear();
    expect((await c.request(6001)).body.toString()).toBe('first replied');
    expect(await trace(c)).toEqual(['first:req1:6001']);
    expect((await c.request(6002)).body.toString()).toBe('second replied');
    expect(await trace(c)).toEqual(['first:req1:6002', 'first:req2:6002', 'second:req1:6002']);
    expect(await backend.requests()).toEqual([]);
    expect(gw.gateway.metrics.requests.total({ cmd: '6001', route_target: 'first', result: 'success' })).toBe(
      1,
    );
    expect(
      gw.gateway.metrics.requests.total({ cmd: '6002', route_target: 'second', result: 'success' }),
    ).toBe(1);
    c.close();
  });

  it('answers ROUTE_NOT_FOUND when no route and no hook gives a target', async () => {
    const c = await connectAs(gw, 'lost');
    await backend.clear();
    const r = await c.request(8000);
    expect(r.status).toBe(Status.ROUTE_NOT_FOUND);
    expect(await backend.requests()).toEqual([]);
    // A cmd that no route covers counts under cmd="unrouted" (clients choose cmds freely).
    expect(gw.gateway.metrics.requests.total({ cmd: 'unrouted', result: 'drop' })).toBe(1);
    c.close();
  });

  it('still refuses before the hooks: auth gate, limits', async () => {
    const c = await RawClient.connect(gw.tcpPort);
    expect((await c.request(6001)).status).toBe(Status.NOT_AUTHENTICATED);
    c.close();
  });
});

describe('ResponseContext.directives', () => {
  let gw: Running;
  beforeAll(async () => {
    gw = await gatewayWith([{ module: fixture('directives-probe') }], {
      auth: {
        required: true,
        anonymousCmds: [Cmd.ECHO, Cmd.JOIN, Cmd.HTTP_502, Cmd.SLEEP, PluginCmd.DIRECTIVES],
      },
    });
  });
  afterAll(() => gw.gateway.stop());

  const none = { status: null, bind: null, unbind: null, join: null, leave: null, close: null, extra: {} };
  async function seen(c: RawClient, cmd: number, body = ''): Promise<unknown> {
    await c.request(cmd, body, 5_000);
    return JSON.parse((await c.request(PluginCmd.DIRECTIVES)).body.toString());
  }

  it('is always an object with extra {}: a plain answer, an error answer, no answer at all', async () => {
    const c = await RawClient.connect(gw.tcpPort);
    expect(await seen(c, Cmd.ECHO, 'plain')).toEqual({ directives: none, extraIsObject: true, map: null });
    expect(await seen(c, Cmd.HTTP_502)).toEqual({ directives: none, extraIsObject: true, map: null });
    // The backend's timeout is 1 s: no answer, no headers.
    expect(await seen(c, Cmd.SLEEP, '1500')).toEqual({ directives: none, extraIsObject: true, map: null });
    expect(await seen(c, Cmd.JOIN, 'g1')).toEqual({
      directives: { ...none, join: 'g1' },
      extraIsObject: true,
      map: null,
    });
    c.close();
  });
});

describe('a plugin that throws', () => {
  let gw: Running;
  beforeAll(async () => {
    gw = await gatewayWith([{ module: fixture('thrower') }, { module: fixture('local') }], {
      routes: [{ cmds: PluginCmd.ON_RESPONSE_THROWS, target: 'game' }],
    });
  });
  afterAll(() => gw.gateway.stop());

  it.each([
    [PluginCmd.HANDLER_THROWS, 'handler exploded'],
    [PluginCmd.HANDLER_REJECTS, 'handler rejected'],
    [PluginCmd.HANDLER_RETURNS_STRING, 'returned a string'],
    [PluginCmd.HANDLER_BAD_STATUS, 'status 7 is neither'],
    [PluginCmd.HANDLE_AFTER_SETUP, 'may only be called during setup'],
    [PluginCmd.ON_REQUEST_THROWS, 'onRequest exploded'],
    [PluginCmd.ON_REQUEST_BAD_TARGET, 'set ctx.target to "nope"'],
    [PluginCmd.ON_REQUEST_REJECTS, 'onRequest rejected'],
    [PluginCmd.ON_RESPONSE_THROWS, 'onResponse exploded'],
  ])(
    'cmd %i → INTERNAL, logged with the request id, counted; the session keeps working',
    async (cmd, why) => {
      const c = await connectAs(gw, `thrown-${cmd}`);
      const before = pluginErrors(gw);
      const r = await c.request(cmd);
      expect(r.status).toBe(Status.INTERNAL);
      const body = json(r) as { error: string; message: string };
      expect(body.error).toBe('INTERNAL');
      const requestId = /request (\S+)\)/.exec(body.message)?.[1];
      expect(requestId).toBeDefined();
      expect(pluginErrors(gw)).toBe(before + 1);
      const line = gw.logs.lines.find((l) => l.requestId === requestId && l.level === 50);
      expect(line).toMatchObject({ level: 50, plugin: 'thrower', cmd });
      expect(String(line?.err)).toContain(why);
      expect(gw.gateway.metrics.requests.total({ cmd: String(cmd), result: 'error' })).toBe(1);
      // Same session, next request: served.
      expect((await c.request(PluginCmd.HELLO, 'still here')).body.toString()).toMatch(/still here/);
      c.close();
    },
  );

  it('a failing onResponse hides the answer but the backend was called, and its directives are not applied', async () => {
    const c = await connectAs(gw, 'directives');
    await backend.clear();
    expect((await c.request(PluginCmd.ON_RESPONSE_THROWS)).status).toBe(Status.INTERNAL);
    expect((await backend.requests()).map((s) => s.url)).toEqual(['/rpc/7120']);
    c.close();
  });

  it('a failing lifecycle hook is logged and counted; the next plugin still runs and the login stands', async () => {
    const before = pluginErrors(gw);
    const c = await connectAs(gw, 'unlucky');
    expect((await c.nextOfType(FrameType.PUSH)).body.toString()).toBe('welcome unlucky');
    expect(pluginErrors(gw)).toBe(before + 1);
    expect(gw.logs.lines.some((l) => l.hook === 'onBind' && l.plugin === 'thrower' && l.level === 50)).toBe(
      true,
    );
    c.close();
    await waitUntil(() => pluginErrors(gw) === before + 2);
    expect(
      gw.logs.lines.some((l) => l.hook === 'onSessionClose' && l.err === 'onSessionClose rejected'),
    ).toBe(true);
  });

  it('other sessions are served throughout', async () => {
    const a = await connectAs(gw, 'bystander-a');
    const b = await connectAs(gw, 'bystander-b');
    const results = await Promise.all([
      a.request(PluginCmd.HANDLER_THROWS),
      b.request(Cmd.ECHO, 'fine'),
      a.request(PluginCmd.HANDLER_REJECTS),
      b.request(PluginCmd.HELLO),
    ]);
    expect(results.map((r) => r.status)).toEqual([Status.INTERNAL, 0, Status.INTERNAL, 0]);
    expect(results[1].body.toString()).toBe('fine');
    a.close();
    b.close();
  });
});

describe('loading and setup', () => {
  it('a setup that throws stops the start with an error naming the plugin; earlier plugins are closed', async () => {
    const logs = new LogCapture();
    const gateway = new Gateway({
      config: config([{ module: fixture('local') }, { module: fixture('bad-setup') }]),
      logger: createLogger('info', logs),
    });
    const err = await gateway.start().then(
      () => null,
      (e: Error) => e,
    );
    expect(err).toBeInstanceOf(PluginError);
    expect(err?.message).toMatch(
      /^plugins\.1: plugin "bad-setup" \(module \.\/test\/fixtures\/plugins\/bad-setup\.ts\) failed to set up: database unreachable$/,
    );
    expect((err as PluginError).plugin).toBe('bad-setup');
    expect(gateway.addresses).toBeNull();
    expect(logs.lines.some((l) => l.msg === 'local plugin closed')).toBe(true);
  });

  it.each([
    [
      './test/fixtures/plugins/nope.ts',
      /^plugins\.0\.module: cannot load "\.\/test\/fixtures\/plugins\/nope\.ts" \(file:/,
    ],
    [fixture('not-a-plugin'), /does not export a plugin: expected a default export \{ name, setup \}/],
    [
      'no-such-package-for-gateway-tests',
      /^plugins\.0\.module: cannot load "no-such-package-for-gateway-tests"/,
    ],
  ])('module %s → a clear error', async (module, message) => {
    const gateway = new Gateway({ config: config([{ module }]), logger: createLogger('silent') });
    await expect(gateway.start()).rejects.toThrow(message);
  });

  it('refuses two plugins with the same name, and two handlers for one cmd', async () => {
    const twice = new Gateway({
      config: config([{ module: fixture('first') }, { module: fixture('first') }]),
      logger: createLogger('silent'),
    });
    await expect(twice.start()).rejects.toThrow(
      /plugins\.1: a plugin named "first" is already loaded \(plugins\.0\)/,
    );
    const clash = new Gateway({
      config: config([
        { module: fixture('first'), options: { answersTrace: true } },
        { module: fixture('second'), options: { answersTrace: true } },
      ]),
      logger: createLogger('silent'),
    });
    await expect(clash.start()).rejects.toThrow(
      /plugins\.1: plugin "second" .* failed to set up: handle\(\): cmd 7900 is already handled by plugin "first"/,
    );
  });

  it('loads a plugin by a path relative to the config file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gw-plugins-'));
    try {
      writeFileSync(
        join(dir, 'hello.mjs'),
        `export default {
          name: 'hello',
          setup(gw, options) {
            gw.handle(options.cmd, (ctx) => ({ body: 'hello from a file, ' + ctx.body.toString() }));
          },
        };\n`,
      );
      writeFileSync(
        join(dir, 'gateway.yaml'),
        [
          'node: { id: file-node }',
          "listen: { tcp: '127.0.0.1:0', api: '127.0.0.1:0' }",
          'auth: { required: false }',
          'plugins:',
          '  - module: ./hello.mjs',
          '    options: { cmd: 7600 }',
          '',
        ].join('\n'),
      );
      const { config: loaded, baseDir } = loadConfigFile(join(dir, 'gateway.yaml'), {});
      const gateway = new Gateway({ config: loaded, baseDir, logger: createLogger('silent') });
      const bound = await gateway.start();
      const c = await RawClient.connect(Number(bound.tcp!.split(':').pop()));
      expect((await c.request(7600, 'yaml')).body.toString()).toBe('hello from a file, yaml');
      c.close();
      await gateway.stop();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('loads the example plugin by absolute path', async () => {
    const gw = await startGateway(null, {
      auth: { required: false },
      plugins: [{ module: join(root, 'examples/plugins/server-time.js'), options: { cmd: 9100 } }],
    });
    const c = await RawClient.connect(gw.tcpPort);
    const before = Date.now();
    const body = JSON.parse((await c.request(9100)).body.toString());
    expect(body.node).toBe('test-node');
    expect(body.now).toBeGreaterThanOrEqual(before);
    expect(body.now).toBeLessThanOrEqual(Date.now());
    c.close();
    await gw.gateway.stop();
  });

  it('runs the room-chat example of docs/plugins.md, loaded by relative path', async () => {
    const gw = await startGateway(backend.url, {
      plugins: [
        {
          module: './examples/plugins/room-chat.ts',
          options: { joinCmd: 7700, sayCmd: 7701, pushCmd: 7702 },
        },
      ],
    });
    const [alice, bob, carol] = await Promise.all(['alice', 'bob', 'carol'].map((p) => connectAs(gw, p)));
    expect((await alice.request(7701, 'anyone?')).status).toBe(Status.ROUTE_NOT_FOUND);
    expect((await alice.request(7700, 'lobby')).body.toString()).toBe('room:lobby');
    await bob.request(7700, 'lobby');
    await carol.request(7700, 'cellar');
    expect((await alice.request(7701, 'hi')).body.toString()).toBe('2');
    expect((await bob.nextOfType(FrameType.PUSH)).body.toString()).toBe('alice: hi');
    expect((await alice.nextOfType(FrameType.PUSH)).body.toString()).toBe('alice: hi');
    // Moving rooms leaves the old one.
    await bob.request(7700, 'cellar');
    expect((await alice.request(7701, 'alone')).body.toString()).toBe('1');
    expect((await carol.request(7701, 'hello bob')).body.toString()).toBe('2');
    expect(carol.frames.filter((f) => f.body.toString().startsWith('alice'))).toEqual([]);
    for (const c of [alice, bob, carol]) c.close();
    await gw.gateway.stop();
  });

  it('keeps the plain request path when no plugin needs it', async () => {
    const none = await startGateway(backend.url, {}, 'silent');
    expect(none.gateway.stageNames).toEqual(['admission', 'directives', 'forward']);
    await none.gateway.stop();
    // Lifecycle hooks only: still the plain path, and the hooks still run.
    const lifecycle = await startGateway(
      backend.url,
      { plugins: [{ module: fixture('lifecycle-only') }] },
      'silent',
    );
    expect(lifecycle.gateway.stageNames).toEqual(['admission', 'directives', 'forward']);
    const c = await connectAs(lifecycle, 'plain');
    expect((await c.nextOfType(FrameType.PUSH)).body.toString()).toBe('bound plain');
    c.close();
    await lifecycle.gateway.stop();
  });
});

function config(plugins: GatewayConfigInput['plugins']): GatewayConfigInput {
  return {
    node: { id: 'load-node' },
    listen: { tcp: '127.0.0.1:0', api: '127.0.0.1:0' },
    targets: { game: { url: `${backend.url}/rpc/{cmd}` } },
    plugins,
  };
}

async function waitUntil(check: () => boolean, timeoutMs = 3_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > until) throw new Error('condition not reached');
    await sleep(10);
  }
}
