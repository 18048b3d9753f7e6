import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeFrame, FrameType } from '../../src/protocol/frame.js';
import { Status } from '../../src/protocol/status.js';
import { Cmd } from '../support/cmds.js';
import { type Running, startGateway } from '../support/gateway-fixture.js';
import { startBackend, type TestBackend } from '../support/processes.js';
import { json, RawClient } from '../support/raw-client.js';
import { sleep, waitFor } from '../support/wait.js';

let backend: TestBackend;
let gw: Running;

beforeAll(async () => {
  backend = await startBackend();
  gw = await startGateway(backend.url, { limits: { maxFrameBytes: 1_024 } }, 'silent');
});
afterAll(async () => {
  await gw.gateway.stop();
  await backend.stop();
});

function frame(type: number, flags = 0, length?: number): Buffer {
  const f = encodeFrame(FrameType.REQUEST, 0, Cmd.ECHO, 1, Buffer.from('x'));
  f[4] = type;
  f[5] = flags;
  if (length !== undefined) f.writeUInt32BE(length, 0);
  return f;
}

/** Sends `bytes`, then a valid echo request that must never be forwarded. */
async function expectKick(bytes: Buffer, status: number, name: string): Promise<void> {
  await backend.clear();
  const c = await RawClient.connect(gw.tcpPort);
  c.writeRaw(Buffer.concat([bytes, encodeFrame(FrameType.REQUEST, 0, Cmd.ECHO, 99, Buffer.from('after'))]));
  const kick = await c.nextOfType(FrameType.KICK);
  expect(kick.status).toBe(status);
  expect(json(kick)).toMatchObject({ error: name, message: expect.any(String) });
  await c.waitClosed();
  expect(c.frames.filter((f) => f.type === FrameType.RESPONSE)).toEqual([]);
  expect(await backend.requests()).toEqual([]);
}

