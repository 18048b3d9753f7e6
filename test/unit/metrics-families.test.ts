// Bounded memory of the metric families (src/metrics/families.ts): a label with unbounded
// values (player_id in `all` mode) must not grow the number of series forever.

import { describe, expect, it } from 'vitest';
import { CounterFamily, DEFAULT_BUCKETS, HistogramFamily } from '../../src/metrics/families.js';
import { GatewayMetrics, MAX_LABELLED_PLAYERS } from '../../src/metrics/metrics.js';

describe('metric families', () => {
  it('a counter family past maxChildren sends new label sets to one shared overflow child', () => {
    const family = new CounterFamily('test_total', 'help', ['cmd', 'player_id'], 3);
    for (let i = 0; i < 50; i++) family.child('10', `player-${i}`).inc();
    const { values } = family.get();
    expect(values).toHaveLength(4);
    expect(values.slice(0, 3).map((v) => v.labels.player_id)).toEqual(['player-0', 'player-1', 'player-2']);
    expect(values[3]).toEqual({ labels: { cmd: 'overflow', player_id: 'overflow' }, value: 47 });
    // Nothing is lost: the total is every increment.
    expect(family.total()).toBe(50);
    // Children created before the cap keep counting under their own labels.
    family.child('10', 'player-1').inc(5);
    expect(family.total({ player_id: 'player-1' })).toBe(6);
  });

  it('a single-label family overflows into {label="overflow"}', () => {
    const family = new CounterFamily('test_total', 'help', ['type'], 2);
    for (const t of ['a', 'b', 'c', 'd', 'c']) family.child(t).inc();
    expect(family.get().values.map((v) => [v.labels.type, v.value])).toEqual([
      ['a', 1],
      ['b', 1],
      ['overflow', 3],
    ]);
  });

  it('a histogram family exports the default buckets cumulatively, then _sum and _count', () => {
    const family = new HistogramFamily('test_seconds', 'help', ['cmd']);
    const child = family.child('10');
    for (const s of [0.001, 0.005, 0.0051, 0.3, 20]) child.observe(s);
    const values = family.get().values;
    const buckets = values.filter((v) => v.metricName === 'test_seconds_bucket');
    expect(buckets.map((b) => b.labels.le)).toEqual([...DEFAULT_BUCKETS, '+Inf']);
    // le is inclusive: 0.005 falls in the 0.005 bucket.
    expect(buckets.map((b) => b.value)).toEqual([2, 3, 3, 3, 3, 3, 4, 4, 4, 4, 4, 5]);
    expect(values.find((v) => v.metricName === 'test_seconds_sum')?.value).toBeCloseTo(20.3111);
    expect(values.find((v) => v.metricName === 'test_seconds_count')?.value).toBe(5);
  });

  it('gateway_requests_total stays bounded however many players are labelled (player_id "all")', async () => {
    const metrics = new GatewayMetrics({ defaultMetrics: false });
    const players = 12_000;
    for (let i = 0; i < players; i++) metrics.countPlayerRequest(10, `player-${i}`, 'game', 'success');
    const text = await metrics.text();
    const series = text.split('\n').filter((l) => l.startsWith('gateway_requests_total{'));
    // 2 000 players get their own series; the other 10 000 share one, labels kept but player_id.
    expect(series.length).toBe(MAX_LABELLED_PLAYERS + 1);
    expect(series).toContain(
      `gateway_requests_total{cmd="10",player_id="overflow",route_target="game",result="success"} ${players - MAX_LABELLED_PLAYERS}`,
    );
    expect(metrics.requests.total()).toBe(players);
    // The cap is per family: other metrics still get their own children.
    metrics.error('route_not_found');
    expect(await metrics.text()).toContain('gateway_errors_total{type="route_not_found"} 1');
  });
});
