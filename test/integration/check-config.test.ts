/**
 * `game-gateway check-config FILE` as a user runs it (a real process): plugins loaded and
 * set up, the routing table, warnings for routes that overlap or never match and for
 * anonymous cmds nothing answers, computed defaults, and messages that name the key.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const dir = mkdtempSync(join(tmpdir(), 'gw-check-'));
const fixture = (name: string) => fileURLToPath(new URL(`../fixtures/plugins/${name}`, import.meta.url));

function check(yaml: string, ...flags: string[]) {
  const path = join(dir, `c${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(path, yaml);
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'check-config', path, ...flags], {
    encoding: 'utf8',
    env: { ...process.env, GATEWAY_REDIS_URL: '', GATEWAY_API_TOKEN: '' },
  });
  const warnings = r.stderr.split('\n').filter((l) => l.startsWith('warning: '));
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, warnings, path };
}

describe('check-config', () => {
  it('says "config OK", prints cmd ranges → target, and computed defaults (requestBurst = 2 × requestsPerSecond)', () => {
    const r = check(
      [
        'targets: { game: { url: "http://127.0.0.1:8081/game/{cmd}" } }',
        'routes: [{ cmds: "1000-2999", target: game }]',
        'auth: { anonymousCmds: [1001] }',
        'limits: { requestsPerSecond: 40 }',
      ].join('\n'),
    );
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/^ {2}1000-2999 +game +http:\/\/127\.0\.0\.1:8081\/game\/\{cmd\}$/m);
    expect(r.stderr).toMatch(/anonymous cmds \(forwarded before login\): 1001/);
    expect(r.warnings).toEqual([]);
    expect(r.stderr.trimEnd().split('\n').pop()).toBe(`config OK: ${r.path}`);
    const effective = JSON.parse(r.stdout);
    expect(effective.limits.requestBurst).toBe(80);
    expect(effective.targets.game).toMatchObject({ timeoutMs: 3_000, connections: 64 });
  });

  it('an empty file (every default) warns that nothing is routed and nothing can log in', () => {
    const r = check('{}');
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout).limits.requestBurst).toBe(200);
    expect(r.warnings).toEqual([
      expect.stringMatching(/^warning: routes: none.*every REQUEST gets ROUTE_NOT_FOUND/),
      expect.stringMatching(/^warning: auth\.anonymousCmds: none.*NOT_AUTHENTICATED/),
    ]);
    expect(r.stderr).toMatch(/config OK: .* \(2 warnings\)/);
  });

  it('warns on duplicate, overlapping and never-matching routes, and on anonymous cmds with no route', () => {
    const r = check(
      [
        'targets:',
        '  game: { url: "http://127.0.0.1:8081/game/{cmd}" }',
        '  map: { url: "http://127.0.0.1:8082/rpc" }',
        'routes:',
        '  - { cmds: "1000-2999", target: game }',
        '  - { cmds: "1000-2999", target: game }',
        '  - { cmds: [1500, "2900-3100"], target: map }',
        '  - { cmds: 1200, target: map }',
        'auth: { anonymousCmds: [1001, 5000, "6000-6005"] }',
      ].join('\n'),
    );
    expect(r.status).toBe(0);
    expect(r.warnings).toEqual([
      'warning: routes.1 (cmds 1000-2999 → game) duplicates routes.0; remove one',
      'warning: routes.2 (cmds 1500, 2900-3100 → map) overlaps routes.0 at cmds 1500, 2900-2999: the first match wins, so those go to game',
      'warning: routes.3 (cmd 1200 → map) is never used: every one of its cmds is matched by an earlier route first',
      'warning: auth.anonymousCmds: cmds 5000, 6000-6005 have no route and no plugin handler: its REQUESTs get ROUTE_NOT_FOUND',
    ]);
    expect(r.stderr).toMatch(/config OK: .* \(4 warnings\)/);
  });

  it('--strict exits 1 when there are warnings', () => {
    expect(check('{}', '--strict').status).toBe(1);
  });

  it('loads and sets up plugins: the cmds they answer are in the table and count as routed', () => {
    const r = check(
      [
        'targets: { game: { url: "http://127.0.0.1:8081/game/{cmd}" } }',
        'routes: [{ cmds: "1-6999", target: game }]',
        'auth: { anonymousCmds: [1, 7000] }',
        `plugins: [{ module: ${JSON.stringify(fixture('local.ts'))} }]`,
      ].join('\n'),
    );
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(
      /^ {2}7000, 7010-7021, 7030, 7040-7043 +plugin local +answered in the gateway$/m,
    );
    expect(r.stderr).toMatch(/plugins\.0 +local \(.*local\.ts\)/);
    expect(r.warnings).toEqual([]);
  });

  it('a missing plugin file fails with the key named', () => {
    const r = check('plugins: [{ module: ./no-such-plugin.js }]');
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/^game-gateway: plugins\.0\.module: cannot load "\.\/no-such-plugin\.js"/m);
    expect(r.stderr).not.toMatch(/config OK/);
  });

  it("a plugin whose setup refuses its options fails with the plugin's place named", () => {
    const r = check(
      [
        'targets: { game: { url: "http://127.0.0.1:8081/game/{cmd}" } }',
        'plugins: [{ module: map-ownership, options: { mapCmds: "2101-2199" } }]',
      ].join('\n'),
    );
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(
      /plugins\.0: plugin "map-ownership" \(module map-ownership\) failed to set up: .*enterMapCmd/,
    );
  });

  it('a node link TLS file that is not PEM fails with its key named', () => {
    const garbage = join(dir, 'garbage.pem');
    writeFileSync(garbage, 'not a certificate\n');
    const r = check(
      `cluster: { engine: redis, link: { listen: "127.0.0.1:0", tls: { cert: ${garbage}, key: ${garbage}, ca: ${garbage} } } }`,
    );
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/^game-gateway: cluster\.link\.tls\.cert: .*garbage\.pem is not PEM/m);
  });

  it('a bad target URL names the expected form', () => {
    const r = check('targets: { game: { url: "127.0.0.1:8081/game" } }');
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/targets\.game\.url: expected http\(s\):\/\/host:port\/path/);
  });

  it('masks the API token and the Redis password in the effective config', () => {
    const r = check(
      'api: { token: hunter2 }\ncluster: { redis: { url: "redis://gw:s3cret@10.0.0.5:6379/2" } }',
    );
    expect(r.status).toBe(0);
    const effective = JSON.parse(r.stdout);
    expect(effective.api.token).toBe('***');
    expect(effective.cluster.redis.url).toBe('redis://gw:***@10.0.0.5:6379/2');
    expect(r.stdout).not.toMatch(/hunter2|s3cret/);
  });
});
