/**
 * The Engine contract (src/players/engine.ts), one suite run against every engine: the
 * in-memory MemoryEngine (src/players/memory-engine.ts) and the RedisEngine
 * (src/players/redis/, on a private redis-server), each behind the Players facade
 * (src/players/players.ts) and the LocalHub (local-hub.ts) as createPlayers builds them.
 * Each test starts a fresh node (and, for Redis, a fresh key prefix). Cross-node behaviour
 * of the Redis engine is in cluster-engine.test.ts and the cluster-*.test.ts process tests.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GatewayConfigInput } from '../../src/config/schema.js';
import { FrameType } from '../../src/protocol/frame.js';
import { Status } from '../../src/protocol/status.js';
import {
  type EngineKind,
  type EngineNode,
  nodeConfig,
  sleep,
  startNode,
  uniquePrefix,
  until,
} from '../support/engine-harness.js';
import { interleavings, predict } from '../support/login-orders.js';
import { RedisServer } from '../support/redis-server.js';

// Started by the Redis half only, so the local half runs where no redis-server is installed.
let redis: RedisServer | null = null;
afterAll(() => redis?.stop());

const bodies = (frames: { body: Buffer }[]): string[] => frames.map((f) => f.body.toString());
const seqs = (frames: { seq: number }[]): number[] => frames.map((f) => f.seq);
const B = (s: string): Buffer => Buffer.from(s);

describe.each<EngineKind>(['local', 'redis'])('Engine contract: %s', (kind) => {
  const nodes: EngineNode[] = [];
  let n = 0;
  const fresh = (name: string): string => `${name}-${++n}`;
  beforeAll(async () => {
    if (kind === 'redis') redis ??= await RedisServer.start();
  });

  async function node(overrides: Partial<GatewayConfigInput> = {}): Promise<EngineNode> {
    const url = redis?.url ?? 'redis://127.0.0.1:1';
    const nd = await startNode(nodeConfig(kind, `node-${kind}`, url, uniquePrefix(), overrides));
    nodes.push(nd);
    return nd;
  }
  afterAll(async () => {
    for (const nd of nodes) await nd.stop();
  });

  /** A player the engine knows, offline. */
  async function knownOffline(nd: EngineNode, player: string): Promise<void> {
    await nd.disconnect(await nd.login(player));
  }

  it('is ready once started', async () => {
    const nd = await node();
    expect(nd.players.ready).toBe(true);
    expect(nd.players.name).toBe(kind);
  });

  it('drops pushes to an unknown player, and player() is null', async () => {
    const nd = await node();
    expect(await nd.players.push(['nobody'], 1, B('x'), true)).toEqual(['dropped']);
    expect(await nd.players.player('nobody')).toBeNull();
  });

  it('delivers to a bound player in order, under seq 1, 2, 3', async () => {
    const nd = await node();
    const p = fresh('online');
    const c = await nd.login(p);
    for (const m of ['a', 'b', 'c']) expect(await nd.players.push([p], 7, B(m), true)).toEqual(['delivered']);
    const pushes = c.conn.take(FrameType.PUSH);
    expect(bodies(pushes)).toEqual(['a', 'b', 'c']);
    expect(seqs(pushes)).toEqual([1, 2, 3]);
    expect(pushes.every((f) => f.cmd === 7)).toBe(true);
    expect(await nd.players.player(p)).toMatchObject({ online: true, pushSeq: 3, sessionId: c.session.id });
  });

  it('results follow the order of the players list', async () => {
    const nd = await node();
    const on = fresh('on');
    const off = fresh('off');
    await nd.login(on);
    await knownOffline(nd, off);
    expect(await nd.players.push(['ghost', on, off], 1, B('x'), true)).toEqual([
      'dropped',
      'delivered',
      'cached',
    ]);
    expect(await nd.players.push([off], 1, B('x'), false)).toEqual(['dropped']);
  });

  it('caches for an offline player and replays in order on the next bind, before newer pushes', async () => {
    const nd = await node();
    const p = fresh('roam');
    const first = await nd.login(p);
    expect(await nd.players.push([p], 1, B('m1'), true)).toEqual(['delivered']);
    await nd.disconnect(first);
    expect(await nd.players.push([p], 1, B('m2'), true)).toEqual(['cached']);
    expect(await nd.players.push([p], 1, B('m3'), true)).toEqual(['cached']);
    expect(await nd.players.player(p)).toMatchObject({ online: false, offlineQueued: 2, pushSeq: 3 });

    const second = nd.connect();
    const bound = nd.players.bind(second.session, p);
    const pushed = nd.players.push([p], 1, B('m4'), true);
    await bound;
    expect(await pushed).toEqual(['delivered']);
    const frames = second.conn.take(FrameType.PUSH);
    expect(bodies(frames)).toEqual(['m2', 'm3', 'm4']);
    expect(seqs(frames)).toEqual([2, 3, 4]);
    expect(await nd.players.player(p)).toMatchObject({ online: true, offlineQueued: 0, pushSeq: 4 });
  });

  it('replays a full offline queue whole, even when it is larger than the write buffer', async () => {
    // The defaults: 1 MiB of queue and 1 MiB of write buffer. 16 pushes of 64 KiB fill the
    // queue to the byte, so with their frame headers the replay is over the write bound; it
    // moves bytes the gateway already holds, so it is not a slow consumer.
    const nd = await node();
    const p = fresh('full');
    await knownOffline(nd, p);
    const body = Buffer.alloc(64 * 1024, 0x61);
    for (let i = 0; i < 16; i++) expect(await nd.players.push([p], 3, body, true)).toEqual(['cached']);
    const c = nd.connect();
    await nd.players.bind(c.session, p);
    await sleep(20);
    expect(c.conn.take(FrameType.KICK)).toEqual([]);
    const frames = c.conn.take(FrameType.PUSH);
    expect(frames).toHaveLength(16);
    expect(seqs(frames)).toEqual(Array.from({ length: 16 }, (_, i) => i + 1));
  });

  it('keeps the newest players.offline.maxMessages, drops the oldest and counts them', async () => {
    const nd = await node({ players: { offline: { maxMessages: 3, maxBytes: 1_000, ttlMs: 60_000 } } });
    const p = fresh('count');
    await knownOffline(nd, p);
    for (let i = 1; i <= 5; i++) expect(await nd.players.push([p], 1, B(`m${i}`), true)).toEqual(['cached']);
    expect(nd.metrics.offlineDropped.total({ reason: 'overflow' })).toBe(2);
    expect(await nd.players.player(p)).toMatchObject({ offlineQueued: 3, pushSeq: 5 });
    const c = await nd.login(p);
    const frames = c.conn.take(FrameType.PUSH);
    expect(bodies(frames)).toEqual(['m3', 'm4', 'm5']);
    expect(seqs(frames)).toEqual([3, 4, 5]);
  });

  it('bounds the queue by players.offline.maxBytes; a message that can never fit is dropped', async () => {
    const nd = await node({ players: { offline: { maxMessages: 100, maxBytes: 10, ttlMs: 60_000 } } });
    const p = fresh('bytes');
    await knownOffline(nd, p);
    for (const m of ['aaaa', 'bbbb', 'cccc'])
      expect(await nd.players.push([p], 1, B(m), true)).toEqual(['cached']);
    expect(await nd.players.push([p], 1, B('x'.repeat(11)), true)).toEqual(['dropped']);
    expect(nd.metrics.offlineDropped.total({ reason: 'overflow' })).toBe(2);
    const c = await nd.login(p);
    expect(bodies(c.conn.take(FrameType.PUSH))).toEqual(['bbbb', 'cccc']);
  });

  it('expires queued messages after players.offline.ttlMs', async () => {
    const nd = await node({ players: { offline: { maxMessages: 100, maxBytes: 1_000, ttlMs: 200 } } });
    const p = fresh('ttl');
    await knownOffline(nd, p);
    expect(await nd.players.push([p], 1, B('old'), true)).toEqual(['cached']);
    await sleep(300);
    expect(await nd.players.push([p], 1, B('new'), true)).toEqual(['cached']);
    expect(await nd.players.player(p)).toMatchObject({ offlineQueued: 1, pushSeq: 2 });
    expect(nd.metrics.offlineDropped.total({ reason: 'expired' })).toBe(1);
    const c = await nd.login(p);
    const frames = c.conn.take(FrameType.PUSH);
    expect(bodies(frames)).toEqual(['new']);
    expect(seqs(frames)).toEqual([2]);
  });

  it('a second bind kicks the first session with REPLACED; its close changes nothing', async () => {
    const nd = await node();
    const p = fresh('dup');
    const a = await nd.login(p);
    const b = await nd.login(p);
    const kick = a.conn.take(FrameType.KICK);
    expect(kick.map((f) => f.status)).toEqual([Status.REPLACED]);
    await until(() => a.conn.closed);
    await nd.disconnect(a);
    expect(await nd.players.push([p], 1, B('still'), true)).toEqual(['delivered']);
    expect(bodies(b.conn.take(FrameType.PUSH))).toEqual(['still']);
    expect(await nd.players.player(p)).toMatchObject({ online: true, sessionId: b.session.id });
  });

  describe('login fencing: login A, login B and A disconnecting, in every order', () => {
    it.each(interleavings().map((o, i) => [i, o.join(' → '), o] as const))(
      '#%i %s',
      async (_i, _name, order) => {
        const nd = await node();
        const p = fresh('fenced');
        const clients = { A: nd.connect(), B: nd.connect() };
        for (const step of order) {
          if (step === 'releaseA') await nd.players.bind(clients.A.session, p);
          else if (step === 'releaseB') await nd.players.bind(clients.B.session, p);
          else if (step === 'closeA') await nd.disconnect(clients.A);
          // A KICK closes its connection on the next turn; let that settle before the next step.
          await sleep(1);
        }
        const expected = predict(order);
        const info = await nd.players.player(p);
        const holder = expected.holder === null ? null : clients[expected.holder];
        expect(info).toMatchObject({ online: holder !== null, sessionId: holder?.session.id ?? null });
        for (const who of ['A', 'B'] as const) {
          const kicks = clients[who].conn.take(FrameType.KICK).map((f) => f.status);
          expect(kicks).toEqual(expected.replaced.includes(who) ? [Status.REPLACED] : []);
        }
        expect(await nd.players.push([p], 9, B('probe'), true)).toEqual([
          holder === null ? 'cached' : 'delivered',
        ]);
        if (holder !== null) expect(bodies(holder.conn.take(FrameType.PUSH))).toEqual(['probe']);
      },
    );
  });

  it('binding a session to another player unbinds the first player', async () => {
    const nd = await node();
    const p1 = fresh('first');
    const p2 = fresh('second');
    const c = await nd.login(p1);
    await nd.players.bind(c.session, p2);
    expect(c.session.playerId).toBe(p2);
    expect(await nd.players.player(p1)).toMatchObject({ online: false });
    expect(await nd.players.push([p1, p2], 1, B('x'), true)).toEqual(['cached', 'delivered']);
  });

  it('unbind (logout) leaves the session connected and the player offline', async () => {
    const nd = await node();
    const p = fresh('logout');
    const c = await nd.login(p);
    await nd.players.unbind(c.session);
    expect(c.session.playerId).toBeNull();
    expect(c.session.closing).toBe(false);
    expect(await nd.players.push([p], 1, B('x'), true)).toEqual(['cached']);
  });

  it('broadcast writes one PUSH to every bound session, continuing each seq', async () => {
    const nd = await node();
    const p1 = fresh('b');
    const p2 = fresh('b');
    const c1 = await nd.login(p1);
    const c2 = await nd.login(p2);
    nd.connect(); // not bound: gets nothing
    await nd.players.push([p1], 1, B('direct'), true);
    expect(await nd.players.broadcast(9, B('all'))).toBe(2);
    expect(seqs(c1.conn.take(FrameType.PUSH))).toEqual([1, 2]);
    const f2 = c2.conn.take(FrameType.PUSH);
    expect(f2.map((f) => [f.cmd, f.seq, f.body.toString()])).toEqual([[9, 1, 'all']]);
  });

  it('groups: known players join; a group push reaches the online members only; leave', async () => {
    const nd = await node();
    const g = fresh('room');
    const on = fresh('on');
    const off = fresh('off');
    const c = await nd.login(on);
    await knownOffline(nd, off);
    expect(await nd.players.join(g, [on, off, 'ghost'])).toBe(2);
    expect((await nd.players.members(g)).sort()).toEqual([off, on].sort());
    expect(await nd.players.groupPush(g, 3, B('hi'))).toBe(1);
    expect(bodies(c.conn.take(FrameType.PUSH))).toEqual(['hi']);
    expect(await nd.players.player(off)).toMatchObject({ offlineQueued: 0 });
    expect(await nd.players.leave(g, [on])).toBe(1);
    expect(await nd.players.members(g)).toEqual([off]);
    expect(await nd.players.groupPush(g, 3, B('again'))).toBe(0);
    expect(c.conn.take(FrameType.PUSH)).toEqual([]);
    expect(await nd.players.groupPush(fresh('empty'), 3, B('x'))).toBe(0);
  });

  it('kick sends KICKED with the reason and counts the online players', async () => {
    const nd = await node();
    const on = fresh('k');
    const off = fresh('k');
    const c = await nd.login(on);
    await knownOffline(nd, off);
    expect(await nd.players.kick([on, off, 'ghost'], 'cheating')).toBe(1);
    const [kick] = c.conn.take(FrameType.KICK);
    expect(kick.status).toBe(Status.KICKED);
    expect(JSON.parse(kick.body.toString())).toMatchObject({ error: 'KICKED', message: 'cheating' });
    await until(async () => (await nd.players.player(on))?.online === false);
  });

  it('player() tells online, node, session, queue and seq', async () => {
    const nd = await node();
    const p = fresh('info');
    const c = await nd.login(p);
    const info = await nd.players.player(p);
    expect(info).toMatchObject({
      playerId: p,
      online: true,
      node: `node-${kind}`,
      sessionId: c.session.id,
      offlineQueued: 0,
      pushSeq: 0,
    });
    expect(Date.parse(info!.lastActiveAt)).toBeGreaterThan(Date.now() - 10_000);
    await nd.disconnect(c);
    expect(await nd.players.player(p)).toMatchObject({ online: false, node: null, sessionId: null });
  });

  it('announces online after a bind and offline after the close; nothing for a replaced session', async () => {
    const nd = await node();
    const p = fresh('life');
    const a = await nd.login(p);
    const b = await nd.login(p);
    await until(() => a.conn.closed);
    await nd.disconnect(a);
    await nd.disconnect(b);
    expect(nd.lifecycle.filter(([, who]) => who === p)).toEqual([
      ['online', p, a.session.id],
      ['online', p, b.session.id],
      ['offline', p, b.session.id],
    ]);
  });

  it('forgets a player players.retainMs after it went offline', async () => {
    const nd = await node({ players: { retainMs: 200 } });
    const p = fresh('forget');
    await knownOffline(nd, p);
    expect(await nd.players.push([p], 1, B('x'), true)).toEqual(['cached']);
    await until(async () => (await nd.players.player(p)) === null, 3_000, 'forgotten');
    expect(await nd.players.push([p], 1, B('x'), true)).toEqual(['dropped']);
  });

  it('concurrent pushes to an offline player take distinct seqs within the bounds', async () => {
    const nd = await node({ players: { offline: { maxMessages: 20, maxBytes: 100_000, ttlMs: 60_000 } } });
    const p = fresh('flood');
    await knownOffline(nd, p);
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) => nd.players.push([p], 1, B(`m${i}`), true)),
    );
    expect(results.flat().every((r) => r === 'cached')).toBe(true);
    expect(await nd.players.player(p)).toMatchObject({ offlineQueued: 20, pushSeq: 50 });
    const c = await nd.login(p);
    expect(seqs(c.conn.take(FrameType.PUSH))).toEqual(Array.from({ length: 20 }, (_, i) => 31 + i));
  });

  it('counts the players bound on this node as online', async () => {
    const nd = await node();
    await nd.login(fresh('c'));
    await nd.login(fresh('c'));
    expect(nd.players.counts().online).toBe(2);
  });
});
