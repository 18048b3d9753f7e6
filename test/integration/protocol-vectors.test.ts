/**
 * docs/protocol-vectors.json against a running gateway over TCP: every bad frame gets the
 * KICK with its status and the connection closes, with nothing after it handled; the PING
 * vector is answered with the PONG vector's bytes.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeFrame, FrameType } from '../../src/protocol/frame.js';
import { type Running, startGateway } from '../support/gateway-fixture.js';
import { json, RawClient } from '../support/raw-client.js';

interface Vectors {
  maxFrameBytes: number;
  good: Array<{ name: string; hex: string; frame: { type: number } }>;
  bad: Array<{ name: string; hex: string; status: number; statusName: string }>;
}
const vectors = JSON.parse(
  readFileSync(new URL('../../docs/protocol-vectors.json', import.meta.url), 'utf8'),
) as Vectors;

let gw: Running;
beforeAll(async () => {
  gw = await startGateway(null, { limits: { maxFrameBytes: vectors.maxFrameBytes } }, 'silent');
});
afterAll(() => gw.gateway.stop());

const hexOf = (f: { type: number; status: number; cmd: number; seq: number; body: Buffer }) =>
  encodeFrame(f.type as FrameType, f.status, f.cmd, f.seq, f.body).toString('hex');

describe('protocol vectors against a gateway over TCP', () => {
  it.each(vectors.bad)('$name → KICK $statusName, connection closed, nothing after it handled', async (v) => {
    const c = await RawClient.connect(gw.tcpPort);
    // A PING after the bad frame, in the same write: it must not be answered.
    c.writeRaw(Buffer.concat([Buffer.from(v.hex, 'hex'), encodeFrame(FrameType.PING, 0, 0, 77)]));
    const kick = await c.nextOfType(FrameType.KICK);
    expect(kick.status).toBe(v.status);
    expect(json(kick)).toMatchObject({ error: v.statusName, message: expect.any(String) });
    await c.waitClosed();
    expect(c.frames.filter((f) => f.type === FrameType.PONG)).toEqual([]);
  });

  it('answers the PING vector with the PONG vector', async () => {
    const ping = vectors.good.find((v) => v.name === 'PING with a body')!;
    const pong = vectors.good.find((v) => v.name === 'PONG')!;
    const c = await RawClient.connect(gw.tcpPort);
    c.writeRaw(Buffer.from(ping.hex, 'hex'));
    expect(hexOf(await c.nextOfType(FrameType.PONG))).toBe(pong.hex);
    c.close();
  });

  it('sends a HELLO whose fields are those of the HELLO vector', async () => {
    const hello = vectors.good.find((v) => v.frame.type === FrameType.HELLO)!;
    const expected = JSON.parse(Buffer.from(hello.hex, 'hex').subarray(16).toString());
    const c = await RawClient.connect(gw.tcpPort);
    expect(Object.keys(c.hello).sort()).toEqual(Object.keys(expected).sort());
    expect(c.hello.maxFrameBytes).toBe(vectors.maxFrameBytes);
    c.close();
  });
});