describe('protocol errors (SPEC §3) end in a KICK and forward nothing after', () => {
  it('length < 12 → BAD_FRAME', () =>
    expectKick(Buffer.from([0, 0, 0, 4, 2, 0, 0, 0]), Status.BAD_FRAME, 'BAD_FRAME'));
  it('length > maxFrameBytes → FRAME_TOO_LARGE, without waiting for the body', () =>
    expectKick(Buffer.from([0, 0, 4, 1]), Status.FRAME_TOO_LARGE, 'FRAME_TOO_LARGE'));
  it('unknown type → PROTOCOL_ERROR', () => expectKick(frame(9), Status.PROTOCOL_ERROR, 'PROTOCOL_ERROR'));
  it('type 0 → PROTOCOL_ERROR', () => expectKick(frame(0), Status.PROTOCOL_ERROR, 'PROTOCOL_ERROR'));
  it.each([FrameType.HELLO, FrameType.RESPONSE, FrameType.PUSH, FrameType.PONG, FrameType.KICK])(
    'gateway-to-client type %i from a client → PROTOCOL_ERROR',
    (t) => expectKick(frame(t), Status.PROTOCOL_ERROR, 'PROTOCOL_ERROR'),
  );
  it('flags ≠ 0 → PROTOCOL_ERROR', () =>
    expectKick(frame(FrameType.REQUEST, 0x80), Status.PROTOCOL_ERROR, 'PROTOCOL_ERROR'));
  it('PING body over 64 bytes → BAD_FRAME', () =>
    expectKick(encodeFrame(FrameType.PING, 0, 0, 1, Buffer.alloc(65)), Status.BAD_FRAME, 'BAD_FRAME'));

  it('frames before the bad one are still handled', async () => {
    await backend.clear();
    const c = await RawClient.connect(gw.tcpPort);
    c.writeRaw(
      Buffer.concat([encodeFrame(FrameType.REQUEST, 0, Cmd.ECHO, 1, Buffer.from('first')), frame(9)]),
    );
    expect((await c.nextOfType(FrameType.KICK)).status).toBe(Status.PROTOCOL_ERROR);
    await c.waitClosed();
    // The first request was received whole and forwarded (its answer may be lost with the
    // connection, which the KICK closes); nothing after the bad frame was.
    await waitFor(
      async () => (await backend.requests()).length > 0,
      2_000,
      'the first request at the backend',
    );
    const seen = await backend.requests();
    expect(seen.map((r) => [r.headers['x-gateway-cmd'], r.headers['x-gateway-seq'], r.body])).toEqual([
      ['10', '1', 'first'],
    ]);
  });

  it('random bytes from a client end in the KICK the SPEC prescribes, or leave the session waiting or usable', async () => {
    // Raw bytes, and runs of frame-shaped bytes with a random type, flags, length and body.
    const frameLike = fc
      .record({
        type: fc.integer({ min: 0, max: 9 }),
        flags: fc.oneof(fc.constant(0), fc.constant(0), fc.integer({ min: 0, max: 255 })),
        body: fc.uint8Array({ maxLength: 80 }),
        lengthDelta: fc.oneof(fc.constant(0), fc.constant(0), fc.integer({ min: -16, max: 1_200 })),
        cut: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 8 })),
      })
      .map(({ type, flags, body, lengthDelta, cut }) => {
        const f = encodeFrame(FrameType.REQUEST, 0, Cmd.ECHO, 1, Buffer.from(body));
        f[4] = type;
        f[5] = flags;
        f.writeUInt32BE(Math.max(0, f.readUInt32BE(0) + lengthDelta), 0);
        return f.subarray(0, f.length - Math.min(cut, f.length));
      });
    const streams = fc.oneof(
      fc.uint8Array({ minLength: 4, maxLength: 64 }).map((b) => Buffer.from(b)),
      fc.array(frameLike, { minLength: 1, maxLength: 4 }).map((fs) => Buffer.concat(fs)),
    );
    await fc.assert(
      fc.asyncProperty(streams, async (bytes) => {
        const expected = expectedOutcome(bytes, 1_024);
        const c = await RawClient.connect(gw.tcpPort);
        c.writeRaw(bytes);
        if (typeof expected === 'number') {
          expect((await c.nextOfType(FrameType.KICK, 2_000)).status).toBe(expected);
        } else if (expected === 'waiting') {
          // Part of a frame: the session waits for the rest, and is not kicked for it.
          await sleep(50);
          expect(c.frames.filter((f) => f.type === FrameType.KICK)).toEqual([]);
          expect(c.closed).toBe(false);
        } else {
          c.send(FrameType.PING, 0, 77, 'still there');
          await c.next((f) => f.type === FrameType.PONG && f.seq === 77, 2_000);
          expect(c.frames.filter((f) => f.type === FrameType.KICK)).toEqual([]);
        }
        c.close();
      }),
      { numRuns: 60 },
    );
    // The gateway still serves.
    const c = await RawClient.connect(gw.tcpPort);
    expect((await c.request(Cmd.ECHO, 'alive')).body.toString()).toBe('alive');
    c.close();
  });

  it('PING is answered with PONG carrying its seq and body', async () => {
    const c = await RawClient.connect(gw.tcpPort);
    c.send(FrameType.PING, 0, 1234, 'tick');
    const pong = await c.nextOfType(FrameType.PONG);
    expect(pong).toMatchObject({ seq: 1234, status: 0 });
    expect(pong.body.toString()).toBe('tick');
    c.close();
  });
});

/**
 * What SPEC §3 prescribes for a byte stream from a client, frame by frame: the status of
 * the KICK it ends in, 'waiting' when it ends inside a frame, or 'usable' when every frame
 * in it was whole and allowed (REQUEST, NOTIFY, a PING with at most 64 bytes of body).
 */
function expectedOutcome(bytes: Buffer, maxFrameBytes: number): number | 'waiting' | 'usable' {
  let off = 0;
  while (bytes.length - off >= 4) {
    const length = bytes.readUInt32BE(off);
    if (length < 12) return Status.BAD_FRAME;
    if (length > maxFrameBytes) return Status.FRAME_TOO_LARGE;
    if (bytes.length - off < 4 + length) return 'waiting';
    const type = bytes[off + 4];
    if (bytes[off + 5] !== 0) return Status.PROTOCOL_ERROR;
    if (type === FrameType.PING && length - 12 > 64) return Status.BAD_FRAME;
    if (type !== FrameType.REQUEST && type !== FrameType.NOTIFY && type !== FrameType.PING) {
      return Status.PROTOCOL_ERROR;
    }
    off += 4 + length;
  }
  return off < bytes.length ? 'waiting' : 'usable';
}
