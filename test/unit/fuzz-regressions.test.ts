/**
 * Replays every saved fuzz case (test/fixtures/fuzz-regressions/*.json) through its
 * target: inputs `npm run fuzz` once found failing (saved there by scripts/fuzz.ts), and
 * hand-picked edge cases of the same targets. Each must now pass the same checks as in
 * the fuzz run (test/support/fuzz-targets.ts): the real decoder, session and push-API
 * dispatch against their references.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { type Regression, replay } from '../support/fuzz-targets.js';

const dir = fileURLToPath(new URL('../fixtures/fuzz-regressions', import.meta.url));
const files = readdirSync(dir).filter((f) => f.endsWith('.json'));
const cases = files.map((f) => [f, JSON.parse(readFileSync(join(dir, f), 'utf8')) as Regression] as const);

describe('fuzz regressions', () => {
  it('has cases for every target', () => {
    expect(new Set(cases.map(([, r]) => r.target))).toEqual(new Set(['decoder', 'session', 'api']));
  });

  it.each(cases)('%s', async (_file, r) => {
    await replay(r);
  });
});
