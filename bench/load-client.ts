/**
 * The load side of the forward bench, in its own process: C TCP connections to the
 * gateway, each keeping W requests pipelined, until TOTAL responses arrived. Prints
 * requests/s and latency percentiles as JSON. The orchestrator runs it once to warm up.
 * usage: load-client.ts PORT TOTAL CONNECTIONS WINDOW [CA_FILE]
 * With CA_FILE the connections are TLS (trusting that CA), as to a gateway with listen.tls.
 */
import { readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { encodeFrame, FrameType } from '../src/protocol/frame.js';
import { FrameDecoder } from '../src/protocol/frame-decoder.js';
import { percentile } from './lib.js';

const [portArg, totalArg, connArg, windowArg, caArg] = process.argv.slice(2);
const ca = caArg === undefined ? null : readFileSync(caArg, 'utf8');
const port = Number(portArg);
const connections = Number(connArg);
const window = Number(windowArg);
const body = Buffer.from('{"move":[1,2]}');

async function run(total: number): Promise<{ seconds: number; latencies: Float64Array; errors: number }> {
  const latencies = new Float64Array(total);
  let sent = 0;
  let received = 0;
  let errors = 0;
  const t0 = performance.now();
  await new Promise<void>((resolve) => {
    const sockets: Socket[] = [];
    for (let i = 0; i < connections; i++) {
      const socket =
        ca === null
          ? connect({ port, host: '127.0.0.1', noDelay: true })
          : tlsConnect({ port, host: '127.0.0.1', ca }).setNoDelay(true);
      sockets.push(socket);
      const startedAt = new Map<number, number>();
      const sendOne = (): void => {
        if (sent >= total) return;
        const seq = sent++;
        startedAt.set(seq, performance.now());
        socket.write(encodeFrame(FrameType.REQUEST, 0, 2001, seq, body));
      };
      const decoder = new FrameDecoder(1 << 20, (type, status, _cmd, seq) => {
        if (type !== FrameType.RESPONSE) {
          if (type === FrameType.HELLO) for (let w = 0; w < window; w++) sendOne();
          return;
        }
        if (status !== 0) errors++;
        latencies[received++] = performance.now() - startedAt.get(seq)!;
        startedAt.delete(seq);
        if (received === total) {
          for (const s of sockets) s.destroy();
          resolve();
          return;
        }
        sendOne();
      });
      socket.on('data', (chunk) => decoder.push(chunk));
      socket.on('error', () => {});
    }
  });
  return { seconds: (performance.now() - t0) / 1000, latencies, errors };
}

const total = Number(totalArg);
const { seconds, latencies, errors } = await run(total);
latencies.sort();
process.stdout.write(
  `${JSON.stringify({
    requests: total,
    seconds,
    errors,
    p50ms: percentile(latencies, 50),
    p99ms: percentile(latencies, 99),
  })}\n`,
);
