import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  ClientStatus,
  encodeFrame as clientEncode,
  decodeFrame,
  FrameError,
  FrameReader,
  FrameType,
  GatewayError,
  statusName,
  type WireFrame,
} from '../../src/client/index.js';
import { FrameType as GatewayFrameType, encodeFrame as gatewayEncode } from '../../src/protocol/frame.js';
import { FrameDecoder } from '../../src/protocol/frame-decoder.js';
import { Status } from '../../src/protocol/status.js';

const frameArb = fc.record({
  type: fc.constantFrom(...Object.values(FrameType)),
  status: fc.integer({ min: 0, max: 0xffff }),
  cmd: fc.integer({ min: 0, max: 0xffff_ffff }),
  seq: fc.integer({ min: 0, max: 0xffff_ffff }),
  body: fc.uint8Array({ maxLength: 300 }),
});

const plain = (f: WireFrame) => ({ ...f, body: [...f.body] });

describe('client codec (browser-safe) against the gateway codec', () => {
  it('has the same frame types', () => {
    expect(FrameType).toEqual(GatewayFrameType);
  });

  it('encodes byte for byte what the gateway encodes', () => {
    fc.assert(
      fc.property(frameArb, (f) => {
        const ours = clientEncode(f.type, f.cmd, f.seq, f.body, f.status);
        const theirs = gatewayEncode(f.type, f.status, f.cmd, f.seq, f.body);
        expect(Buffer.from(ours).equals(theirs)).toBe(true);
      }),
    );
  });

  it('decodes what the gateway encodes (one frame per message)', () => {
    fc.assert(
      fc.property(frameArb, (f) => {
        expect(plain(decodeFrame(gatewayEncode(f.type, f.status, f.cmd, f.seq, f.body)))).toEqual({
          ...f,
          body: [...f.body],
        });
      }),
    );
  });

  it('FrameReader splits any chunking of a stream like the gateway FrameDecoder', () => {
    fc.assert(
      fc.property(
        fc.array(frameArb, { maxLength: 8 }),
        fc.array(fc.integer({ min: 1, max: 40 })),
        (frames, cuts) => {
          const stream = Buffer.concat(
            frames.map((f) => gatewayEncode(f.type, f.status, f.cmd, f.seq, f.body)),
          );
          const expected: unknown[] = [];
          new FrameDecoder(1 << 20, (type, status, cmd, seq, body) =>
            expected.push({ type, status, cmd, seq, body: [...body] }),
          ).push(stream);
          const got: unknown[] = [];
          const reader = new FrameReader(1 << 20);
          let off = 0;
          for (const cut of [...cuts, stream.length]) {
            if (off >= stream.length) break;
            // A fresh copy per chunk: the reader may keep views, never mutate.
            reader.push(Uint8Array.from(stream.subarray(off, off + cut)), (f) => got.push(plain(f)));
            off += cut;
          }
          expect(got).toEqual(expected);
        },
      ),
    );
  });

  it('refuses malformed messages and streams with FrameError', () => {
    const good = clientEncode(FrameType.PUSH, 1, 2, new Uint8Array([1, 2, 3]));
    expect(() => decodeFrame(good.subarray(0, 15))).toThrow(FrameError);
    expect(() => decodeFrame(good.subarray(0, 18))).toThrow(/does not match/);
    const flagged = Uint8Array.from(good);
    flagged[5] = 1;
    expect(() => decodeFrame(flagged)).toThrow(/flags/);
    const reader = new FrameReader(100);
    expect(() => reader.push(new Uint8Array([0, 0, 0, 5]), () => {})).toThrow(/under 12/);
    expect(() => new FrameReader(100).push(new Uint8Array([0, 0, 1, 0]), () => {})).toThrow(/over 100/);
  });
});

describe('status names and GatewayError', () => {
  it('names wire, client and application statuses', () => {
    expect(statusName(0)).toBe('OK');
    expect(statusName(Status.BACKEND_TIMEOUT)).toBe('BACKEND_TIMEOUT');
    expect(statusName(ClientStatus.REQUEST_TIMEOUT)).toBe('REQUEST_TIMEOUT');
    expect(statusName(4321)).toBe('APP_4321');
    expect(statusName(999)).toBe('STATUS_999');
  });

  it('reads the gateway JSON body of an error status, and keeps the body of an application status', () => {
    const body = new TextEncoder().encode('{"error":"BACKEND_REJECTED","message":"nope","httpStatus":404}');
    const e = GatewayError.fromFrame(Status.BACKEND_REJECTED, body);
    expect(e).toMatchObject({ name: 'BACKEND_REJECTED', status: 203, message: 'nope', httpStatus: 404 });
    expect(e).toBeInstanceOf(Error);
    const app = GatewayError.fromFrame(1234, new Uint8Array([7]));
    expect(app).toMatchObject({ name: 'APP_1234', status: 1234 });
    expect([...app.body!]).toEqual([7]);
  });
});

describe('the client is browser-safe', () => {
  const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
  const clientDir = join(root, 'src/client');
  const SHARED_TABLES = ['src/protocol/status.ts', 'src/protocol/frame-type.ts'];
  const files = readdirSync(clientDir).filter((f) => f.endsWith('.ts'));

  it.each(files)('%s imports nothing from Node or outside the client at load time', (file) => {
    const source = readFileSync(join(clientDir, file), 'utf8');
    // Static value imports (type-only imports vanish at compile time).
    const imports = [...source.matchAll(/^(?:import|export)\s+(?!type\b)[^'"]*?from\s+'([^']+)'/gm)].map(
      (m) => m[1],
    );
    for (const spec of imports) {
      expect(spec.startsWith('.'), `${file} imports ${spec}`).toBe(true);
      const target = relative(root, resolve(clientDir, spec.replace(/\.js$/, '.ts')));
      // status.ts and frame-type.ts are tables without imports, shared with the gateway.
      expect(
        target.startsWith('src/client/') || SHARED_TABLES.includes(target),
        `${file} imports ${target}`,
      ).toBe(true);
    }
    const code = source.replace(/\/\*[\s\S]*?\*\/|\/\/.*$/gm, '');
    expect(code).not.toMatch(/\bBuffer\b/);
    expect(code).not.toMatch(/\brequire\(/);
  });

  it.each(SHARED_TABLES)('%s imports nothing and uses no Buffer', (file) => {
    const source = readFileSync(join(root, file), 'utf8');
    expect(source).not.toMatch(/^import /m);
    expect(source.replace(/\/\*[\s\S]*?\*\/|\/\/.*$/gm, '')).not.toMatch(/\bBuffer\b/);
  });
});
