/**
 * Cluster mode with real processes (SPEC §9): three gateway processes sharing a private
 * redis-server, clients on raw TCP, pushes through each node's HTTP API. Any node
 * accepts any push; it reaches the node that holds the player.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FrameType } from '../../src/protocol/frame.js';
import { Status } from '../../src/protocol/status.js';
import { Cmd } from '../support/cmds.js';
import { GatewayProcess } from '../support/gateway-process.js';
import { startBackend, type TestBackend } from '../support/processes.js';
import { RawClient } from '../support/raw-client.js';
import { RedisServer } from '../support/redis-server.js';
import { sleep } from '../support/wait.js';

let redis: RedisServer;
let backend: TestBackend;
let n1: GatewayProcess;
let n2: GatewayProcess;
let n3: GatewayProcess;
const clients: RawClient[] = [];

beforeAll(async () => {
  [redis, backend] = await Promise.all([RedisServer.start(), startBackend()]);
  const options = { redisUrl: redis.url, keyPrefix: 'nodes:', backendUrl: backend.url };
  [n1, n2, n3] = await Promise.all(
    ['n1', 'n2', 'n3'].map((nodeId) => GatewayProcess.start({ ...options, nodeId })),
  );
}, 60_000);

afterAll(async () => {
  for (const c of clients) c.close();
  await Promise.all([n1, n2, n3].map((n) => n?.stop()));
  await backend?.stop();
  await redis?.stop();
});

let count = 0;
const fresh = (name: string): string => `${name}-${++count}`;

/**
 * Logs in and waits until the binding is visible in Redis: the bind directive is applied
 * after the login RESPONSE is written, so it lands one Redis round trip after the client
 * sees the RESPONSE (docs/cluster.md, "Bind visibility").
 */
async function login(node: GatewayProcess, player: string): Promise<RawClient> {
  const c = await RawClient.connect(node.tcpPort);
  clients.push(c);
  const r = await c.login(player);
  expect(r.status).toBe(0);
  await until(async () => {
    const info = await node.api('GET', `/v1/players/${player}`);
    return info.status === 200 && info.body.sessionId === c.hello.sessionId;
  }, `${player} bound`);
  return c;
}

async function until(check: () => Promise<boolean>, what: string, timeoutMs = 5_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await sleep(20);
  }
}

async function nextPush(c: RawClient): Promise<[number, string]> {
  const f = await c.nextOfType(FrameType.PUSH);
  return [f.seq, f.body.toString()];
}

async function waitOffline(node: GatewayProcess, player: string): Promise<void> {
  const until = Date.now() + 5_000;
  for (;;) {
    const r = await node.api('GET', `/v1/players/${player}`);
    if (r.status === 200 && r.body.online === false) return;
    if (Date.now() > until) throw new Error(`${player} still online: ${JSON.stringify(r.body)}`);
    await sleep(20);
  }
}

