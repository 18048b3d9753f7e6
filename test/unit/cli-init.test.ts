import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { checkConfig } from '../../src/cli/check-config.js';
import { configPaths, init, NOTES, starterConfig } from '../../src/cli/init.js';
import { buildConfig } from '../../src/config/load.js';
import { configSchema } from '../../src/config/schema.js';

const dir = mkdtempSync(join(tmpdir(), 'gw-init-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function capture() {
  const out = { stdout: '', stderr: '' };
  const io = {
    stdout: (t: string) => {
      out.stdout += t;
    },
    stderr: (t: string) => {
      out.stderr += t;
    },
  };
  return { out, io };
}

/** The text with the commented example block of top-level-or-nested `key` made live. */
function uncomment(text: string, key: string): string {
  const lines = text.split('\n');
  const start = lines.findIndex((l) => l.trimStart() === `# ${key}:`);
  expect(start).toBeGreaterThan(0);
  const pad = lines[start].indexOf('#');
  const live = lines[start - 1];
  expect(live.trim()).toMatch(new RegExp(`^${key}: (\\{\\}|\\[\\]|null)$`));
  let end = start;
  // The block: `# key:`, then lines commented at the same place and indented under it.
  do end++;
  while (end < lines.length && lines[end].startsWith(`${' '.repeat(pad)}#   `));
  const block = lines.slice(start, end).map((l) => ' '.repeat(pad) + l.slice(pad + 2));
  return [...lines.slice(0, start - 1), ...block, ...lines.slice(end)].join('\n');
}

describe('game-gateway init: the starter config', () => {
  it('has a note for every key of the schema, and no note for a key the schema lacks', () => {
    const paths = configPaths();
    expect(paths.length).toBeGreaterThan(60);
    expect(paths.filter((p) => NOTES[p] === undefined)).toEqual([]);
    expect(Object.keys(NOTES).filter((p) => !paths.includes(p))).toEqual([]);
  });

  it('loads to exactly the embedded default', () => {
    const text = starterConfig();
    // Every key of the schema is in the text (live or in a commented example).
    for (const p of configPaths()) {
      const leaf = p.split(/\.|\[\]\./).at(-1);
      expect(text, p).toMatch(new RegExp(`^[ #]*(- )?${leaf}:`, 'm'));
    }
    expect(buildConfig(parse(text))).toEqual(configSchema.parse({}));
  });

  it('its commented examples are valid once uncommented', () => {
    let text = starterConfig();
    for (const key of ['targets', 'routes', 'tls', 'etcd']) text = uncomment(text, key);
    const config = buildConfig(parse(text));
    expect(config.targets.game.url).toBe('http://127.0.0.1:8081/game/{cmd}');
    expect(config.routes).toEqual([{ cmds: '1000-2999', target: 'game' }]);
    expect(config.registry.etcd?.endpoints).toEqual(['http://127.0.0.1:2379']);
    expect(config.listen.tls?.cert).toBe('gateway.crt');
  });

  it('writes FILE, which check-config accepts; refuses to replace a file; stdout without FILE', async () => {
    const file = join(dir, 'gateway.yaml');
    const written = capture();
    expect(init(file, written.io)).toBe(0);
    expect(readFileSync(file, 'utf8')).toBe(starterConfig());
    const checked = capture();
    expect(await checkConfig(file, checked.io, { env: {} })).toBe(0);
    expect(checked.out.stderr).toContain(`config OK: ${file}`);

    writeFileSync(file, 'mine\n');
    expect(() => init(file, capture().io)).toThrow(/exists/);
    expect(readFileSync(file, 'utf8')).toBe('mine\n');

    const printed = capture();
    expect(init(undefined, printed.io)).toBe(0);
    expect(printed.out.stdout).toBe(starterConfig());
  });
});
