/**
 * Several Redis engines (nodes) in one process, sharing a private redis-server: routing
 * between nodes, fencing across nodes, roaming, atomic queues under pushes from several
 * nodes, a node that stops answering, and a Redis outage. The same scenarios with real
 * gateway processes are in cluster-nodes.test.ts and cluster-failover.test.ts.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { GatewayConfigInput } from '../../src/config/schema.js';
import { FrameType } from '../../src/protocol/frame.js';
import { Status } from '../../src/protocol/status.js';
import {
  type EngineNode,
  nodeConfig,
  sleep,
  startCluster,
  startNode,
  uniquePrefix,
  until,
} from '../support/engine-harness.js';
import { freePort, RedisServer } from '../support/redis-server.js';

let redis: RedisServer;
beforeAll(async () => {
  redis = await RedisServer.start();
});
afterAll(() => redis.stop());

const started: EngineNode[] = [];
afterEach(async () => {
  for (const nd of started.splice(0)) await nd.stop();
});

/** Every scenario runs twice: DIRECT pushes over the nodes' channels, and over node links. */
const MODES = [
  { mode: 'over Redis', link: null },
  { mode: 'over node links', link: '127.0.0.1:0' },
];
/** cluster.link.listen of the nodes cluster() starts (set by the mode). */
let linkListen: string | null = null;

/** `count` nodes a, b, c… of one cluster (one key prefix). */
const cluster = (count: number, overrides: Partial<GatewayConfigInput> = {}): Promise<EngineNode[]> =>
  startCluster(redis.url, Array(count).fill(linkListen), started, overrides);

const B = (s: string): Buffer => Buffer.from(s);
const pushes = (c: { conn: { take(t: number): { seq: number; body: Buffer }[] } }) =>
  c.conn.take(FrameType.PUSH).map((f) => [f.seq, f.body.toString()]);

