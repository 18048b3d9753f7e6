/**
 * Liveness after a stall of the gateway's own process (a long GC pause, a blocked event
 * loop, a frozen VM): a client that kept sending PINGs meanwhile is not kicked
 * IDLE_TIMEOUT for the silence the gateway caused; a client that really was silent still
 * is. The client runs in a worker thread, so it keeps sending while this thread (the
 * gateway's) is blocked.
 */
import { Worker } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import { encodeFrame, type Frame, FrameType } from '../../src/protocol/frame.js';
import { FrameDecoder } from '../../src/protocol/frame-decoder.js';
import { Status } from '../../src/protocol/status.js';
import { type Running, startGateway } from '../support/gateway-fixture.js';
import { RawClient } from '../support/raw-client.js';
import { sleep, waitFor } from '../support/wait.js';

/** Connects to `port` and writes `ping` every `everyMs`; posts what it reads, and 'closed'. */
const PINGER = `
const { parentPort, workerData } = require('node:worker_threads');
const { connect } = require('node:net');
const socket = connect(workerData.port, '127.0.0.1');
const timer = setInterval(() => socket.write(Buffer.from(workerData.ping)), workerData.everyMs);
socket.on('data', (d) => parentPort.postMessage(d));
socket.on('error', () => {});
socket.on('close', () => { clearInterval(timer); parentPort.postMessage('closed'); });
parentPort.on('message', () => socket.destroy());
`;

/** Blocks this thread's event loop for `ms`: no timer, no I/O of the gateway runs meanwhile. */
function stall(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

const TIMEOUT_MS = 400;
let running: Running | null = null;
const workers: Worker[] = [];
afterEach(async () => {
  for (const w of workers.splice(0)) await w.terminate();
  await running?.gateway.stop();
  running = null;
});

/** A client in a worker thread, PINGing every 50 ms; the frames it got, and whether it closed. */
function pinger(port: number) {
  const frames: Frame[] = [];
  const state = { closed: false };
  const decoder = new FrameDecoder(1 << 20, (type, status, cmd, seq, body) =>
    frames.push({ type, flags: 0, status, cmd, seq, body: Buffer.from(body) }),
  );
  const worker = new Worker(PINGER, {
    eval: true,
    workerData: { port, everyMs: 50, ping: encodeFrame(FrameType.PING, 0, 0, 0) },
  });
  workers.push(worker);
  worker.on('message', (m: Uint8Array | string) => {
    if (m === 'closed') state.closed = true;
    else decoder.push(Buffer.from(m as Uint8Array));
  });
  return { frames, state };
}

describe('heartbeat after a stall of the gateway', () => {
  it('a client that kept sending PINGs while the gateway was blocked past heartbeat.timeoutMs is not kicked', async () => {
    running = await startGateway(null, {
      heartbeat: { intervalMs: 100, timeoutMs: TIMEOUT_MS },
      auth: { required: false },
    });
    const silent = await RawClient.connect(running.tcpPort);
    const client = pinger(running.tcpPort);
    await waitFor(() => client.frames.some((f) => f.type === FrameType.HELLO), 5_000, 'HELLO');
    await sleep(150);
    stall(3 * TIMEOUT_MS);
    // Past a sweep, and past the silent client's own timeout.
    await sleep(TIMEOUT_MS);
    expect((await silent.nextOfType(FrameType.KICK, 2_000)).status).toBe(Status.IDLE_TIMEOUT);
    expect(client.frames.filter((f) => f.type === FrameType.KICK)).toEqual([]);
    expect(client.state.closed).toBe(false);
    expect(client.frames.filter((f) => f.type === FrameType.PONG).length).toBeGreaterThan(3);
  });
});
