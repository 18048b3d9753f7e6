// The repository stands alone: README.md and docs/ cite nothing outside it (no ../shared,
// no seed file), every relative link reaches a file, and every repository path they name
// in backticks exists.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));
const pages = [
  'README.md',
  ...readdirSync(join(root, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => `docs/${f}`),
];
const text = (page: string) => readFileSync(join(root, page), 'utf8');

/** `src/…`, `test/…` and the like, with an extension: a file a reader would open. */
const REPO_PATH =
  /`((?:src|test|bench|scripts|examples|sdk|deploy|console|docs|\.ci)\/[\w./@-]+\.(?:ts|md|go|json|ya?ml|mjs|js|css|html|mod))`/g;
const LINK = /\]\(([^)\s]+)\)/g;

describe('docs stand alone', () => {
  it.each(pages)('%s cites nothing outside the repository', (page) => {
    expect(text(page)).not.toMatch(/\.\.\/shared|shared\/SPEC|seeds\//);
  });

  it.each(pages)('%s: every relative link reaches a file', (page) => {
    const broken: string[] = [];
    for (const [, target] of text(page).matchAll(LINK)) {
      if (/^[a-z]+:|^#/.test(target)) continue; // a URL, or an anchor on the same page
      const file = target.split('#')[0];
      if (!existsSync(resolve(root, dirname(page), file))) broken.push(target);
    }
    expect(broken).toEqual([]);
  });

  it.each(pages)('%s: every repository path it names exists', (page) => {
    const missing = [...text(page).matchAll(REPO_PATH)]
      .map(([, path]) => path)
      .filter((path) => !path.includes('*') && !existsSync(join(root, path)));
    expect(missing).toEqual([]);
  });
});
