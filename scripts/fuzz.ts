/**
 * Fuzz at scale (not in CI): fast-check byte streams through the real frame decoder and a
 * real Session, and requests through the push API's real dispatch (routes, body reading,
 * JSON and zod schemas, the octet-stream query), each against an independent reference
 * (test/support/fuzz-targets.ts). Prints streams/s per target, crashes and the seed; a
 * failing input (shrunk) is saved under test/fixtures/fuzz-regressions/, which
 * test/unit/fuzz-regressions.test.ts replays in CI.
 *
 *   npm run fuzz [-- --seed S] [--decoder N] [--session N] [--api N]
 *
 * Runs go in batches (seed + batch number), so one failure does not end the run and each
 * batch can be replayed alone: fc.check with that seed.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import fc from 'fast-check';
import { root } from '../bench/lib.js';
import {
  type ApiCase,
  apiCase,
  checkApi,
  checkDecoder,
  checkSession,
  type FuzzTarget,
  type StreamCase,
  streamCase,
} from '../test/support/fuzz-targets.js';

const { values } = parseArgs({
  options: {
    seed: { type: 'string' },
    decoder: { type: 'string', default: '1000000' },
    session: { type: 'string', default: '300000' },
    api: { type: 'string', default: '150000' },
    batch: { type: 'string', default: '50000' },
    'max-failures': { type: 'string', default: '3' },
  },
});
const seed = values.seed === undefined ? (Math.random() * 2 ** 31) | 0 : Number(values.seed);
const BATCH = Number(values.batch);
/** A target that failed this often stops: its saved cases say enough, and the run stays short. */
const MAX_FAILURES = Number(values['max-failures']);
const dir = join(root, 'test/fixtures/fuzz-regressions');

type Prop = fc.IProperty<[StreamCase]> | fc.IAsyncProperty<[StreamCase]> | fc.IAsyncProperty<[ApiCase]>;
const properties: Record<FuzzTarget, () => Prop> = {
  decoder: () => fc.property(streamCase(), checkDecoder),
  session: () => fc.asyncProperty(streamCase(), checkSession),
  api: () => fc.asyncProperty(apiCase(), checkApi),
};

console.log(`fuzz: seed ${seed}`);
let total = 0;
let crashes = 0;
const started = performance.now();
for (const target of ['decoder', 'session', 'api'] as const) {
  const runs = Number(values[target]);
  const t0 = performance.now();
  let done = 0;
  let failures = 0;
  for (let batch = 0; done < runs && failures < MAX_FAILURES; batch++) {
    const numRuns = Math.min(BATCH, runs - done);
    const batchSeed = (seed + batch) | 0;
    const details = await fc.check(properties[target]() as fc.IAsyncProperty<[unknown]>, {
      numRuns,
      seed: batchSeed,
    });
    done += details.numRuns;
    if (details.failed) {
      crashes++;
      failures++;
      const error = String(details.errorInstance ?? 'failed').split('\n')[0];
      mkdirSync(dir, { recursive: true });
      const file = join(dir, `${target}-${batchSeed}.json`);
      const input = details.counterexample?.[0];
      writeFileSync(file, `${JSON.stringify({ target, note: error, seed: batchSeed, input }, null, 2)}\n`);
      console.log(`fuzz: ${target} FAILED (seed ${batchSeed}, path ${details.counterexamplePath}): ${error}`);
      console.log(`      saved ${file}`);
      // The rest of a failing batch was not run: count what was.
    }
  }
  const seconds = (performance.now() - t0) / 1000;
  total += done;
  console.log(
    JSON.stringify({
      target,
      streams: done,
      seconds: Math.round(seconds * 10) / 10,
      streamsPerS: Math.round(done / seconds),
    }),
  );
}
const seconds = (performance.now() - started) / 1000;
console.log(
  `VERDICT ${crashes === 0 ? 'PASS' : 'FAIL'}: ${total} streams in ${seconds.toFixed(1)} s ` +
    `(${Math.round(total / seconds)} streams/s), ${crashes} crashes, seed ${seed}`,
);
process.exit(crashes === 0 ? 0 : 1);
