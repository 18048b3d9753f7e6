/**
 * plainPushBody (the zod-free check of POST /v1/push) must accept exactly what the zod
 * schema accepts, with the same result: compared on generated bodies, valid and not.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { plainPushBody, pushBody } from '../../src/api/schemas.js';

const validId = fc.oneof(
  fc.constantFrom('p1', '玩家1', 'ok-id', '__proto__', 'a b'),
  fc.stringMatching(/^[a-z0-9]{1,12}$/),
);
const badId = fc.constantFrom('', ' lead', 'trail ', 'a,b', 'x\u0001', '\ud800', 'x'.repeat(300));
const anyValue = fc.oneof(
  fc.constant(null),
  fc.boolean(),
  fc.integer(),
  fc.string(),
  fc.constant([]),
  fc.constant({}),
);

const body = fc
  .record(
    {
      players: fc.oneof(
        { weight: 8, arbitrary: fc.array(validId, { minLength: 1, maxLength: 4 }) },
        { weight: 1, arbitrary: fc.array(fc.oneof(validId, badId), { maxLength: 4 }) },
        { weight: 1, arbitrary: anyValue },
      ),
      cmd: fc.oneof(
        { weight: 8, arbitrary: fc.integer({ min: 0, max: 0xffffffff }) },
        {
          weight: 2,
          arbitrary: fc.oneof(fc.constantFrom(-1, 1.5, 2 ** 32, Number.MAX_SAFE_INTEGER), anyValue),
        },
      ),
      data: fc.oneof(
        {
          weight: 8,
          arbitrary: fc.uint8Array({ maxLength: 12 }).map((b) => Buffer.from(b).toString('base64')),
        },
        { weight: 1, arbitrary: fc.constantFrom('aGk', 'aG', 'a', 'a===', '####', 'aGk=\n') },
        { weight: 1, arbitrary: anyValue },
      ),
      offline: fc.oneof({ weight: 8, arbitrary: fc.boolean() }, { weight: 1, arbitrary: anyValue }),
      extra: anyValue,
    },
    { requiredKeys: [] },
  )
  .filter((b) => !('extra' in b) || Math.random() < 0.3);

describe('plainPushBody', () => {
  it('accepts exactly what pushBody accepts, with the same result', () => {
    let accepted = 0;
    let rejected = 0;
    fc.assert(
      fc.property(fc.oneof({ weight: 19, arbitrary: body }, { weight: 1, arbitrary: anyValue }), (b) => {
        const parsed = JSON.parse(JSON.stringify(b));
        const z = pushBody.safeParse(parsed);
        const plain = plainPushBody(parsed);
        expect(plain).toEqual(z.success ? z.data : undefined);
        if (plain === undefined) rejected++;
        else accepted++;
      }),
      { numRuns: 20_000 },
    );
    // Both sides were exercised.
    expect(accepted).toBeGreaterThan(1_000);
    expect(rejected).toBeGreaterThan(1_000);
  });

  it('takes a __proto__ key as unknown (JSON.parse makes it an own key), as the schema does', () => {
    const parsed = JSON.parse('{"players":["a"],"cmd":1,"__proto__":{"x":1}}');
    expect(pushBody.safeParse(parsed).success).toBe(false);
    expect(plainPushBody(parsed)).toBeUndefined();
  });

  it('fills the defaults as the schema does', () => {
    expect(plainPushBody({ players: ['a'], cmd: 1 })).toEqual({
      players: ['a'],
      cmd: 1,
      data: '',
      offline: true,
    });
  });
});
