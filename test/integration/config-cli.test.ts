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
    expect(c.listen).toEqual({ tcp: '0.0.0.0:7000', ws: null, api: '127.0.0.1:7002', metrics: null });
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
    expect(c.api).toEqual({ token: null, maxBodyBytes: 1_048_576 });
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
