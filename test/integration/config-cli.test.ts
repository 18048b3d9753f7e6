import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { describe, expect, it } from 'vitest';
import { buildConfig, ConfigError, loadConfigFile } from '../../src/config/load.js';
import { FrameType } from '../../src/protocol/frame.js';
import { Status } from '../../src/protocol/status.js';
import { RawClient } from '../support/raw-client.js';

const dir = mkdtempSync(join(tmpdir(), 'gw-config-'));
function file(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}
const cli = (args: string[], env: Record<string, string> = {}) =>
  spawnSync(process.execPath, ['--import', 'tsx', 'src/cli.ts', ...args], {
    encoding: 'utf8',
    env: { ...process.env, ...env },
  });

describe('config (SPEC §10)', () => {
  it('has the SPEC defaults', () => {
    const c = buildConfig({});
    expect(c.listen).toEqual({
      tcp: '0.0.0.0:7000',
      ws: null,
      api: '127.0.0.1:7002',
      metrics: null,
      tls: null,
    });
    expect(c.auth).toMatchObject({ required: true, timeoutMs: 60_000 });
    expect(c.heartbeat).toEqual({ intervalMs: 10_000, timeoutMs: 30_000 });
    expect(c.players).toEqual({
      retainMs: 300_000,
      offline: { maxMessages: 200, maxBytes: 1_048_576, ttlMs: 300_000 },
    });
    expect(c.limits).toMatchObject({
      maxFrameBytes: 65_536,
      maxInFlightPerSession: 32,
      requestsPerSecond: 100,
      maxWriteBufferBytes: 1_048_576,
    });
    expect(c.api).toMatchObject({ token: null, tokens: [], maxBodyBytes: 1_048_576 });
    expect(c.shutdown.drainMs).toBe(10_000);
    expect(c.metrics).toMatchObject({ playerIdLabel: 'suspects', suspectRequestsPerMinute: 1_000 });
    expect(c.cluster.engine).toBe('local');
  });

  it.each([
    [{ limits: { maxFrameBytes: 'big' } }, /^limits\.maxFrameBytes: /],
    [{ listen: { tcp: 'nowhere' } }, /^listen\.tcp: expected "host:port"/],
    [{ heartbeat: { intervalMs: 10, timeoutMs: 10, extra: 1 } }, /heartbeat\.extra: unknown key/],
    [{ bogus: true }, /^bogus: unknown key/],
    [{ routes: [{ cmds: '5-1', target: 'x' }] }, /^routes\.0\.cmds: range "5-1" ends before it starts/],
    [{ routes: [{ cmds: 1, target: 'nope' }] }, /^routes\.0\.target: no target named "nope"/],
    [{ targets: { a: { url: 'ftp://x' } } }, /^targets\.a\.url: /],
    [{ listen: { api: '0.0.0.0:7002' } }, /^api\.token: must be set when listen\.api/],
    [{ cluster: { engine: 'etcd' } }, /^cluster\.engine: /],
  ])('%j is refused naming the key', (raw, message) => {
    expect(() => buildConfig(raw)).toThrow(ConfigError);
    expect(() => buildConfig(raw)).toThrow(message);
  });

  it('accepts cmds as a number, a list, or a range string', () => {
    const c = buildConfig({
      targets: { a: { url: 'http://127.0.0.1:1/x' } },
      routes: [
        { cmds: 1, target: 'a' },
        { cmds: [2, '3-4'], target: 'a' },
        { cmds: '1000-1999', target: 'a' },
      ],
    });
    expect(c.routes.length).toBe(3);
  });

  it('environment variables override the file', () => {
    const path = file('env.yaml', 'node: { id: from-file }\nlisten: { api: "127.0.0.1:7002" }\n');
    const { config } = loadConfigFile(path, {
      GATEWAY_NODE_ID: 'from-env',
      GATEWAY_LISTEN_API: '0.0.0.0:9000',
      GATEWAY_API_TOKEN: 'secret',
      GATEWAY_LOG_LEVEL: 'warn',
      GATEWAY_LISTEN_WS: '127.0.0.1:0',
    });
    expect(config.node.id).toBe('from-env');
    expect(config.listen.api).toBe('0.0.0.0:9000');
    expect(config.api.token).toBe('secret');
    expect(config.log.level).toBe('warn');
    expect(config.listen.ws).toBe('127.0.0.1:0');
  });
});

