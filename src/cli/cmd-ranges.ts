/** Inclusive [lo, hi] cmd ranges as plain arithmetic, for reporting which cmds go where. */
export type Range = readonly [number, number];

/** Sorted, with overlapping and adjacent ranges joined. */
export function normalize(ranges: readonly Range[]): Range[] {
  const sorted = [...ranges].sort((a, b) => a[0] - b[0]);
  const out: Array<[number, number]> = [];
  for (const [lo, hi] of sorted) {
    const last = out[out.length - 1];
    if (last !== undefined && lo <= last[1] + 1) last[1] = Math.max(last[1], hi);
    else out.push([lo, hi]);
  }
  return out;
}

/** The parts of `a` that are also in `b`. */
export function intersect(a: readonly Range[], b: readonly Range[]): Range[] {
  const out: Range[] = [];
  for (const [alo, ahi] of normalize(a)) {
    for (const [blo, bhi] of normalize(b)) {
      const lo = Math.max(alo, blo);
      const hi = Math.min(ahi, bhi);
      if (lo <= hi) out.push([lo, hi]);
    }
  }
  return normalize(out);
}

/** The parts of `a` that are not in `b`. */
export function subtract(a: readonly Range[], b: readonly Range[]): Range[] {
  let rest = normalize(a);
  for (const [blo, bhi] of normalize(b)) {
    const next: Range[] = [];
    for (const [lo, hi] of rest) {
      if (bhi < lo || blo > hi) next.push([lo, hi]);
      else {
        if (lo < blo) next.push([lo, blo - 1]);
        if (bhi < hi) next.push([bhi + 1, hi]);
      }
    }
    rest = next;
  }
  return rest;
}

/** `1000-1999, 2001` */
export function formatRanges(ranges: readonly Range[]): string {
  return normalize(ranges)
    .map(([lo, hi]) => (lo === hi ? String(lo) : `${lo}-${hi}`))
    .join(', ');
}
