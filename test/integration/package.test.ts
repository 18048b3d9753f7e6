/**
 * The package as a user gets it (issue 16 item 4): `npm pack` (which builds dist/ from a
 * clean slate), the tarball installed into an empty folder, then the bin and both exports
 * used from there, on the Node running the tests. It packs a copy of the sources, so the
 * work tree's dist/ (which the demo page serves the SDK from) is never emptied under a
 * test running beside this one.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const root = fileURLToPath(new URL('../..', import.meta.url));
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string };
const work = mkdtempSync(join(tmpdir(), 'gw-package-'));
/** What `npm pack` needs: the manifest, what `files` names, and the build's inputs. */
const SOURCES = [
  'package.json',
  'README.md',
  'tsconfig.json',
  'tsconfig.build.json',
  'src',
  'console',
  'docs',
  'deploy',
];
const stage = join(work, 'stage');
const app = join(work, 'app');
/** The Node running the tests comes first on PATH: the bin's `#!/usr/bin/env node` finds it. */
const { GATEWAY_CONFIG: _unset, ...inherited } = process.env;
const env = {
  ...inherited,
  PATH: `${dirname(process.execPath)}${delimiter}${process.env.PATH}`,
  npm_config_update_notifier: 'false',
};
let tarball = '';
let packed: string[] = [];
let gateway: ChildProcess | undefined;

beforeAll(async () => {
  for (const entry of SOURCES) cpSync(join(root, entry), join(stage, entry), { recursive: true });
  symlinkSync(join(root, 'node_modules'), join(stage, 'node_modules'));
  const { stdout } = await run('npm', ['pack', '--json', '--pack-destination', work], {
    cwd: stage,
    env,
    maxBuffer: 64 * 1024 * 1024,
  });
  // npm pack prints the build's output before its JSON report.
  const report = JSON.parse(stdout.slice(stdout.indexOf('[\n'))) as [
    { filename: string; files: { path: string }[] },
  ];
  tarball = join(work, report[0].filename);
  packed = report[0].files.map((f) => f.path);
  mkdirSync(app);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));
  // The dependencies come from npm's cache when it has them (CI ran npm ci), else the registry.
  await run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', tarball], { cwd: app, env });
}, 300_000);

afterAll(async () => {
  if (gateway !== undefined && gateway.exitCode === null) {
    gateway.kill('SIGTERM');
    await new Promise((resolve) => gateway?.once('exit', resolve));
  }
  rmSync(work, { recursive: true, force: true });
});

function npx(...args: string[]) {
  // `--no`: never fetched from the registry, the installed bin or a failure.
  return run('npx', ['--no', '--', 'game-gateway', ...args], { cwd: app, env });
}

describe('the npm package (npm pack, installed into an empty folder)', () => {
  it('holds dist built from the current src only, and the docs', () => {
    expect(packed).toContain('dist/cli.js');
    expect(packed).toContain('dist/client/index.js');
    expect(packed).toContain('docs/configuration.md');
    for (const f of ['index.html', 'console.js', 'console.css']) expect(packed).toContain(`console/${f}`);
    expect(packed.some((p) => p.startsWith('src/') || p.startsWith('test/'))).toBe(false);
    // A file left in dist/ by an older build (a module since moved) would ship too.
    const stale = packed
      .filter((p) => p.startsWith('dist/') && p.endsWith('.js'))
      .map((p) => `src/${p.slice(5, -3)}.ts`)
      .filter((src) => !existsSync(join(root, src)));
    expect(stale).toEqual([]);
  });

  it('npx game-gateway --version', async () => {
    const { stdout } = await npx('--version');
    expect(stdout.trim()).toBe(pkg.version);
  });

  it('npx game-gateway init writes a starter config that check-config accepts', async () => {
    await npx('init', 'gateway.yaml');
    const { stdout, stderr } = await npx('check-config', 'gateway.yaml');
    expect(stderr).toContain('config OK: gateway.yaml');
    const effective = JSON.parse(stdout) as { listen: { api: string }; cluster: { engine: string } };
    expect(effective.listen.api).toBe('127.0.0.1:7002');
    expect(effective.cluster.engine).toBe('local');
  });

  it('starts on the embedded default and answers a client of game-gateway/client and the API', async () => {
    // No config file: the embedded default, its two listeners moved to free ports by the
    // environment overrides (the fixed defaults could be taken on a shared machine).
    gateway = spawn(join(app, 'node_modules', '.bin', 'game-gateway'), [], {
      cwd: app,
      env: { ...env, GATEWAY_LISTEN_TCP: '127.0.0.1:0', GATEWAY_LISTEN_API: '127.0.0.1:0' },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const child = gateway;
    const bound = await new Promise<{ tcp: string; api: string }>((resolve, reject) => {
      const lines = createInterface({ input: child.stdout! });
      lines.on('line', (line) => {
        const entry = JSON.parse(line) as { msg: string; tcp: string; api: string };
        if (entry.msg === 'gateway listening') resolve(entry);
      });
      child.once('exit', (code) => reject(new Error(`game-gateway exited with ${code} before listening`)));
    });

    // A script of the user's project, importing the installed package by its name.
    writeFileSync(
      join(app, 'client.js'),
      `import { connect } from 'game-gateway/client';
import { Gateway } from 'game-gateway';
const c = await connect('tcp://${bound.tcp}');
const r = await c.request(1001, 'alice');
await c.close();
console.log(JSON.stringify({ hello: c.hello, status: r.statusName, gateway: typeof Gateway }));
`,
    );
    const { stdout } = await run(process.execPath, ['client.js'], { cwd: app, env });
    const seen = JSON.parse(stdout) as { hello: { heartbeatMs: number }; status: string; gateway: string };
    expect(seen.hello.heartbeatMs).toBe(10_000);
    // The embedded default has no routes, and every cmd needs a login first.
    expect(seen.status).toBe('NOT_AUTHENTICATED');
    expect(seen.gateway).toBe('function');

    const push = await fetch(`http://${bound.api}/v1/push`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ players: ['nobody'], cmd: 7, data: '' }),
    });
    expect(push.status).toBe(200);
    expect(await push.json()).toMatchObject({ delivered: 0, cached: 0, dropped: 1 });
    // The operator console's files, found beside dist/ in the installed package.
    for (const path of ['/console', '/console/console.js', '/console/console.css']) {
      const r = await fetch(`http://${bound.api}${path}`);
      expect(r.status, path).toBe(200);
      expect((await r.text()).length, path).toBeGreaterThan(100);
    }

    child.kill('SIGTERM');
    const code = await new Promise((resolve) => child.once('exit', resolve));
    expect(code).toBe(0);
  });
});