describe('command line', () => {
  it('check-config prints the effective config with the token hidden', () => {
    const path = file('ok.yaml', 'api: { token: hunter2 }\nlimits: { maxFrameBytes: 4096 }\n');
    const r = cli(['check-config', path]);
    expect(r.status).toBe(0);
    const printed = JSON.parse(r.stdout);
    expect(printed.limits.maxFrameBytes).toBe(4096);
    expect(printed.api.token).toBe('***');
  });

  it('check-config of a bad file exits 2 with a message naming the key', () => {
    const path = file('bad.yaml', 'limits:\n  maxInFlightPerSession: -1\n');
    const r = cli(['check-config', path]);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/limits\.maxInFlightPerSession/);
  });

  it('refuses to start with a non-loopback listen.api and no api.token', () => {
    const r = cli([], { GATEWAY_LISTEN_API: '0.0.0.0:0', GATEWAY_LISTEN_TCP: '127.0.0.1:0' });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/api\.token/);
  });

  it('runs, logs the addresses it bound, and exits 0 after a graceful SIGTERM', async () => {
    const path = file(
      'run.yaml',
      'node: { id: cli-node }\nlisten: { tcp: "127.0.0.1:0", api: "127.0.0.1:0" }\n',
    );
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', '--config', path], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const lines = createInterface({ input: child.stdout! });
    const listening = await new Promise<Record<string, string>>((resolve) => {
      lines.on('line', (line) => {
        const entry = JSON.parse(line);
        if (entry.msg === 'gateway listening') resolve(entry);
      });
    });
    expect(listening.node).toBe('cli-node');
    expect(listening.tcp).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(listening.tcp).not.toMatch(/:0$/);
    const c = await RawClient.connect(Number(listening.tcp.split(':')[1]));
    expect(c.hello.node).toBe('cli-node');
    const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    expect((await c.nextOfType(FrameType.KICK)).status).toBe(Status.SERVER_SHUTDOWN);
    expect(await exit).toBe(0);
  });
});

