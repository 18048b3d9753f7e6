import { describe, expect, it } from 'vitest';
import { AckWaiters } from '../../src/players/redis/ack-waiters.js';
import { decodeMessage, encodeMessage, MessageKind } from '../../src/players/redis/cluster-message.js';
import { RouteCache } from '../../src/players/redis/route-cache.js';
import { sleep } from '../support/wait.js';

describe('cluster messages', () => {
  it('round-trips fields of any bytes and a raw body, in one buffer of the exact size', () => {
    const fields = ['7', 'node-a', 'r1', '2', '玩家1', '12', 'with:colon\nand newline', ''];
    const body = Buffer.from([0, 1, 2, 0x3a, 255]);
    const buf = encodeMessage(MessageKind.PUSH, fields.slice(0, 4).concat(fields.slice(4, 8)), body);
    const sized = fields.reduce(
      (n, f) => n + Buffer.byteLength(f) + String(Buffer.byteLength(f)).length + 1,
      1,
    );
    expect(buf.length).toBe(sized + body.length);
    expect(decodeMessage(buf)).toEqual({ kind: MessageKind.PUSH, fields, body });
  });

  it('decodes what the Lua scripts build (netstrings by hand)', () => {
    const lua = Buffer.from('P1:52:nb2:r91:12:p12:40hello');
    expect(decodeMessage(lua)).toEqual({
      kind: MessageKind.PUSH,
      fields: ['5', 'nb', 'r9', '1', 'p1', '40'],
      body: Buffer.from('hello'),
    });
  });

  it('round-trips a DIRECT message: groups of (cmd, body length, players), the bodies after the fields', () => {
    const fields = ['node-a', 'r7', '2', '5', '3', '1', 'p1', '4', '6', '2', '2', '玩家2', '9', 'p3', '1'];
    const buf = encodeMessage(MessageKind.DIRECT, fields, [Buffer.from('one'), Buffer.from('tw')]);
    expect(decodeMessage(buf)).toEqual({ kind: MessageKind.DIRECT, fields, body: Buffer.from('onetw') });
    // The bodies must fill the rest exactly, and every count must be met.
    expect(decodeMessage(Buffer.concat([buf, Buffer.from('x')]))).toBeNull();
    expect(decodeMessage(buf.subarray(0, buf.length - 1))).toBeNull();
    expect(decodeMessage(encodeMessage(MessageKind.DIRECT, ['a', 'r', '2', '5', '0', '0']))).toBeNull();
    expect(decodeMessage(encodeMessage(MessageKind.DIRECT, ['a', 'r', '1', '5', '-1', '0']))).toBeNull();
    // The single-call layout of older builds ('D': cmd, from, reqId, n, players | body) is an unknown kind now.
    expect(decodeMessage(Buffer.from('D1:56:node-a2:r11:12:p11:4hello'))).toBeNull();
  });

  it('answers null for anything malformed', () => {
    const good = encodeMessage(MessageKind.RESULTS, ['nb', '1', 'r1', 'wnf']);
    expect(decodeMessage(good)?.fields).toEqual(['nb', '1', 'r1', 'wnf']);
    expect(decodeMessage(Buffer.from('A0000000001:0'))?.fields).toEqual(['0']); // ten digits are fine
    for (const bad of [
      Buffer.alloc(0),
      Buffer.from('Z1:a'),
      good.subarray(0, good.length - 1), // truncated
      Buffer.from('A1:2'), // counts two entries, has none
      Buffer.from('A00000000001:0'), // a length of eleven digits, though it would fit
      Buffer.from('Ax:1'),
      Buffer.from('A:1'),
      Buffer.from('A1:12:r1'),
    ]) {
      expect(decodeMessage(bad), bad.toString()).toBeNull();
    }
  });
});

describe('route cache', () => {
  it('remembers node and epoch, forgets on the same epoch only, and after its ttl', () => {
    const c = new RouteCache(10, 1_000);
    c.set('p', 'b', 7, 0);
    expect(c.get('p', 500)).toMatchObject({ node: 'b', epoch: 7 });
    c.forget('p', 6);
    expect(c.get('p', 500)?.epoch).toBe(7);
    c.set('p', 'c', 8, 900); // confirmed again: the ttl restarts
    expect(c.get('p', 1_800)).toMatchObject({ node: 'c', epoch: 8 });
    expect(c.get('p', 1_901)).toBeUndefined();
    c.set('q', 'b', 1, 0);
    c.forget('q', 1);
    expect(c.get('q', 0)).toBeUndefined();
  });

  it('holds at most its bound, dropping the oldest first', () => {
    const c = new RouteCache(3, 1_000);
    for (const p of ['a', 'b', 'c', 'd']) c.set(p, 'n', 1, 0);
    expect(c.size).toBe(3);
    expect(c.get('a', 0)).toBeUndefined();
    expect(c.get('d', 0)?.node).toBe('n');
  });
});

describe('ack waiters', () => {
  it('one timer for all: each wait ends at its own deadline, in order, or when its acks are in', async () => {
    const acks = new AckWaiters(60);
    const first = acks.open();
    await sleep(30);
    const second = acks.open(2);
    const third = acks.open();
    acks.ack(third.id, 1);
    expect(await third.outcome).toEqual({ sum: 1, received: 1, complete: true, parts: null });
    acks.part(second.id, 'nb', 'wn');
    const t0 = performance.now();
    expect(await first.outcome).toMatchObject({ complete: false, received: 0 });
    // The second was opened 30 ms later: it is still waiting, and times out ~30 ms after the first.
    expect(acks.size).toBe(1);
    const out = await second.outcome;
    expect(performance.now() - t0).toBeGreaterThanOrEqual(20);
    expect(out).toEqual({ sum: 0, received: 1, complete: false, parts: new Map([['nb', 'wn']]) });
    expect(acks.size).toBe(0);
  });
});
