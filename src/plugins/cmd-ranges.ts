import { CmdSet, type CmdSpec } from '../config/cmd-set.js';

/**
 * A cmd spec as inclusive [lo, hi] ranges, for overlap checks at setup (handlers, map
 * owners). Validates with CmdSet first, so a bad spec fails with CmdSet's message.
 */
export function cmdRanges(spec: CmdSpec): Array<[number, number]> {
  CmdSet.parse(spec);
  return (Array.isArray(spec) ? spec : [spec]).map((part) => {
    if (typeof part === 'number') return [part, part];
    const [lo, hi = lo] = part.split('-').map((s) => Number(s.trim()));
    return [lo, hi];
  });
}

/** The first number both range lists contain, or null when they are disjoint. */
export function firstOverlap(
  a: ReadonlyArray<[number, number]>,
  b: ReadonlyArray<[number, number]>,
): number | null {
  let first: number | null = null;
  for (const [alo, ahi] of a) {
    for (const [blo, bhi] of b) {
      const lo = Math.max(alo, blo);
      if (lo <= Math.min(ahi, bhi) && (first === null || lo < first)) first = lo;
    }
  }
  return first;
}