describe('bad configs stop the start naming the key (issue 11 item 8)', () => {
  it.each([
    [{ limits: { maxFrameBytes: 4_294_967_295 } }, /^limits\.maxFrameBytes: .*16777216/],
    [{ limits: { maxFrameBytes: 16 * 1024 * 1024 + 1 } }, /^limits\.maxFrameBytes: /],
    [{ cluster: { engine: 'redis', redis: { url: 'not a url' } } }, /^cluster\.redis\.url: /],
    [{ cluster: { redis: { url: 'http://127.0.0.1:6379' } } }, /^cluster\.redis\.url: /],
    [{ targets: { a: { url: 'http://user:pass@127.0.0.1:1/x' } } }, /^targets\.a\.url: .*credentials/],
    [{ targets: { a: { url: 'http://user@127.0.0.1:1/x' } } }, /^targets\.a\.url: .*credentials/],
    [{ listen: { tcp: null, ws: null } }, /^listen\.tcp: .*listen\.ws/],
    [{ listen: { tcp: '127.0.0.1:7100', api: '127.0.0.1:7100' } }, /^listen\.api: .*listen\.tcp/],
    [{ listen: { tcp: '0.0.0.0:7100', ws: '127.0.0.1:7100' } }, /^listen\.ws: .*listen\.tcp/],
    [{ listen: { api: '0.0.0.0:7002' }, api: { token: '   ' } }, /^api\.token: must be set/],
    [{ listen: { api: '0.0.0.0:7002' }, api: { tokens: ['', ' '] } }, /^api\.token: must be set/],
    [{ listen: { api: '127.example.com:7002' } }, /^api\.token: must be set/],
    [{ listen: { api: '127.0.0.1.nip.io:7002' } }, /^api\.token: must be set/],
    [{ api: { headersTimeoutMs: 20_000 } }, /^api\.headersTimeoutMs: at most 10000/],
    [{ api: { lingerMs: 60_000 } }, /^api\.lingerMs: at most/],
  ])('%j is refused naming the key', (raw, message) => {
    expect(() => buildConfig(raw)).toThrow(ConfigError);
    expect(() => buildConfig(raw)).toThrow(message);
  });

  it.each([['127.0.0.1'], ['127.1.2.3'], ['::1'], ['0:0:0:0:0:0:0:1'], ['localhost']])(
    '%s is loopback: no token needed',
    (host) => {
      const api = host.includes(':') ? `[${host}]:7002` : `${host}:7002`;
      expect(buildConfig({ listen: { api } }).listen.api).toBe(api);
    },
  );

  it('accepts the largest documented maxFrameBytes, several tokens, and a blank token as none', () => {
    expect(buildConfig({ limits: { maxFrameBytes: 16 * 1024 * 1024 } }).limits.maxFrameBytes).toBe(
      16_777_216,
    );
    const c = buildConfig({ listen: { api: '0.0.0.0:7002' }, api: { token: 'a', tokens: ['b', 'c'] } });
    expect(c.api.tokens).toEqual(['b', 'c']);
    expect(buildConfig({ api: { token: '  ' } }).api.token).toBeNull();
  });

  it('check-config hides every token', () => {
    const path = file('tokens.yaml', 'api: { token: hunter2, tokens: [swordfish, letmein] }\n');
    const r = cli(['check-config', path]);
    expect(r.status).toBe(0);
    expect(r.stdout).not.toMatch(/hunter2|swordfish|letmein/);
  });

  const run = (yaml: string, env: Record<string, string> = {}) => {
    const path = file(`start-${Math.random().toString(36).slice(2)}.yaml`, yaml);
    return cli(['--config', path], env);
  };

  it('two listeners on one port: exit 2 naming both keys, no stack trace', () => {
    const r = run('listen: { tcp: "127.0.0.1:7931", ws: "127.0.0.1:7931", api: "127.0.0.1:0" }\n');
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/listen\.ws: .*listen\.tcp/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it('a port taken by another process: exit 2 naming the listener key', async () => {
    const { createServer } = await import('node:net');
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const port = (blocker.address() as { port: number }).port;
    try {
      const r = run(`listen: { tcp: "127.0.0.1:0", api: "127.0.0.1:${port}" }\n`);
      expect(r.status).toBe(2);
      expect(r.stderr).toMatch(new RegExp(`listen\\.api: cannot listen on 127\\.0\\.0\\.1:${port}`));
      expect(r.stderr).not.toMatch(/\n\s+at /);
    } finally {
      blocker.close();
    }
  });

  it.each([
    [
      'cluster.redis.url "not a url"',
      'cluster: { engine: redis, redis: { url: "not a url" } }\n',
      /cluster\.redis\.url/,
    ],
    ['no client listener', 'listen: { tcp: null, ws: null, api: "127.0.0.1:0" }\n', /listen\.tcp/],
    [
      'a blank token on 0.0.0.0',
      'listen: { tcp: "127.0.0.1:0", api: "0.0.0.0:0" }\napi: { token: "   " }\n',
      /api\.token/,
    ],
    [
      'credentials in a target url',
      'targets: { a: { url: "http://u:p@127.0.0.1:1/" } }\n',
      /targets\.a\.url/,
    ],
  ])('%s: exit 2 naming the key', (_name, yaml, key) => {
    const r = run(yaml);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(key);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });
});
