/** `targets.<name>.balance`: how a discovered target picks one of its instances. */
export const Balance = { roundRobin: 'round-robin', playerHash: 'player-hash' } as const;
export type Balance = (typeof Balance)[keyof typeof Balance];

/**
 * Picks the instance for one request. `key` is the player id, or the session id when
 * the session is not bound; round-robin ignores it. Undefined when there is no
 * instance (the request gets BACKEND_UNAVAILABLE).
 */
export interface Balancer {
  pick<T extends { readonly id: string }>(instances: readonly T[], key: string): T | undefined;
}

/** Each instance in turn. The counter survives list changes, so a change only shifts the turn. */
export class RoundRobin implements Balancer {
  private turn = 0;

  pick<T extends { readonly id: string }>(instances: readonly T[]): T | undefined {
    if (instances.length === 0) return undefined;
    // Kept below 2^31 so it never turns into a float after years of requests.
    this.turn = (this.turn + 1) & 0x7fffffff;
    return instances[this.turn % instances.length];
  }
}

/**
 * Rendezvous (highest random weight) hashing: every instance scores hash(key, id) and
 * the highest wins. The same key always picks the same instance while the list is the
 * same; when an instance joins, only the keys it now wins move (about 1/n of them), and
 * when one leaves, only its own keys move. Stateless, so every gateway node and worker
 * picks the same instance for a player.
 */
export class PlayerHash implements Balancer {
  pick<T extends { readonly id: string }>(instances: readonly T[], key: string): T | undefined {
    return rendezvousPick(instances, key);
  }
}

export function createBalancer(balance: Balance): Balancer {
  return balance === Balance.playerHash ? new PlayerHash() : new RoundRobin();
}

export function rendezvousPick<T extends { readonly id: string }>(
  instances: readonly T[],
  key: string,
): T | undefined {
  if (instances.length <= 1) return instances[0];
  const state = fnv1a(FNV_OFFSET, key);
  let best: T | undefined;
  let bestScore = -1;
  for (const instance of instances) {
    const score = rendezvousScore(state, instance.id);
    // Ties (2^-32 apart) go to the smaller id, so the pick never depends on list order.
    if (score > bestScore || (score === bestScore && best !== undefined && instance.id < best.id)) {
      best = instance;
      bestScore = score;
    }
  }
  return best;
}

const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

/**
 * The weight of `instanceId` for a key whose FNV-1a state is `keyState`: FNV-1a over
 * key, a separator and the id (streamed, no string is built), then murmur3's finalizer,
 * because plain FNV-1a of strings that differ only at the end is poorly mixed. Unsigned
 * 32 bits.
 */
function rendezvousScore(keyState: number, instanceId: string): number {
  let h = Math.imul(keyState ^ 0xff, FNV_PRIME); // separator: "a"+"bc" ≠ "ab"+"c"
  h = fnv1a(h, instanceId);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** FNV-1a (32-bit) of `text`'s UTF-16 code units, continuing from `state`. */
function fnv1a(state: number, text: string): number {
  let h = state;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), FNV_PRIME);
  return h;
}
