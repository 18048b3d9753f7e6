// The layering of src/ that docs/architecture.md draws, kept by a test: which folder may
// import which, no import cycle between files (type-only imports included), and no file
// longer than a reader takes in at once.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const src = fileURLToPath(new URL('../../src', import.meta.url));

/** Bottom to top: each may import only those before it (docs/architecture.md, "Layers"). */
const LAYERS = [
  'version',
  'protocol',
  'config',
  'logger',
  'metrics',
  'transport',
  'session',
  'registry',
  'backend',
  'players',
  'request',
  'plugins',
  'api',
  'process',
  'gateway',
  'index',
  'cli',
];
/** The client SDK and the load tool stand apart: they share the protocol codec only. */
const APART: Record<string, string[]> = { client: ['protocol'], load: ['client', 'protocol'] };
const MAX_LINES = 400;

interface Source {
  path: string;
  lines: number;
  imports: string[];
}

function sources(): Source[] {
  const files = readdirSync(src, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.ts'));
  return files.map((f) => {
    const path = join(src, f);
    const text = readFileSync(path, 'utf8');
    // preProcessFile lists every import and export-from, `import type` included.
    const imports = ts
      .preProcessFile(text, true, true)
      .importedFiles.map((i) => i.fileName)
      .filter((name) => name.startsWith('.'))
      .map((name) => resolve(dirname(path), name).replace(/\.js$/, '.ts'));
    return { path, lines: text.split('\n').length - (text.endsWith('\n') ? 1 : 0), imports };
  });
}

/** `players` for src/players/redis/x.ts, `gateway` for src/gateway.ts. */
function folderOf(path: string): string {
  const [first, ...rest] = relative(src, path).split('/');
  return rest.length === 0 ? first.replace(/\.ts$/, '') : first;
}

describe('src/ layering', () => {
  const all = sources();

  it('every folder imports only the layers below it', () => {
    const wrong: string[] = [];
    for (const file of all) {
      const from = folderOf(file.path);
      for (const target of file.imports) {
        const to = folderOf(target);
        if (to === from || to === '..') continue; // version.ts reads ../package.json
        const allowed =
          from in APART
            ? APART[from].includes(to)
            : LAYERS.includes(from) && LAYERS.indexOf(to) !== -1 && LAYERS.indexOf(to) < LAYERS.indexOf(from);
        if (!allowed) wrong.push(`${relative(src, file.path)} → ${relative(src, target)}`);
      }
    }
    expect(wrong).toEqual([]);
  });

  it('knows every folder of src/', () => {
    const folders = new Set(all.map((f) => folderOf(f.path)));
    expect([...folders].filter((f) => !LAYERS.includes(f) && !(f in APART))).toEqual([]);
  });

  it('has no import cycle between files, type-only imports included', () => {
    const graph = new Map(all.map((f) => [f.path, f.imports.filter((i) => i.startsWith(src))]));
    const state = new Map<string, 'open' | 'done'>();
    const cycles: string[] = [];
    const visit = (path: string, trail: string[]): void => {
      if (state.get(path) === 'done') return;
      if (state.get(path) === 'open') {
        cycles.push([...trail.slice(trail.indexOf(path)), path].map((p) => relative(src, p)).join(' → '));
        return;
      }
      state.set(path, 'open');
      for (const next of graph.get(path) ?? []) visit(next, [...trail, path]);
      state.set(path, 'done');
    };
    for (const path of graph.keys()) visit(path, []);
    expect(cycles).toEqual([]);
  });

  it('the engines know players, not connections: no import of session/, no binding.session', () => {
    const engines = all.filter((f) => /players\/(memory-engine\.ts|redis\/)/.test(relative(src, f.path)));
    expect(engines.length).toBeGreaterThan(5);
    const wrong = engines.flatMap((f) => [
      ...f.imports
        .filter((i) => folderOf(i) === 'session')
        .map((i) => `${relative(src, f.path)} → ${relative(src, i)}`),
      ...(/\.session\b/.test(readFileSync(f.path, 'utf8'))
        ? [`${relative(src, f.path)} reads .session`]
        : []),
    ]);
    expect(wrong).toEqual([]);
  });

  it(`has no file over ${MAX_LINES} lines`, () => {
    const long = all.filter((f) => f.lines > MAX_LINES).map((f) => `${relative(src, f.path)}: ${f.lines}`);
    expect(long).toEqual([]);
  });
});
