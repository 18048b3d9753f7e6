import type { Instance } from './records.js';

export interface InstanceDiff {
  /** New ids, or known ids at a new address: open a pool for each. */
  readonly added: readonly Instance[];
  /** Gone ids, or known ids whose address changed: no new requests; close each pool once its requests in flight finish. */
  readonly removed: readonly Instance[];
}

/**
 * What changed between two instance lists of one target (ServiceWatch onChange), so a
 * caller holding one pool per instance opens and closes only what changed. An id whose
 * baseUrl changed is both removed (old address) and added (new one).
 */
export function diffInstances(before: readonly Instance[], after: readonly Instance[]): InstanceDiff {
  const previous = new Map(before.map((i) => [i.id, i.baseUrl]));
  const next = new Map(after.map((i) => [i.id, i.baseUrl]));
  return {
    added: after.filter((i) => previous.get(i.id) !== i.baseUrl),
    removed: before.filter((i) => next.get(i.id) !== i.baseUrl),
  };
}
