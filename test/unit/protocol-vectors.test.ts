/**
 * docs/protocol-vectors.json against both TypeScript codecs: the gateway's (src/protocol/)
 * and the client SDK's (src/client/codec.ts). The vectors are written for client authors in
 * other languages, so they must describe exactly what these codecs do.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  encodeFrame as clientEncode,
  decodeFrame,
  FrameError,
  FrameReader,
  statusName,
  type WireFrame,
} from '../../src/client/index.js';
import { encodeFrame as gatewayEncode, MAX_PING_BODY_BYTES } from '../../src/protocol/frame.js';
import { FrameDecoder } from '../../src/protocol/frame-decoder.js';
import { FrameType } from '../../src/protocol/frame-type.js';
import { Status, type StatusCode } from '../../src/protocol/status.js';

interface DecodedFields {
  type: number;
  typeName: string;
  flags: number;
  status: number;
  statusName?: string;
  cmd: number;
  seq: number;
  bodyHex: string;
  bodyText?: string;
}
interface GoodVector {
  name: string;
  direction: 'gateway-to-client' | 'client-to-gateway';
  hex: string;
  length: number;
  frame: DecodedFields;
}
interface BadVector {
  name: string;
  hex: string;
  status: number;
  statusName: string;
  reason: string;
}
interface Vectors {
  maxFrameBytes: number;
  maxPingBodyBytes: number;
  frameTypes: Record<string, { name: string; direction: string }>;
  good: GoodVector[];
  bad: BadVector[];
}

const vectors = JSON.parse(
  readFileSync(new URL('../../docs/protocol-vectors.json', import.meta.url), 'utf8'),
) as Vectors;
const bytes = (hex: string) => Buffer.from(hex, 'hex');
const CLIENT_MAY_SEND = new Set<number>([FrameType.REQUEST, FrameType.NOTIFY, FrameType.PING]);

/** What the gateway's decoder yields for `data` fed as one chunk: frames, or the status that stopped it. */
function gatewayDecode(data: Buffer, maxFrameBytes = vectors.maxFrameBytes) {
  const frames: Array<{ type: number; status: number; cmd: number; seq: number; body: Buffer }> = [];
  const decoder = new FrameDecoder(maxFrameBytes, (type, status, cmd, seq, body) =>
    frames.push({ type, status, cmd, seq, body: Buffer.from(body) }),
  );
  const error = decoder.push(data);
  return { frames, error, idle: decoder.idle };
}

/**
 * The status a client frame gets from the gateway: the decoder's verdict (length, flags),
 * then the session's rules on a decoded frame (who may send which type, PING body size).
 * test/integration/protocol-vectors.test.ts checks the same against a running gateway.
 */
function gatewayVerdict(data: Buffer): StatusCode | null {
  const { frames, error } = gatewayDecode(data);
  if (error !== null) return error;
  for (const f of frames) {
    if (!CLIENT_MAY_SEND.has(f.type)) return Status.PROTOCOL_ERROR;
    if (f.type === FrameType.PING && f.body.length > MAX_PING_BODY_BYTES) return Status.BAD_FRAME;
  }
  return null;
}

describe('protocol vectors: the file itself', () => {
  it('names every frame type and direction the codecs know', () => {
    for (const [name, code] of Object.entries(FrameType)) {
      expect(vectors.frameTypes[String(code)]?.name).toBe(name);
    }
    expect(vectors.maxPingBodyBytes).toBe(MAX_PING_BODY_BYTES);
  });

  it('has a good frame of every type and a bad frame of every kind of protocol error', () => {
    const types = new Set(vectors.good.map((v) => v.frame.type));
    expect([...types].sort()).toEqual(Object.values(FrameType).sort());
    const statuses = new Set(vectors.bad.map((v) => v.status));
    expect(statuses).toEqual(new Set([Status.BAD_FRAME, Status.FRAME_TOO_LARGE, Status.PROTOCOL_ERROR]));
    for (const v of vectors.bad) expect(statusName(v.status)).toBe(v.statusName);
  });
});

describe.each(vectors.good)('good frame: $name', (v) => {
  const f = v.frame;
  const body = bytes(f.bodyHex);

  it('the fields are consistent with the bytes', () => {
    expect(vectors.frameTypes[String(f.type)]).toEqual({ name: f.typeName, direction: v.direction });
    expect(v.length).toBe(12 + body.length);
    expect(bytes(v.hex).readUInt32BE(0)).toBe(v.length);
    if (f.bodyText !== undefined) expect(body.toString('utf8')).toBe(f.bodyText);
    if (f.statusName !== undefined) expect(statusName(f.status)).toBe(f.statusName);
  });

  it('both encoders produce the hex', () => {
    expect(gatewayEncode(f.type as FrameType, f.status, f.cmd, f.seq, body).toString('hex')).toBe(v.hex);
    expect(Buffer.from(clientEncode(f.type as FrameType, f.cmd, f.seq, body, f.status)).toString('hex')).toBe(
      v.hex,
    );
  });

  it("the gateway's decoder yields the fields, whole and split into single bytes", () => {
    const whole = gatewayDecode(bytes(v.hex));
    expect(whole.error).toBeNull();
    expect(whole.frames).toEqual([{ type: f.type, status: f.status, cmd: f.cmd, seq: f.seq, body }]);
    const frames: unknown[] = [];
    const decoder = new FrameDecoder(vectors.maxFrameBytes, (type, status, cmd, seq, b) =>
      frames.push({ type, status, cmd, seq, body: Buffer.from(b) }),
    );
    for (const byte of bytes(v.hex)) expect(decoder.push(Buffer.from([byte]))).toBeNull();
    expect(frames).toEqual(whole.frames);
  });

  it("the client's stream reader and message decoder yield the fields", () => {
    const plain = (w: WireFrame) => ({ ...w, body: Buffer.from(w.body) });
    const expected = { type: f.type, status: f.status, cmd: f.cmd, seq: f.seq, body };
    expect(plain(decodeFrame(bytes(v.hex)))).toEqual(expected);
    const got: WireFrame[] = [];
    new FrameReader(vectors.maxFrameBytes).push(bytes(v.hex), (w) => got.push(w));
    expect(got.map(plain)).toEqual([expected]);
  });

  if (v.direction === 'client-to-gateway') {
    it('the gateway accepts it from a client', () => {
      expect(gatewayVerdict(bytes(v.hex))).toBeNull();
    });
  } else {
    it('the gateway refuses it from a client with PROTOCOL_ERROR', () => {
      expect(gatewayVerdict(bytes(v.hex))).toBe(Status.PROTOCOL_ERROR);
    });
  }
});

describe.each(vectors.bad)('bad frame: $name', (v) => {
  it(`gets ${v.statusName} (${v.status}) from the gateway`, () => {
    expect(gatewayVerdict(bytes(v.hex))).toBe(v.status);
  });

  const length = bytes(v.hex).readUInt32BE(0);
  const lengthBad = length < 12 || length > vectors.maxFrameBytes;
  if (lengthBad) {
    it("is refused by the gateway's decoder from its length field alone", () => {
      expect(gatewayDecode(bytes(v.hex).subarray(0, 4)).error).toBe(v.status);
      expect(gatewayDecode(bytes(v.hex)).frames).toEqual([]);
    });
  }

  if (lengthBad || bytes(v.hex)[5] !== 0) {
    it("is refused by the client's stream reader too", () => {
      expect(() => new FrameReader(vectors.maxFrameBytes).push(bytes(v.hex), () => {})).toThrow(FrameError);
    });
  }
});
