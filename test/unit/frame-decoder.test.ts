import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { encodeFrame, type FrameType } from '../../src/protocol/frame.js';
import { FrameDecoder, MAX_FRAME_BYTES } from '../../src/protocol/frame-decoder.js';
import { Status } from '../../src/protocol/status.js';

interface Decoded {
  type: number;
  status: number;
  cmd: number;
  seq: number;
  body: string;
}

function decodeAll(chunks: Buffer[], max = 65_536): { frames: Decoded[]; error: number | null } {
  const frames: Decoded[] = [];
  const d = new FrameDecoder(max, (type, status, cmd, seq, body) =>
    frames.push({ type, status, cmd, seq, body: body.toString('hex') }),
  );
  let error: number | null = null;
  for (const c of chunks) error = d.push(c) ?? error;
  return { frames, error };
}

const frameArb = fc.record({
  type: fc.integer({ min: 1, max: 8 }),
  status: fc.integer({ min: 0, max: 65_535 }),
  cmd: fc.nat({ max: 0xffffffff }),
  seq: fc.nat({ max: 0xffffffff }),
  body: fc.uint8Array({ maxLength: 300 }),
});

/** Splits `buf` at the given cut points (sorted, deduplicated). */
function split(buf: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (buf.length + 1)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let prev = 0;
  for (const p of points) {
    out.push(buf.subarray(prev, p));
    prev = p;
  }
  out.push(buf.subarray(prev));
  return out;
}

describe('FrameDecoder', () => {
  it('any split of a valid stream decodes to the same frames', () => {
    fc.assert(
      fc.property(
        fc.array(frameArb, { maxLength: 20 }),
        fc.array(fc.nat(), { maxLength: 40 }),
        (frames, cuts) => {
          const stream = Buffer.concat(
            frames.map((f) => encodeFrame(f.type as FrameType, f.status, f.cmd, f.seq, f.body)),
          );
          const whole = decodeAll([stream]);
          const pieces = decodeAll(split(stream, cuts));
          const expected = frames.map((f) => ({ ...f, body: Buffer.from(f.body).toString('hex') }));
          expect(whole).toEqual({ frames: expected, error: null });
          expect(pieces).toEqual(whole);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('random bytes never throw, and a failure is one of the protocol statuses', () => {
    const allowed = new Set([Status.BAD_FRAME, Status.FRAME_TOO_LARGE, Status.PROTOCOL_ERROR]);
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 2_000 }),
        fc.array(fc.nat(), { maxLength: 10 }),
        (bytes, cuts) => {
          const { error } = decodeAll(split(Buffer.from(bytes), cuts), 1_024);
          if (error !== null) expect(allowed.has(error as never)).toBe(true);
        },
      ),
      { numRuns: 1_000 },
    );
  });

  it('refuses a too-large length from its first four bytes, before any body arrives', () => {
    const head = Buffer.alloc(4);
    head.writeUInt32BE(1_000_000);
    expect(decodeAll([head], 1_024).error).toBe(Status.FRAME_TOO_LARGE);
  });

  it('length under 12 is BAD_FRAME; flags ≠ 0 is PROTOCOL_ERROR', () => {
    const short = Buffer.from([0, 0, 0, 11, ...new Array(11).fill(0)]);
    expect(decodeAll([short]).error).toBe(Status.BAD_FRAME);
    const flagged = encodeFrame(2, 0, 1, 1);
    flagged[5] = 1;
    expect(decodeAll([flagged]).error).toBe(Status.PROTOCOL_ERROR);
  });

  it('delivers the frames before a bad one, and nothing after it', () => {
    const good = encodeFrame(2, 0, 7, 1, Buffer.from('ok'));
    const bad = encodeFrame(2, 0, 7, 2);
    bad[5] = 4;
    const { frames, error } = decodeAll([Buffer.concat([good, bad, good])]);
    expect(error).toBe(Status.PROTOCOL_ERROR);
    expect(frames.map((f) => f.seq)).toEqual([1]);
  });

  it('a frame split byte by byte arrives whole', () => {
    const f = encodeFrame(2, 0, 42, 9, Buffer.from('hello world'));
    const { frames } = decodeAll([...f].map((b) => Buffer.from([b])));
    expect(frames).toEqual([
      { type: 2, status: 0, cmd: 42, seq: 9, body: Buffer.from('hello world').toString('hex') },
    ]);
  });
});

describe('lengths the decoder never allocates from (issue 11 item 2)', () => {
  it('a config-sized maximum and a hostile length field: no throw, nothing allocated up front', () => {
    // Before: maxFrameBytes 4 294 967 295 let a 4-byte length make Buffer.allocUnsafe throw
    // ERR_OUT_OF_RANGE, which ended the process. Such a maximum is now refused at construction.
    expect(() => new FrameDecoder(0xffffffff, () => {})).toThrow(RangeError);
    const header = Buffer.alloc(16);
    header.writeUInt32BE(MAX_FRAME_BYTES, 0);
    header[4] = 2;
    const before = process.memoryUsage().arrayBuffers;
    const decoders = Array.from({ length: 64 }, () => new FrameDecoder(MAX_FRAME_BYTES, () => {}));
    for (const d of decoders) expect(d.push(header)).toBeNull();
    // 64 frames announcing 16 MiB each, 16 bytes sent each: what is held is what was sent.
    expect(decoders.reduce((n, d) => n + d.buffered, 0)).toBe(64 * 16);
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(32 * 1024 * 1024);
  });

  it('a frame announced at the maximum still decodes once all of it arrives, in small reads', () => {
    const body = Buffer.alloc(MAX_FRAME_BYTES - 12, 7);
    const bytes = Buffer.concat([Buffer.from(encodeFrame(2 as FrameType, 0, 1, 2, body))]);
    let got: Buffer | null = null;
    const d = new FrameDecoder(MAX_FRAME_BYTES, (_t, _s, _c, _q, b) => {
      got = b;
    });
    for (let off = 0; off < bytes.length; off += 1 << 20)
      expect(d.push(bytes.subarray(off, off + (1 << 20)))).toBeNull();
    expect(got!.length).toBe(body.length);
    expect(d.idle).toBe(true);
    expect(d.push(Buffer.from([0, 0, 0, 12]))).toBeNull();
    expect(d.buffered).toBe(4);
  });
});
