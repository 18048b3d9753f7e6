/**
 * Node links (cluster.link, docs/cluster.md "Node links"): DIRECT pushes from the route
 * cache go over a TCP connection between the nodes instead of two Redis publishes; the
 * holding node applies them only after its subscriber connection has caught up (a PING),
 * so a link can never overtake a newer login's KICK. Engines in one process on a private
 * redis-server; every other cluster-engine scenario also runs with links on
 * (cluster-engine.test.ts), and so does the CLIENT PAUSE chaos test.
 */
import { connect, type Socket } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { buildConfig } from '../../src/config/load.js';
import { decodeMessage, encodeMessage, MessageKind } from '../../src/players/redis/cluster-message.js';
import { FrameType } from '../../src/protocol/frame.js';
import { Status } from '../../src/protocol/status.js';
import {
  directOverRedis,
  type EngineNode,
  linkOut,
  nodeConfig,
  pushBodies,
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

const LINK = '127.0.0.1:0';

/** Nodes of one cluster, each with cluster.link.listen as given (null: off). */
const cluster = (links: Array<string | null>): Promise<EngineNode[]> =>
  startCluster(redis.url, links, started);

const B = (s: string): Buffer => Buffer.from(s);

/** Pushes from `from` to `player` until one has gone over a link (the first ones dial it). */
async function linkUp(from: EngineNode, player: string): Promise<number> {
  let sent = 0;
  await until(async () => {
    expect(await from.players.push([player], 1, B(`warm${sent++}`), true)).toEqual(['delivered']);
    return linkOut(from) > 0;
  }, 3_000);
  return sent;
}

describe('node links', () => {
  it('once the link is up, pushes from the route cache go over it, not Redis, and arrive in order', async () => {
    const [a, b] = await cluster([LINK, LINK]);
    const c = await b.login('p1');
    const warm = await linkUp(a, 'p1');
    const overRedis = directOverRedis(a);
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) => a.players.push(['p1'], 1, B(`m${i}`), true)),
    );
    expect(results.flat().every((r) => r === 'delivered')).toBe(true);
    expect(directOverRedis(a)).toBe(overRedis);
    expect(linkOut(a)).toBeGreaterThan(1);
    // B answered over the link too.
    expect(b.metrics.clusterLinkMessages.total({ direction: 'out' })).toBeGreaterThan(0);
    const frames = c.conn.take(FrameType.PUSH);
    expect(frames.map((f) => f.body.toString())).toEqual([
      ...Array.from({ length: warm }, (_, i) => `warm${i}`),
      ...Array.from({ length: 50 }, (_, i) => `m${i}`),
    ]);
    expect(frames.map((f) => f.seq)).toEqual(Array.from({ length: warm + 50 }, (_, i) => i + 1));
  });

  it('a DIRECT over the link waits for the holding node to hear from Redis (its barrier)', async () => {
    const [a, b] = await cluster([LINK, LINK]);
    const c = await b.login('p2');
    await linkUp(a, 'p2');
    c.conn.frames.length = 0;
    expect(await redis.command('CLIENT PAUSE 400 ALL')).toMatch(/^\+OK/);
    const pausedAt = performance.now();
    const result = a.players.push(['p2'], 1, B('held'), true);
    await sleep(250);
    // B has the message, but its PING is held by the pause: nothing is written yet.
    expect(pushBodies(c)).toEqual([]);
    expect(await result).toEqual(['delivered']);
    expect(performance.now() - pausedAt).toBeGreaterThanOrEqual(390);
    expect(pushBodies(c)).toEqual(['held']);
  });

  it('a login on another node replaces the binding: the next push over the link reaches the new session', async () => {
    const [a, b, c] = await cluster([LINK, LINK, LINK]);
    const first = await b.login('roam0');
    await linkUp(a, 'roam0');
    for (let i = 0; i < 20; i++) {
      const player = `roam${i}`;
      const old = i === 0 ? first : await b.login(player);
      expect(await a.players.push([player], 1, B('before'), true)).toEqual(['delivered']);
      const now = await c.login(player);
      expect(await a.players.push([player], 1, B('after'), true)).toEqual(['delivered']);
      expect(pushBodies(now)).toEqual(['after']);
      expect(pushBodies(old).filter((x) => x === 'after')).toEqual([]);
      expect(old.conn.take(FrameType.KICK).map((f) => f.status)).toEqual([Status.REPLACED]);
    }
    expect(linkOut(a)).toBeGreaterThan(20);
  });

  it('pushes go over Redis to a node without a link, or whose link cannot be reached', async () => {
    const [a, b] = await cluster([LINK, null]);
    const c = await b.login('p3');
    for (let i = 0; i < 5; i++)
      expect(await a.players.push(['p3'], 1, B(`x${i}`), true)).toEqual(['delivered']);
    // A link that is advertised but refuses connections.
    const prefix = a.config.cluster.redis.keyPrefix;
    await redis.command(`SET ${prefix}link:b 127.0.0.1:${await freePort()} token PX 60000`);
    for (let i = 5; i < 10; i++) {
      expect(await a.players.push(['p3'], 1, B(`x${i}`), true)).toEqual(['delivered']);
      await sleep(20);
    }
    expect(linkOut(a)).toBe(0);
    expect(pushBodies(c)).toEqual(Array.from({ length: 10 }, (_, i) => `x${i}`));
  });

  it('a node without a listener of its own sends over Redis, even to a node that has one', async () => {
    const [a, b] = await cluster([null, LINK]);
    const c = await b.login('p6');
    for (let i = 0; i < 10; i++) {
      expect(await a.players.push(['p6'], 1, B(`z${i}`), true)).toEqual(['delivered']);
      await sleep(10);
    }
    expect(linkOut(a)).toBe(0);
    expect(pushBodies(c)).toEqual(Array.from({ length: 10 }, (_, i) => `z${i}`));
  });

  it('a node that restarts (new port, new token): the link drops, pushes go over Redis, then over a new link', async () => {
    const [a, b] = await cluster([LINK, LINK]);
    await b.login('p5');
    await linkUp(a, 'p5');
    await b.stop();
    started.splice(started.indexOf(b), 1);
    const config = nodeConfig('redis', 'b', redis.url, a.config.cluster.redis.keyPrefix);
    config.cluster = { ...config.cluster, link: { listen: LINK } };
    const again = await startNode(config);
    started.push(again);
    const c = await again.login('p5');
    const before = linkOut(a);
    const results: string[] = [];
    for (let i = 0; i < 40 && linkOut(a) === before; i++) {
      results.push(...(await a.players.push(['p5'], 1, B(`y${i}`), true)));
      await sleep(10);
    }
    expect(linkOut(a)).toBeGreaterThan(before);
    expect(results.every((r) => r === 'delivered')).toBe(true);
    expect(pushBodies(c)).toEqual(results.map((_, i) => `y${i}`));
  });

  it('a dialer with the wrong token, or that skips HELLO, or sends an oversized frame, is cut off', async () => {
    const [b] = await cluster([LINK]);
    const c = await b.login('p4');
    const prefix = b.config.cluster.redis.keyPrefix;
    const advertised = await redis.command(`GET ${prefix}link:a`);
    const [address, token] = advertised.trim().split('\n').at(-1)!.split(' ');
    expect(token).toMatch(/^[A-Za-z0-9_-]{32}$/);
    const port = Number(address.split(':').pop());
    const frame = (type: number, payload: Buffer) => {
      const head = Buffer.alloc(5);
      head.writeUInt32BE(1 + payload.length, 0);
      head[4] = type;
      return Buffer.concat([head, payload]);
    };
    const closedAfter = (bytes: Buffer): Promise<Buffer> =>
      new Promise((resolve) => {
        const s: Socket = connect(port, '127.0.0.1', () => s.write(bytes));
        const got: Buffer[] = [];
        s.on('data', (d) => got.push(d));
        s.on('close', () => resolve(Buffer.concat(got)));
        s.on('error', () => {});
      });
    // Wrong token: refused, no HELLO back.
    expect(await closedAfter(frame(1, B(`1 x ${'A'.repeat(32)}`)))).toHaveLength(0);
    // A MESSAGE before any HELLO.
    expect(await closedAfter(frame(2, Buffer.alloc(64)))).toHaveLength(0);
    // Another version, with the right token.
    expect(await closedAfter(frame(1, B(`2 x ${token}`)))).toHaveLength(0);
    // Before the HELLOs, a frame larger than a HELLO is not buffered.
    const big = Buffer.alloc(5);
    big.writeUInt32BE(4_096, 0);
    expect(await closedAfter(big)).toHaveLength(0);
    expect(c.conn.frames.filter((f) => f.type === FrameType.PUSH)).toEqual([]);
    // A dialer refused again and again (another version dials every second) is logged once a minute.
    for (let i = 0; i < 3; i++) {
      expect(await closedAfter(frame(1, B(`1 x ${'A'.repeat(32)}`)))).toHaveLength(0);
      expect(await closedAfter(frame(1, B(`2 x ${token}`)))).toHaveLength(0);
    }
    const refusals = b.logs.filter((l) => l.msg.startsWith('cluster link:'));
    expect(refusals.map((l) => [l.msg, l.unloggedRepeats])).toEqual([
      ['cluster link: wrong token, connection refused', 0],
      ['cluster link: HELLO refused', 0],
    ]);
    expect(refusals[0]).toMatchObject({ from: 'x' });

    // The right HELLO: B answers with its own, then takes a DIRECT written 3 bytes at a
    // time and answers its RESULTS on the same connection; then a frame past 8 MiB ends it.
    const s: Socket = connect(port, '127.0.0.1');
    s.setNoDelay(true);
    const got: Buffer[] = [];
    s.on('data', (d) => got.push(d));
    const closed = new Promise((r) => s.on('close', r));
    s.write(frame(1, B(`1 x ${token}`)));
    await until(() => Buffer.concat(got).includes('1 a'), 2_000, "b's HELLO");
    const epoch = (await redis.command(`HGET ${prefix}p:p4 epoch`)).trim().split('\n').at(-1)!;
    const direct = encodeMessage(
      MessageKind.DIRECT,
      ['x', 'r1', '1', '7', '3', '1', 'p4', epoch],
      [B('hey')],
    );
    const deadline = Buffer.alloc(8);
    deadline.writeDoubleBE(Date.now() + 60_000, 0);
    const message = frame(2, Buffer.concat([deadline, direct]));
    for (let at = 0; at < message.length; at += 3) {
      s.write(message.subarray(at, at + 3));
      await sleep(1);
    }
    await until(() => c.conn.frames.some((f) => f.type === FrameType.PUSH), 2_000, 'the push');
    expect(pushBodies(c)).toEqual(['hey']);
    await until(() => Buffer.concat(got).includes('r1'), 2_000, 'the RESULTS');
    // B's HELLO frame, then a MESSAGE frame (length, type, deadline) with the RESULTS.
    const answer = Buffer.concat(got);
    const results = decodeMessage(answer.subarray(4 + answer.readUInt32BE(0) + 5 + 8));
    expect(results).toMatchObject({ kind: MessageKind.RESULTS, fields: ['a', '1', 'r1', 'w'] });
    const huge = Buffer.alloc(5);
    huge.writeUInt32BE(64 * 1024 * 1024, 0);
    s.write(huge);
    await closed;
  });

  it('config: a bad address names the key; a port in use stops the start naming it', async () => {
    expect(() => buildConfig({ cluster: { engine: 'redis', link: { listen: 'nowhere' } } })).toThrow(
      /cluster\.link\.listen/,
    );
    const [a] = await cluster([LINK]);
    const prefix = a.config.cluster.redis.keyPrefix;
    const address = (await redis.command(`GET ${prefix}link:a`)).trim().split('\n').at(-1)!.split(' ')[0];
    const config = nodeConfig('redis', 'z', redis.url, uniquePrefix());
    config.cluster = { ...config.cluster, link: { listen: address } };
    await expect(startNode(config)).rejects.toThrow(/cluster\.link\.listen .*EADDRINUSE/);
  });
});
