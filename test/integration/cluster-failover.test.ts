/**
 * Cluster failures with real processes: every gateway SIGKILLed (cached pushes live in
 * Redis and are replayed after the restart), and Redis killed and restarted under live
 * sessions (nodes keep serving their own sessions, report 503 on /readyz, then 200 once
 * Redis is back and they have re-registered their players).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FrameType } from '../../src/protocol/frame.js';
import { Cmd } from '../support/cmds.js';
import { GatewayProcess } from '../support/gateway-process.js';
import { startBackend, type TestBackend } from '../support/processes.js';
import { RawClient } from '../support/raw-client.js';
import { RedisServer } from '../support/redis-server.js';
import { sleep } from '../support/wait.js';

let backend: TestBackend;
const clients: RawClient[] = [];
const nodes: GatewayProcess[] = [];
const servers: RedisServer[] = [];

beforeAll(async () => {
  backend = await startBackend();
});
afterAll(async () => {
  for (const c of clients) c.close();
  await Promise.all(nodes.map((n) => n.stop('SIGKILL')));
  await Promise.all(servers.map((s) => s.stop()));
  await backend?.stop();
});

async function cluster(prefix: string, ids: string[]): Promise<[RedisServer, ...GatewayProcess[]]> {
  const redis = await RedisServer.start();
  servers.push(redis);
  const started = await Promise.all(
    ids.map((nodeId) =>
      GatewayProcess.start({ nodeId, redisUrl: redis.url, keyPrefix: prefix, backendUrl: backend.url }),
    ),
  );
  nodes.push(...started);
  return [redis, ...started];
}

/** Logs in and waits until the binding is in Redis (it lands just after the login RESPONSE). */
async function login(node: GatewayProcess, player: string): Promise<RawClient> {
  const c = await RawClient.connect(node.tcpPort);
  clients.push(c);
  expect((await c.login(player)).status).toBe(0);
  await eventually(
    async () => (await node.api('GET', `/v1/players/${player}`)).body.sessionId === c.hello.sessionId,
    5_000,
    `${player} bound`,
  );
  return c;
}

async function eventually(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<number> {
  const startedAt = Date.now();
  while (!(await check())) {
    if (Date.now() - startedAt > timeoutMs) throw new Error(`${what} not within ${timeoutMs} ms`);
    await sleep(50);
  }
  return Date.now() - startedAt;
}

describe('SIGKILL of every gateway process', () => {
  it('pushes answered "cached" survive and are replayed in order after the restart', async () => {
    const [, a, b] = await cluster('kill:', ['ka', 'kb']);
    // "quiet" went offline cleanly; "live" is online on ka when everything dies.
    const quiet = await login(a, 'quiet');
    quiet.close();
    await eventually(
      async () => (await b.api('GET', '/v1/players/quiet')).body.online === false,
      5_000,
      'offline',
    );
    const live = await login(a, 'live');
    expect(await b.push(['live'], 'seen')).toEqual({ live: 'delivered' });
    expect((await live.nextOfType(FrameType.PUSH)).seq).toBe(1);

    expect(await a.push(['quiet'], 'q1')).toEqual({ quiet: 'cached' });
    expect(await b.push(['quiet'], 'q2')).toEqual({ quiet: 'cached' });

    await a.stop('SIGKILL');
    // ka's subscriber is gone with it: a push to its player is queued at once, not lost.
    expect(await b.push(['live'], 'l1')).toEqual({ live: 'cached' });
    await b.stop('SIGKILL');

    await Promise.all([a.restart(), b.restart()]);
    const q = await login(b, 'quiet');
    const qf = [await q.nextOfType(FrameType.PUSH), await q.nextOfType(FrameType.PUSH)];
    expect(qf.map((f) => [f.seq, f.body.toString()])).toEqual([
      [1, 'q1'],
      [2, 'q2'],
    ]);
    const l = await login(a, 'live');
    const lf = await l.nextOfType(FrameType.PUSH);
    // The dead node's reserved block is skipped: the sequence never goes back.
    expect(lf.body.toString()).toBe('l1');
    expect(lf.seq).toBeGreaterThan(1);
    expect(await b.push(['live'], 'l2')).toEqual({ live: 'delivered' });
    expect((await l.nextOfType(FrameType.PUSH)).seq).toBe(lf.seq + 1);
  }, 60_000);
});

describe('Redis killed and restarted under live sessions', () => {
  it('nodes keep serving their sessions, answer 503 on /readyz, and are ready again within seconds', async () => {
    const [redis, a, b] = await cluster('outage:', ['oa', 'ob']);
    const ca = await login(a, 'pa');
    const cb = await login(b, 'pb');
    expect(await a.push(['pb'], 'before')).toEqual({ pb: 'delivered' });
    expect((await cb.nextOfType(FrameType.PUSH)).seq).toBe(1);

    await redis.kill();
    await eventually(async () => (await a.ready()) === 503 && (await b.ready()) === 503, 5_000, '503');
    // Requests are still forwarded; a node's own sessions still get its pushes.
    expect((await ca.request(Cmd.ECHO, 'echo')).body.toString()).toBe('echo');
    expect((await cb.request(Cmd.ECHO, 'echo')).body.toString()).toBe('echo');
    expect(await b.push(['pb'], 'local')).toEqual({ pb: 'delivered' });
    expect((await cb.nextOfType(FrameType.PUSH)).seq).toBe(2);
    // What needs Redis is answered dropped, and counted.
    expect(await a.push(['pb'], 'cross')).toEqual({ pb: 'dropped' });
    const metrics = await (await fetch(`${a.apiUrl}/metrics`)).text();
    expect(metrics).toMatch(/gateway_cluster_redis_connected 0/);
    expect(metrics).toMatch(/gateway_push_total\{kind="direct",result="dropped"\} [1-9]/);
    // What cannot be answered without Redis says so: 503, to be retried.
    const lookup = await a.api('GET', '/v1/players/pb');
    expect(lookup.status).toBe(503);
    expect(lookup.body).toMatchObject({ error: 'engine_unavailable' });

    await redis.restart();
    const took = await eventually(
      async () => (await a.ready()) === 200 && (await b.ready()) === 200,
      10_000,
      'ready again',
    );
    expect(took).toBeLessThan(10_000);
    // Re-registered: a push through the other node is routed again, the seq continuing.
    expect(await a.push(['pb'], 'after')).toEqual({ pb: 'delivered' });
    const f = await cb.nextOfType(FrameType.PUSH);
    expect([f.seq, f.body.toString()]).toEqual([3, 'after']);
    expect((await b.api('GET', '/v1/players/pa')).body).toMatchObject({ online: true, node: 'oa' });
  }, 60_000);
});
