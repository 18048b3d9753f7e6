/**
 * Frame decoder micro-benchmark (npm run bench:decoder): frames/s and bytes/s for
 * whole frames in large reads (the common case under load), and for the same stream cut
 * into small pieces (frames split across reads).
 */
import { encodeFrame, FrameType } from '../src/protocol/frame.js';
import { FrameDecoder } from '../src/protocol/frame-decoder.js';

const FRAMES = 2_000_000;
const body = Buffer.alloc(64, 1);
const frame = encodeFrame(FrameType.REQUEST, 0, 2001, 1, body);
const perChunk = 256;
const chunk = Buffer.concat(Array.from({ length: perChunk }, () => frame));

function run(label: string, pieceBytes: number): void {
  let frames = 0;
  const decoder = new FrameDecoder(65_536, () => {
    frames++;
  });
  const pieces: Buffer[] = [];
  for (let off = 0; off < chunk.length; off += pieceBytes) pieces.push(chunk.subarray(off, off + pieceBytes));
  const rounds = FRAMES / perChunk;
  const t0 = performance.now();
  for (let r = 0; r < rounds; r++) for (const p of pieces) decoder.push(p);
  const seconds = (performance.now() - t0) / 1000;
  const mb = (rounds * chunk.length) / 1e6 / seconds;
  console.log(
    `${label.padEnd(40)} ${(frames / seconds / 1e6).toFixed(2)} M frames/s  ${mb.toFixed(0)} MB/s  ${((seconds * 1e9) / frames).toFixed(0)} ns/frame`,
  );
}

run('whole frames, 20 KB reads', chunk.length);
run('split frames, 1460-byte reads (MSS)', 1460);
run('split frames, 7-byte reads', 7);
