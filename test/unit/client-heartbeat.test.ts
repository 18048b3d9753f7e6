/**
 * The SDK's heartbeat (src/client/heartbeat.ts): PINGs when idle, `dead` after
 * deadAfterMs of silence from the gateway, but not for a silence this process caused by
 * being stalled (its event loop blocked past an interval: a long GC pause, a frozen VM).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Heartbeat } from '../../src/client/heartbeat.js';
import { sleep, waitFor } from '../support/wait.js';

/** Blocks this thread's event loop for `ms` (no timer, no I/O runs meanwhile). */
function stall(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

const beats: Heartbeat[] = [];
afterEach(() => {
  for (const b of beats.splice(0)) b.stop();
});

function heartbeat(intervalMs: number, deadAfterMs: number) {
  const seen = { pings: 0, dead: 0 };
  const hb: Heartbeat = new Heartbeat(
    intervalMs,
    deadAfterMs,
    () => {
      seen.pings++;
      hb.sent();
    },
    () => seen.dead++,
  );
  beats.push(hb);
  hb.start();
  return { hb, seen };
}

describe('client heartbeat', () => {
  it('pings when idle, and calls dead after deadAfterMs with nothing received', async () => {
    const { seen } = heartbeat(30, 150);
    await sleep(100);
    expect(seen.pings).toBeGreaterThanOrEqual(1);
    expect(seen.dead).toBe(0);
    await waitFor(() => seen.dead === 1, 2_000, 'dead');
  });

  it('traffic from the gateway keeps it alive', async () => {
    const { hb, seen } = heartbeat(30, 150);
    for (let i = 0; i < 10; i++) {
      await sleep(40);
      hb.received();
    }
    expect(seen.dead).toBe(0);
  });

  it('a stall of this process longer than deadAfterMs is not the gateway silent: it pings, and waits again', async () => {
    const { hb, seen } = heartbeat(30, 150);
    await sleep(40);
    hb.received();
    stall(400);
    const pingsBefore = seen.pings;
    await sleep(60);
    expect(seen.dead).toBe(0);
    expect(seen.pings).toBeGreaterThan(pingsBefore);
    // Still nothing from the gateway, now while this process runs: dead after all.
    await waitFor(() => seen.dead === 1, 2_000, 'dead');
  });
});
