import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatRanges, intersect, normalize, type Range, subtract } from '../../src/cli/cmd-ranges.js';

const range = fc
  .tuple(fc.integer({ min: 0, max: 60 }), fc.integer({ min: 0, max: 8 }))
  .map(([lo, n]): Range => [lo, lo + n]);
const members = (ranges: readonly Range[]) => {
  const out = new Set<number>();
  for (const [lo, hi] of ranges) for (let c = lo; c <= hi; c++) out.add(c);
  return out;
};

describe('check-config cmd range arithmetic', () => {
  it('formats joined, sorted ranges', () => {
    expect(
      formatRanges([
        [7, 7],
        [1000, 1999],
        [2000, 2000],
        [5, 6],
      ]),
    ).toBe('5-7, 1000-2000');
    expect(
      normalize([
        [3, 4],
        [1, 1],
      ]),
    ).toEqual([
      [1, 1],
      [3, 4],
    ]);
  });

  it('intersect and subtract agree with set arithmetic on the cmds', () => {
    fc.assert(
      fc.property(fc.array(range, { maxLength: 5 }), fc.array(range, { maxLength: 5 }), (a, b) => {
        const A = members(a);
        const B = members(b);
        expect(members(intersect(a, b))).toEqual(new Set([...A].filter((c) => B.has(c))));
        expect(members(subtract(a, b))).toEqual(new Set([...A].filter((c) => !B.has(c))));
      }),
    );
  });

  it('handles the u32 edges', () => {
    expect(subtract([[0, 0xffffffff]], [[1, 0xfffffffe]])).toEqual([
      [0, 0],
      [0xffffffff, 0xffffffff],
    ]);
  });
});
