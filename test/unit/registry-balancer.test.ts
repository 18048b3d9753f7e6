// Instance choice of a discovered target (src/registry/balancer.ts).

import { describe, expect, it } from 'vitest';
import { createBalancer, PlayerHash, RoundRobin, rendezvousPick } from '../../src/registry/balancer.js';

const three = [{ id: 'map-a' }, { id: 'map-b' }, { id: 'map-c' }];
const players = Array.from({ length: 10_000 }, (_, i) => `player-${i}`);

function spread(picks: Array<{ id: string } | undefined>): Map<string, number> {
  const counts = new Map<string, number>();
  for (const p of picks) counts.set(p!.id, (counts.get(p!.id) ?? 0) + 1);
  return counts;
}

describe('round-robin', () => {
  it('spreads requests over 3 instances within ±10 %', () => {
    const rr = new RoundRobin();
    const counts = spread(Array.from({ length: 3_000 }, () => rr.pick(three)));
    expect(counts.size).toBe(3);
    for (const n of counts.values()) expect(Math.abs(n - 1_000)).toBeLessThanOrEqual(100);
  });

  it('no instance: undefined; one: always it', () => {
    const rr = new RoundRobin();
    expect(rr.pick([])).toBeUndefined();
    expect(rr.pick([three[0]!])).toBe(three[0]);
  });
});

describe('player-hash (rendezvous)', () => {
  it('is sticky: the same key always picks the same instance, whatever the list order', () => {
    const ph = new PlayerHash();
    const reversed = [...three].reverse();
    for (const key of players.slice(0, 500)) {
      const first = ph.pick(three, key)!.id;
      expect(ph.pick(three, key)!.id).toBe(first);
      expect(ph.pick(reversed, key)!.id).toBe(first);
      expect(
        ph.pick(
          three.map((i) => ({ ...i })),
          key,
        )!.id,
      ).toBe(first);
    }
  });

  it('spreads players over 3 instances within ±10 %', () => {
    const counts = spread(players.map((p) => rendezvousPick(three, p)));
    for (const n of counts.values())
      expect(Math.abs(n - players.length / 3)).toBeLessThanOrEqual(players.length / 30);
  });

  it('a 4th instance joining 3 moves only the players it wins (≤ ~35 %), a leaving one only its own', () => {
    const four = [...three, { id: 'map-d' }];
    const before = players.map((p) => rendezvousPick(three, p)!.id);
    const after = players.map((p) => rendezvousPick(four, p)!.id);
    const moved = after.filter((id, i) => id !== before[i]);
    expect(moved.every((id) => id === 'map-d')).toBe(true);
    expect(moved.length / players.length).toBeLessThanOrEqual(0.35);
    expect(moved.length / players.length).toBeGreaterThan(0.15);

    const withoutB = three.filter((i) => i.id !== 'map-b');
    players.forEach((p, i) => {
      const now = rendezvousPick(withoutB, p)!.id;
      if (before[i] !== 'map-b') expect(now).toBe(before[i]);
    });
  });

  it('similar ids and keys still spread (ids that differ in their last character)', () => {
    const ids = Array.from({ length: 5 }, (_, i) => ({ id: `10.0.0.1:800${i}` }));
    const counts = spread(players.map((p) => rendezvousPick(ids, p)));
    expect(counts.size).toBe(5);
    for (const n of counts.values()) expect(n).toBeGreaterThan(players.length / 5 / 1.3);
  });
});

describe('createBalancer', () => {
  it('round-robin by default config name, player-hash by its name', () => {
    expect(createBalancer('round-robin')).toBeInstanceOf(RoundRobin);
    expect(createBalancer('player-hash')).toBeInstanceOf(PlayerHash);
    expect(createBalancer('player-hash').pick([], 'p')).toBeUndefined();
  });
});
