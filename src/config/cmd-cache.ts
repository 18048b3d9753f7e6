import type { CmdSet } from './cmd-set.js';

/** Distinct cmds remembered; past this, lookups still answer, uncached. */
const MAX_CACHED = 65_536;

/**
 * Remembers what `resolve` answered for each cmd (bounded), so a lookup over a
 * range-heavy table costs one Map lookup per request after warm-up.
 */
export class CmdCache<T> {
  private readonly cache = new Map<number, T>();

  constructor(private readonly resolve: (cmd: number) => T) {}

  get(cmd: number): T {
    let value = this.cache.get(cmd);
    if (value === undefined) {
      value = this.resolve(cmd);
      if (this.cache.size < MAX_CACHED) this.cache.set(cmd, value);
    }
    return value;
  }
}

/** The first entry whose cmds contain `cmd`, in list order. */
export function firstMatch<E extends { readonly cmds: CmdSet }>(
  entries: readonly E[],
  cmd: number,
): E | null {
  for (const e of entries) if (e.cmds.has(cmd)) return e;
  return null;
}