describe('three gateway processes on one Redis', () => {
  it('every node is ready and names itself', async () => {
    for (const n of [n1, n2, n3]) expect(await n.ready()).toBe(200);
    const c = await RawClient.connect(n2.tcpPort);
    clients.push(c);
    expect(c.hello.node).toBe('n2');
  });

  it('a push accepted by any node reaches the node holding the player, with one sequence', async () => {
    const p = fresh('cross');
    const c = await login(n2, p);
    expect(await n1.push([p], 'from n1')).toEqual({ [p]: 'delivered' });
    expect(await nextPush(c)).toEqual([1, 'from n1']);
    expect(await n3.push([p], 'from n3')).toEqual({ [p]: 'delivered' });
    expect(await nextPush(c)).toEqual([2, 'from n3']);
    expect(await n2.push([p], 'local')).toEqual({ [p]: 'delivered' });
    expect(await nextPush(c)).toEqual([3, 'local']);
    const info = await n3.api('GET', `/v1/players/${p}`);
    expect(info.body).toMatchObject({ playerId: p, online: true, node: 'n2' });
  });

  it('a kick through any node closes the session on the holding node', async () => {
    const p = fresh('kick');
    const c = await login(n1, p);
    const r = await n3.api('POST', '/v1/kick', { players: [p, 'nobody'], reason: 'cheat' });
    expect(r.body).toEqual({ kicked: 1 });
    const kick = await c.nextOfType(FrameType.KICK);
    expect(kick.status).toBe(Status.KICKED);
    await c.waitClosed();
    await waitOffline(n2, p);
  });

  it('a broadcast through one node reaches the bound sessions of every node', async () => {
    const players = [fresh('bc'), fresh('bc'), fresh('bc')];
    const cs = await Promise.all([login(n1, players[0]), login(n2, players[1]), login(n3, players[2])]);
    const r = await n2.api('POST', '/v1/broadcast', { cmd: 9, data: Buffer.from('all').toString('base64') });
    expect(r.status).toBe(200);
    // Other tests' sessions may still be bound: at least these three.
    expect(r.body.delivered).toBeGreaterThanOrEqual(3);
    for (const c of cs) expect((await nextPush(c))[1]).toBe('all');
  });

  it('group membership set on one node counts on all; a group push reaches members on every node', async () => {
    const g = fresh('room');
    const [a, b, outsider] = [fresh('ga'), fresh('gb'), fresh('go')];
    const ca = await login(n1, a);
    const cb = await login(n3, b);
    const co = await login(n2, outsider);
    expect((await n2.api('PUT', `/v1/groups/${g}/members`, { players: [a, b] })).body).toEqual({
      members: 2,
    });
    // A join by backend directive on the member's own node (test backend cmd 13).
    const gc = fresh('gc');
    const cc = await login(n3, gc);
    expect((await cc.request(Cmd.JOIN, g)).status).toBe(0);
    // Directives apply after the RESPONSE: wait until the join landed (re-joining is idempotent).
    await until(
      async () => (await n1.api('PUT', `/v1/groups/${g}/members`, { players: [gc] })).body.members === 3,
      'joined',
    );
    const r = await n1.api('POST', `/v1/groups/${g}/push`, {
      cmd: 4,
      data: Buffer.from('hi').toString('base64'),
    });
    expect(r.body).toEqual({ delivered: 3 });
    for (const c of [ca, cb, cc]) expect((await nextPush(c))[1]).toBe('hi');
    expect((await co.request(Cmd.ECHO, 'ping')).status).toBe(0);
    expect(co.frames.filter((f) => f.type === FrameType.PUSH)).toEqual([]);
  });

  it('a login on another node replaces the older session (KICK REPLACED)', async () => {
    const p = fresh('dup');
    const old = await login(n1, p);
    const now = await login(n2, p);
    const kick = await old.nextOfType(FrameType.KICK);
    expect(kick.status).toBe(Status.REPLACED);
    await old.waitClosed();
    expect(await n3.push([p], 'to the new one')).toEqual({ [p]: 'delivered' });
    expect((await nextPush(now))[1]).toBe('to the new one');
    const info = await n1.api('GET', `/v1/players/${p}`);
    expect(info.body).toMatchObject({ online: true, node: 'n2' });
  });

  it('a player who reconnects to another node gets its queue in order, and the seq continues', async () => {
    const p = fresh('roam');
    const first = await login(n1, p);
    expect(await n2.push([p], 'm1')).toEqual({ [p]: 'delivered' });
    expect(await nextPush(first)).toEqual([1, 'm1']);
    first.close();
    await waitOffline(n3, p);
    expect(await n2.push([p], 'm2')).toEqual({ [p]: 'cached' });
    expect(await n1.push([p], 'm3')).toEqual({ [p]: 'cached' });
    expect((await n3.api('GET', `/v1/players/${p}`)).body).toMatchObject({ offlineQueued: 2, pushSeq: 3 });
    const second = await login(n3, p);
    expect(await nextPush(second)).toEqual([2, 'm2']);
    expect(await nextPush(second)).toEqual([3, 'm3']);
    expect(await n1.push([p], 'm4')).toEqual({ [p]: 'delivered' });
    expect(await nextPush(second)).toEqual([4, 'm4']);
  });
});