describe.each(MODES)('$mode', ({ link }) => {
  beforeAll(() => {
    linkListen = link;
  });

  describe('routing between nodes', () => {
    it('a push accepted by one node is delivered by the node that holds the player, acknowledged', async () => {
      const [a, b] = await cluster(2);
      const c = await b.login('p1');
      expect(await a.players.push(['p1'], 5, B('one'), true)).toEqual(['delivered']);
      expect(await b.players.push(['p1'], 5, B('two'), true)).toEqual(['delivered']);
      expect(await a.players.push(['p1'], 5, B('three'), true)).toEqual(['delivered']);
      expect(pushes(c)).toEqual([
        [1, 'one'],
        [2, 'two'],
        [3, 'three'],
      ]);
      expect(a.metrics.clusterPushDuration.child().count).toBe(2);
      expect(await a.players.player('p1')).toMatchObject({
        online: true,
        node: 'b',
        sessionId: c.session.id,
      });
    });

    it('kick from any node reaches the holding node', async () => {
      const [a, b] = await cluster(2);
      const c = await b.login('k1');
      expect(await a.players.kick(['k1', 'ghost'], 'bye')).toBe(1);
      const [kick] = c.conn.take(FrameType.KICK);
      expect(kick.status).toBe(Status.KICKED);
      expect(JSON.parse(kick.body.toString()).message).toBe('bye');
      await until(async () => (await a.players.player('k1'))?.online === false);
    });

    it('broadcast reaches every bound session on every node and counts them all', async () => {
      const [a, b, c] = await cluster(3);
      const ca = await a.login('ba');
      const cb1 = await b.login('bb1');
      const cb2 = await b.login('bb2');
      const cc = await c.login('bc');
      expect(await b.players.broadcast(2, B('all'))).toBe(4);
      for (const client of [ca, cb1, cb2, cc]) expect(pushes(client)).toEqual([[1, 'all']]);
    });

    it('group membership set on one node counts on all; group push reaches members on every node', async () => {
      const [a, b, c] = await cluster(3);
      const m1 = await a.login('g1');
      const m2 = await b.login('g2');
      await c.disconnect(await c.login('g3')); // offline member
      const outsider = await b.login('g4');
      expect(await a.players.join('room', ['g1', 'g2', 'g3'])).toBe(3);
      expect(await c.players.groupPush('room', 4, B('hi'))).toBe(2);
      expect(pushes(m1)).toEqual([[1, 'hi']]);
      expect(pushes(m2)).toEqual([[1, 'hi']]);
      expect(pushes(outsider)).toEqual([]);
      expect(await b.players.leave('room', ['g1'])).toBe(2);
      expect(await a.players.groupPush('room', 4, B('again'))).toBe(1);
      expect(pushes(m1)).toEqual([]);
    });
  });

  describe('bindings across nodes', () => {
    it('a login on another node kicks the older session with REPLACED; its late close changes nothing', async () => {
      const [a, b] = await cluster(2);
      const old = await a.login('dup');
      const now = await b.login('dup');
      await until(() => old.conn.closed, 3_000, 'old session kicked');
      expect(old.conn.take(FrameType.KICK).map((f) => f.status)).toEqual([Status.REPLACED]);
      await a.disconnect(old);
      expect(await a.players.push(['dup'], 1, B('x'), true)).toEqual(['delivered']);
      expect(pushes(now)).toEqual([[1001, 'x']]);
      expect(await a.players.player('dup')).toMatchObject({ online: true, node: 'b' });
    });

    it('a stale unbind from the older node never removes the newer binding', async () => {
      const [a, b] = await cluster(2);
      const old = await a.login('fence');
      // The older node learns late: its session closes before the REPLACED kick arrives.
      const closing = a.disconnect(old);
      const now = await b.login('fence');
      await closing;
      await sleep(50);
      expect(await b.players.player('fence')).toMatchObject({
        online: true,
        node: 'b',
        sessionId: now.session.id,
      });
      expect(await a.players.push(['fence'], 1, B('y'), true)).toEqual(['delivered']);
    });

    it('a player who reconnects to another node gets its queue in order and the seq continues', async () => {
      const [a, b, c] = await cluster(3);
      const first = await a.login('roam');
      expect(await c.players.push(['roam'], 1, B('m1'), true)).toEqual(['delivered']);
      await a.disconnect(first);
      expect(await c.players.push(['roam'], 1, B('m2'), true)).toEqual(['cached']);
      expect(await a.players.push(['roam'], 1, B('m3'), true)).toEqual(['cached']);
      const second = await b.login('roam');
      expect(await c.players.push(['roam'], 1, B('m4'), true)).toEqual(['delivered']);
      expect(pushes(first)).toEqual([[1, 'm1']]);
      expect(pushes(second)).toEqual([
        [2, 'm2'],
        [3, 'm3'],
        [4, 'm4'],
      ]);
    });

    it('concurrent pushes from several nodes to an offline player keep the bounds and distinct seqs', async () => {
      const [a, b, c] = await cluster(3, {
        players: { offline: { maxMessages: 30, maxBytes: 100_000, ttlMs: 60_000 } },
      });
      await a.disconnect(await a.login('flood'));
      const results = await Promise.all(
        Array.from({ length: 90 }, (_, i) => [a, b, c][i % 3].players.push(['flood'], 1, B(`m${i}`), true)),
      );
      expect(results.flat().every((r) => r === 'cached')).toBe(true);
      expect(await b.players.player('flood')).toMatchObject({ offlineQueued: 30, pushSeq: 90 });
      const overflow = [a, b, c].reduce(
        (n, nd) => n + nd.metrics.offlineDropped.total({ reason: 'overflow' }),
        0,
      );
      expect(overflow).toBe(60);
      const client = await c.login('flood');
      expect(pushes(client).map(([seq]) => seq)).toEqual(Array.from({ length: 30 }, (_, i) => 61 + i));
    });

    it('numbers pushes past its reserved block without a gap, and gives the unused rest back at logout', async () => {
      const [a, b] = await cluster(2);
      const c = await b.login('many');
      for (let i = 0; i < 1_100; i += 100) {
        const batch = Array.from({ length: 100 }, (_, j) => ((i + j) % 2 === 0 ? a : b));
        const results = await Promise.all(
          batch.map((nd, j) => nd.players.push(['many'], 1, B(`m${i + j}`), true)),
        );
        expect(results.flat().every((r) => r === 'delivered')).toBe(true);
      }
      const seqs = pushes(c).map(([seq]) => seq);
      expect(seqs).toEqual(Array.from({ length: 1_100 }, (_, i) => i + 1));
      await b.disconnect(c);
      expect(await a.players.player('many')).toMatchObject({ online: false, pushSeq: 1_100 });
      expect(await a.players.push(['many'], 1, B('next'), true)).toEqual(['cached']);
      expect(await a.players.player('many')).toMatchObject({ pushSeq: 1_101 });
    });

    it('pushes that reach a node while its bind is in flight come after the queue replay', async () => {
      const [a, b] = await cluster(2);
      await b.disconnect(await b.login('race'));
      for (const m of ['q1', 'q2']) expect(await a.players.push(['race'], 1, B(m), true)).toEqual(['cached']);
      const client = b.connect();
      const binding = b.players.bind(client.session, 'race');
      const during = Promise.all(
        Array.from({ length: 20 }, (_, i) => a.players.push(['race'], 1, B(`n${i}`), true)),
      );
      await binding;
      const results = (await during).flat();
      await sleep(50);
      const frames = pushes(client);
      // Every push is either replayed from the queue or delivered after it, seq always growing.
      expect(frames.slice(0, 2).map(([, body]) => body)).toEqual(['q1', 'q2']);
      const got = frames.map(([seq]) => seq as number);
      expect([...got].sort((x, y) => x - y)).toEqual(got);
      expect(new Set(got).size).toBe(got.length);
      expect(frames.length).toBe(2 + results.length);
    });
  });

  describe('route cache (pushes straight to the node last seen holding the player)', () => {
    // DIRECT messages over Redis, or over the link (a DIRECT out of a, into b: these tests push a → b).
    const direct = (nd: EngineNode, dir: 'in' | 'out') =>
      nd.metrics.clusterMessages.child(dir, 'direct').value + nd.metrics.clusterLinkMessages.child(dir).value;

    it('after one push through the script, the next go straight to the holding node, in order', async () => {
      const [a, b] = await cluster(2);
      const c = await b.login('rc1');
      for (const body of ['one', 'two', 'three']) {
        expect(await a.players.push(['rc1'], 5, B(body), true)).toEqual(['delivered']);
      }
      expect(pushes(c)).toEqual([
        [1, 'one'],
        [2, 'two'],
        [3, 'three'],
      ]);
      expect(direct(a, 'out')).toBe(2);
      expect(direct(b, 'in')).toBe(2);
      // b applied them (a refused DIRECT would have sent a back through the script).
      expect(a.metrics.clusterMessages.child('out', 'push').value).toBe(1);
      expect(a.metrics.clusterPushDuration.child().count).toBe(3);
    });

    it('a remembered route gone stale (the player logged in on another node) reaches the new session, never the old', async () => {
      const [a, b, c] = await cluster(3);
      const old = await b.login('rc2');
      expect(await a.players.push(['rc2'], 5, B('before'), true)).toEqual(['delivered']);
      const now = await c.login('rc2');
      await until(() => old.conn.closed, 3_000, 'old session kicked');
      expect(await a.players.push(['rc2'], 5, B('after'), true)).toEqual(['delivered']);
      expect(pushes(old)).toEqual([[1, 'before']]);
      expect(pushes(now).map(([, body]) => body)).toEqual(['after']);
      expect(direct(a, 'out')).toBe(1);
    });

    it('a remembered player who went offline is queued (cached) and replayed at the next login', async () => {
      const [a, b] = await cluster(2);
      const first = await b.login('rc3');
      expect(await a.players.push(['rc3'], 5, B('online'), true)).toEqual(['delivered']);
      await b.disconnect(first);
      expect(await a.players.push(['rc3'], 5, B('queued'), true)).toEqual(['cached']);
      expect(direct(a, 'out')).toBe(1);
      const again = await b.login('rc3');
      expect(pushes(again)).toEqual([[2, 'queued']]);
    });

    it('a remembered node that stopped: the push is queued at once, not after a timeout', async () => {
      const [a, b] = await cluster(2);
      await b.login('rc4');
      expect(await a.players.push(['rc4'], 5, B('online'), true)).toEqual(['delivered']);
      await b.stop();
      started.splice(started.indexOf(b), 1);
      const t0 = performance.now();
      expect(await a.players.push(['rc4'], 5, B('queued'), true)).toEqual(['cached']);
      expect(performance.now() - t0).toBeLessThan(a.config.cluster.redis.commandTimeoutMs);
      expect(a.metrics.clusterAckTimeouts.child('push').value).toBe(0);
    });

    it('the pushes of one turn to one node go in one DIRECT message, each with its cmd and body; a stale entry among them is routed again', async () => {
      const [a, b, c] = await cluster(3);
      const one = await b.login('rd1');
      const two = await b.login('rd2');
      const moved = await b.login('rd3');
      // Through the script once each: a now remembers b for all three.
      for (const p of ['rd1', 'rd2', 'rd3'])
        expect(await a.players.push([p], 1, B('warm'), true)).toEqual(['delivered']);
      const now = await c.login('rd3');
      await until(() => moved.conn.closed, 3_000, 'rd3 kicked on b');
      const before = direct(a, 'out');
      // Issued in one turn: nothing awaited between them.
      const results = await Promise.all([
        a.players.push(['rd1'], 5, B('1a'), true),
        a.players.push(['rd2'], 6, B('2a'), true),
        a.players.push(['rd3'], 7, B('3a'), true),
        a.players.push(['rd1'], 8, B('1b'), true),
      ]);
      expect(results).toEqual([['delivered'], ['delivered'], ['delivered'], ['delivered']]);
      expect(direct(a, 'out') - before).toBe(1);
      const frames = (cl: typeof one) =>
        cl.conn.take(FrameType.PUSH).map((f) => [f.cmd, f.seq, f.body.toString()]);
      expect(frames(one)).toEqual([
        [1, 1, 'warm'],
        [5, 2, '1a'],
        [8, 3, '1b'],
      ]);
      expect(frames(two)).toEqual([
        [1, 1, 'warm'],
        [6, 2, '2a'],
      ]);
      // b answered "not here" for rd3; a asked Redis and reached the session on c.
      expect(frames(now).map(([cmd, , body]) => [cmd, body])).toEqual([[7, '3a']]);
    });

    it('a batch to players on two nodes: one message per node, every player answered', async () => {
      const [a, b, c] = await cluster(3);
      const onB = await Promise.all(['rb1', 'rb2', 'rb3'].map((p) => b.login(p)));
      const onC = await Promise.all(['rc5', 'rc6'].map((p) => c.login(p)));
      const all = ['rb1', 'rc5', 'rb2', 'gone', 'rc6', 'rb3'];
      const expected = ['delivered', 'delivered', 'delivered', 'dropped', 'delivered', 'delivered'];
      expect(await a.players.push(all, 5, B('x'), true)).toEqual(expected);
      expect(await a.players.push(all, 5, B('y'), true)).toEqual(expected);
      expect(direct(a, 'out')).toBe(2);
      for (const cl of [...onB, ...onC])
        expect(pushes(cl)).toEqual([
          [1, 'x'],
          [2, 'y'],
        ]);
    });
  });

  describe('failures', () => {
    it('a holding node that does not answer within commandTimeoutMs is taken as gone: the push is cached', async () => {
      const [a] = await cluster(1);
      const prefix = a.config.cluster.redis.keyPrefix;
      // A "node" that is alive by its heartbeat and subscribed, but never answers.
      await redis.command(`SET ${prefix}node:ghost inst1 PX 60000`);
      await redis.command(
        `HSET ${prefix}p:silent node ghost inst inst1 sess s1 epoch 1 seq 1000 cur 0 last 0 qb 0`,
      );
      const { Redis } = await import('ioredis');
      const ghost = new Redis(redis.url);
      await ghost.subscribe(`${prefix}ch:ghost`);
      try {
        const startedAt = Date.now();
        expect(await a.players.push(['silent'], 1, B('late'), true)).toEqual(['cached']);
        expect(Date.now() - startedAt).toBeGreaterThanOrEqual(950);
        expect(a.metrics.clusterAckTimeouts.total({ kind: 'push' })).toBe(1);
        // Still online by the record (the ghost's heartbeat lives): the message waits for its next login.
        expect(await a.players.player('silent')).toMatchObject({
          online: true,
          node: 'ghost',
          offlineQueued: 1,
        });
        expect(await a.players.push(['silent'], 1, B('no'), false)).toEqual(['dropped']);
      } finally {
        ghost.disconnect();
      }
    });

    it('pushes queued while a node subscriber reconnects are replayed to its sessions', async () => {
      const [a, b] = await cluster(2);
      const c = await b.login('blip');
      await redis.command('CLIENT KILL TYPE pubsub');
      // Before b resubscribes the publish finds no receiver and the push is queued; after, delivered.
      const [result] = await a.players.push(['blip'], 1, B('through'), true);
      expect(['cached', 'delivered']).toContain(result);
      await until(() => a.players.ready && b.players.ready, 5_000, 'resubscribed');
      await until(() => c.conn.frames.some((f) => f.type === FrameType.PUSH), 3_000, 'replayed');
      expect(pushes(c)).toEqual([[result === 'cached' ? 1001 : 1, 'through']]);
    });

    it('players of a node whose heartbeat expired count as offline', async () => {
      const [a] = await cluster(1);
      const prefix = a.config.cluster.redis.keyPrefix;
      await redis.command(`HSET ${prefix}p:orphan node dead inst x sess s1 epoch 1 seq 7 cur 7 last 0 qb 0`);
      expect(await a.players.player('orphan')).toMatchObject({ online: false, node: null, pushSeq: 7 });
      expect(await a.players.push(['orphan'], 1, B('kept'), true)).toEqual(['cached']);
      expect(await a.players.kick(['orphan'], 'x')).toBe(0);
    });
  });

  describe('Redis outage', () => {
    it('a node started while Redis is down starts not ready, and is ready once Redis appears', async () => {
      const port = await freePort();
      const startedAt = Date.now();
      const a = await startNode(nodeConfig('redis', 'early', `redis://127.0.0.1:${port}`, uniquePrefix()));
      started.push(a);
      expect(Date.now() - startedAt).toBeLessThan(5_000);
      expect(a.players.ready).toBe(false);
      const c = await a.login('early-bird');
      expect(await a.players.push(['early-bird', 'other'], 1, B('x'), true)).toEqual(['dropped', 'dropped']);
      const late = await RedisServer.start(port);
      try {
        await until(() => a.players.ready, 8_000, 'ready');
        // The login made meanwhile was registered: it now gets pushes.
        expect(await a.players.player('early-bird')).toMatchObject({ online: true, node: 'early' });
        expect(await a.players.push(['early-bird'], 1, B('now'), true)).toEqual(['delivered']);
        expect(pushes(c)).toEqual([[1, 'now']]);
      } finally {
        await a.stop();
        started.splice(started.indexOf(a), 1);
        await late.stop();
      }
    }, 30_000);

    it('keeps serving its own sessions, reports not ready, re-registers its players when Redis is back', async () => {
      const local = await RedisServer.start();
      const prefix = uniquePrefix();
      const a = await startNode(nodeConfig('redis', 'a', local.url, prefix));
      const b = await startNode(nodeConfig('redis', 'b', local.url, prefix));
      started.push(a, b);
      try {
        const c = await a.login('stay');
        await a.disconnect(await a.login('offline-one'));
        expect(await a.players.push(['stay'], 1, B('before'), true)).toEqual(['delivered']);

        await local.kill();
        await until(() => !a.players.ready, 3_000, 'a not ready');
        // Its own session still gets pushes, the seq continuing; what needs Redis is dropped and counted.
        expect(await a.players.push(['stay'], 1, B('during'), true)).toEqual(['delivered']);
        expect(await a.players.push(['offline-one'], 1, B('lost'), true)).toEqual(['dropped']);
        expect(a.metrics.clusterRedisErrors.total({ op: 'push' })).toBeGreaterThanOrEqual(1);
        expect(await a.players.broadcast(1, B('bc'))).toBe(1);
        await expect(a.players.join('g', ['stay'])).rejects.toThrow(/unavailable/);

        await local.restart(); // empty: everything in Redis is gone
        await until(() => a.players.ready && b.players.ready, 8_000, 'ready again');
        expect(await b.players.player('stay')).toMatchObject({ online: true, node: 'a' });
        expect(await b.players.push(['stay'], 1, B('after'), true)).toEqual(['delivered']);
        expect(pushes(c)).toEqual([
          [1, 'before'],
          [2, 'during'],
          [3, 'bc'],
          [4, 'after'],
        ]);
      } finally {
        await local.stop();
      }
    }, 30_000);
  });
});
