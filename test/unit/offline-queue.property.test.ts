/**
 * OfflineQueue against a model that is just an array: random runs of add / drain /
 * trimExpired / clear with time moving forward. After every step the queue and the model
 * agree on length, bytes, what drain returns and every drop count by reason, and the
 * bounds hold.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type DropReason, type OfflineBounds, OfflineQueue } from '../../src/players/offline-queue.js';

type Op =
  | { kind: 'add'; dt: number; cmd: number; size: number }
  | { kind: 'drain'; dt: number }
  | { kind: 'trim'; dt: number }
  | { kind: 'clear'; dt: number };

interface ModelMessage {
  cmd: number;
  size: number;
  seq: number;
  expiresAt: number;
}

/** The obvious implementation: filter and shift on a plain array. */
class Model {
  items: ModelMessage[] = [];
  drops: Record<DropReason, number> = { overflow: 0, expired: 0, forgotten: 0 };
  constructor(private readonly bounds: OfflineBounds) {}

  get bytes(): number {
    return this.items.reduce((s, m) => s + m.size, 0);
  }

  trim(now: number): number {
    const keep = this.items.filter((m) => m.expiresAt > now);
    const n = this.items.length - keep.length;
    this.items = keep;
    this.drops.expired += n;
    return n;
  }

  add(cmd: number, size: number, seq: number, now: number): boolean {
    this.trim(now);
    if (this.bounds.maxMessages === 0 || size > this.bounds.maxBytes) {
      this.drops.overflow++;
      return false;
    }
    while (this.items.length >= this.bounds.maxMessages || this.bytes + size > this.bounds.maxBytes) {
      this.items.shift();
      this.drops.overflow++;
    }
    this.items.push({ cmd, size, seq, expiresAt: now + this.bounds.ttlMs });
    return true;
  }

  drain(now: number): ModelMessage[] {
    this.trim(now);
    const out = this.items;
    this.items = [];
    return out;
  }

  clear(): void {
    this.drops.forgotten += this.items.length;
    this.items = [];
  }
}

const bounds = fc.record({
  maxMessages: fc.integer({ min: 0, max: 12 }),
  maxBytes: fc.integer({ min: 0, max: 300 }),
  ttlMs: fc.integer({ min: 1, max: 200 }),
});

const op: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant('add' as const),
      dt: fc.integer({ min: 0, max: 40 }),
      cmd: fc.integer({ min: 0, max: 0xffffffff }),
      // Mostly small bodies, sometimes one near or over maxBytes.
      size: fc.oneof(
        { weight: 4, arbitrary: fc.integer({ min: 0, max: 40 }) },
        fc.integer({ min: 0, max: 320 }),
      ),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({ kind: fc.constant('drain' as const), dt: fc.integer({ min: 0, max: 120 }) }),
  },
  {
    weight: 2,
    arbitrary: fc.record({ kind: fc.constant('trim' as const), dt: fc.integer({ min: 0, max: 120 }) }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant('clear' as const), dt: fc.integer({ min: 0, max: 10 }) }),
  },
);

function run(b: OfflineBounds, ops: Op[]): void {
  const drops: Record<DropReason, number> = { overflow: 0, expired: 0, forgotten: 0 };
  const queue = new OfflineQueue(b, (reason, count) => {
    expect(count).toBeGreaterThan(0);
    drops[reason] += count;
  });
  const model = new Model(b);
  let now = 1_000_000;
  // Like MemoryEngine.store (src/players/memory-engine.ts): a seq is taken only when the
  // queue accepts the message.
  let seq = 0;

  for (const o of ops) {
    now += o.dt;
    switch (o.kind) {
      case 'add': {
        const body = Buffer.alloc(o.size, seq & 0xff);
        const accepted = queue.add(o.cmd, body, seq + 1, now);
        expect(accepted).toBe(model.add(o.cmd, o.size, seq + 1, now));
        if (accepted) seq++;
        break;
      }
      case 'drain': {
        const got = queue.drain(now);
        const want = model.drain(now);
        expect(got.map((m) => [m.seq, m.cmd, m.body.length, m.expiresAt])).toEqual(
          want.map((m) => [m.seq, m.cmd, m.size, m.expiresAt]),
        );
        // Oldest first, ascending seq, nothing expired.
        for (let i = 1; i < got.length; i++) expect(got[i].seq).toBeGreaterThan(got[i - 1].seq);
        for (const m of got) expect(m.expiresAt).toBeGreaterThan(now);
        expect(queue.length).toBe(0);
        expect(queue.bytes).toBe(0);
        break;
      }
      case 'trim':
        expect(queue.trimExpired(now)).toBe(model.trim(now));
        break;
      case 'clear':
        queue.clear();
        model.clear();
        break;
    }
    expect(queue.length).toBe(model.items.length);
    expect(queue.bytes).toBe(model.bytes);
    expect(queue.length).toBeLessThanOrEqual(b.maxMessages);
    expect(queue.bytes).toBeLessThanOrEqual(b.maxBytes);
    expect(drops).toEqual(model.drops);
  }
  // Whatever is left drains in order too.
  now += 1;
  expect(queue.drain(now).map((m) => m.seq)).toEqual(model.drain(now).map((m) => m.seq));
  expect(drops).toEqual(model.drops);
}

describe('OfflineQueue (property, against an array model)', () => {
  it('bounds, order, expiry and drop counts match the model', () => {
    fc.assert(
      fc.property(bounds, fc.array(op, { maxLength: 120 }), (b, ops) => run(b, ops)),
      { numRuns: 500 },
    );
  });

  it('long runs that make the queue compact its dead prefix', () => {
    // Many adds with a tiny count bound and no expiry in sight: thousands of shifts.
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 5 }),
        fc.array(op, { minLength: 300, maxLength: 1_500 }),
        (maxMessages, ops) => run({ maxMessages, maxBytes: 10_000, ttlMs: 1_000_000 }, ops),
      ),
      { numRuns: 60 },
    );
  });

  it('a drained message array is not shared with later adds', () => {
    const queue = new OfflineQueue({ maxMessages: 10, maxBytes: 100, ttlMs: 1_000 }, () => {});
    queue.add(1, Buffer.from('a'), 1, 0);
    const first = queue.drain(1);
    queue.add(2, Buffer.from('b'), 2, 2);
    expect(first.map((m) => m.seq)).toEqual([1]);
    expect(queue.drain(3).map((m) => m.seq)).toEqual([2]);
  });
});
