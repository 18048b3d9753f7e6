import { describe, expect, it } from 'vitest';
import { RECONNECT_AFTER_KICK, Status, shouldReconnectByDefault } from '../../src/client/index.js';
import { reconnectDelayMs, reconnectPolicy } from '../../src/client/reconnect-policy.js';

const kick = (status: number) => ({ kick: { status, error: '', message: '' }, error: null });

describe('client reconnect policy (docs/client.md table)', () => {
  it.each([
    ['IDLE_TIMEOUT', true],
    ['SERVER_SHUTDOWN', true],
    ['SLOW_CONSUMER', true],
    ['AUTH_TIMEOUT', true],
    ['KICKED', false],
    ['REPLACED', false],
    ['AUTH_FAILED', false],
    ['NOT_AUTHENTICATED', false],
    ['PROTOCOL_ERROR', false],
    ['BAD_FRAME', false],
    ['FRAME_TOO_LARGE', false],
  ] as const)('after KICK %s: reconnect %s', (name, expected) => {
    expect(shouldReconnectByDefault(kick(Status[name]))).toBe(expected);
    expect(RECONNECT_AFTER_KICK[Status[name]]).toBe(expected);
  });

  it('reconnects after a connection lost without a KICK, and not after an unknown KICK status', () => {
    expect(shouldReconnectByDefault({ kick: null, error: new Error('ECONNRESET') })).toBe(true);
    expect(shouldReconnectByDefault({ kick: null, error: null })).toBe(true);
    expect(shouldReconnectByDefault(kick(399))).toBe(false);
  });

  it('off unless asked; true takes the defaults; shouldReconnect replaces the default', () => {
    expect(reconnectPolicy(undefined)).toBeNull();
    expect(reconnectPolicy(false)).toBeNull();
    expect(reconnectPolicy(true)).toMatchObject({ minMs: 500, maxMs: 30_000, maxAttempts: Infinity });
    expect(reconnectPolicy(true)!.shouldReconnect).toBe(shouldReconnectByDefault);
    const always = () => true;
    expect(reconnectPolicy({ shouldReconnect: always })!.shouldReconnect).toBe(always);
  });

  it('backs off exponentially up to maxMs, jittered within [half, all] of the ceiling', () => {
    const p = reconnectPolicy({ minMs: 100, maxMs: 1_000 })!;
    expect([1, 2, 3, 4, 5].map((n) => reconnectDelayMs(p, n, () => 1))).toEqual([100, 200, 400, 800, 1_000]);
    expect([1, 2, 3, 4, 5].map((n) => reconnectDelayMs(p, n, () => 0))).toEqual([50, 100, 200, 400, 500]);
  });
});
