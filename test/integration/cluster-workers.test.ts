/**
 * `game-gateway --workers N`: N worker processes share the listeners (node:cluster), each
 * a cluster node `<node.id>-w<i>` on Redis; with the local engine the start is refused.
 */
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FrameType } from '../../src/protocol/frame.js';
import { Status } from '../../src/protocol/status.js';
import { Cmd } from '../support/cmds.js';
import { GatewayProcess } from '../support/gateway-process.js';
import { startBackend, type TestBackend } from '../support/processes.js';
import { RawClient } from '../support/raw-client.js';
import { freePort, RedisServer } from '../support/redis-server.js';
import { sleep } from '../support/wait.js';

let redis: RedisServer;
let backend: TestBackend;
let node: GatewayProcess;
let metricsPort: number;
/** cluster.link.listen's port: worker i listens on linkPort + i. */
let linkPort: number;
const clients: RawClient[] = [];

beforeAll(async () => {
  [redis, backend, metricsPort, linkPort] = await Promise.all([
    RedisServer.start(),
    startBackend(),
    freePort(),
    freePort(),
  ]);
  node = await GatewayProcess.start({
    nodeId: 'wk',
    redisUrl: redis.url,
    keyPrefix: 'workers:',
    backendUrl: backend.url,
    workers: 2,
    metricsPort,
    extra: {
      cluster: {
        engine: 'redis',
        redis: { url: redis.url, keyPrefix: 'workers:', commandTimeoutMs: 2_000 },
        link: { listen: `127.0.0.1:${linkPort}` },
      },
    },
  });
}, 60_000);

/** One sample's value from Prometheus text, or undefined. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

afterAll(async () => {
  for (const c of clients) c.close();
  await node?.stop('SIGKILL');
  await backend?.stop();
  await redis?.stop();
});

describe('--workers 2', () => {
  it('runs two nodes wk-w0 and wk-w1 behind one TCP and one API port, as one cluster', async () => {
    for (let i = 0; i < 6; i++) clients.push(await RawClient.connect(node.tcpPort));
    const nodes = new Set(clients.map((c) => c.hello.node));
    expect([...nodes].sort()).toEqual(['wk-w0', 'wk-w1']);
    expect(await redis.command('EXISTS workers:node:wk-w0 workers:node:wk-w1')).toBe(':2\r\n');

    for (const [i, c] of clients.entries()) expect((await c.login(`w${i}`)).status).toBe(0);
    // A bind lands in Redis just after the login RESPONSE; wait until every one did.
    for (const [i, c] of clients.entries()) {
      while ((await node.api('GET', `/v1/players/w${i}`)).body.sessionId !== c.hello.sessionId) {
        await sleep(20);
      }
    }
    // Whichever worker answers the API, every player is reached.
    const players = clients.map((_, i) => `w${i}`);
    for (let round = 0; round < 3; round++) {
      const results = await node.push(players, `r${round}`);
      expect(Object.values(results).every((r) => r === 'delivered')).toBe(true);
    }
    for (const c of clients) {
      const seqs = [];
      for (let round = 0; round < 3; round++) seqs.push((await c.nextOfType(FrameType.PUSH)).seq);
      expect(seqs).toEqual([1, 2, 3]);
    }
    const r = await node.api('POST', '/v1/broadcast', { cmd: 1, data: '' });
    expect(r.body).toEqual({ delivered: 6 });
  });

  it('gives each worker a node link listener of its own, port + worker index, and pushes between them use it', async () => {
    for (const [i, id] of ['wk-w0', 'wk-w1'].entries()) {
      const advertised = await redis.command(`GET workers:link:${id}`);
      expect(advertised).toContain(`127.0.0.1:${linkPort + i} `);
    }
    const players = clients.map((_, i) => `w${i}`);
    // Pushes through the shared API port reach a worker at random: some go to the other one.
    let overLinks = 0;
    for (let round = 0; round < 20 && overLinks === 0; round++) {
      const results = await node.push(players, `l${round}`);
      expect(Object.values(results).every((x) => x === 'delivered')).toBe(true);
      const text = await fetch(`http://127.0.0.1:${metricsPort}/metrics`).then((res) => res.text());
      overLinks = sample(text, 'gateway_cluster_link_messages_total{direction="out"}') ?? 0;
    }
    expect(overLinks).toBeGreaterThan(0);
  });

  it("serves both workers' metrics, summed, on the primary's listen.metrics", async () => {
    let text = '';
    for (let attempt = 0; attempt < 50 && !text.includes('gateway_build_info'); attempt++) {
      text = await fetch(`http://127.0.0.1:${metricsPort}/metrics`).then(
        (res) => res.text(),
        () => '',
      );
      if (!text.includes('gateway_build_info')) await sleep(100);
    }
    // Six sessions logged in, spread over the two workers: one scrape sees them all.
    expect(sample(text, 'gateway_sessions_current{status="authed"}')).toBe(6);
    expect(
      sample(text, 'gateway_requests_total{cmd="1",player_id="",route_target="game",result="success"}'),
    ).toBe(6);
    // Per-process facts are not summed.
    expect(sample(text, 'gateway_cluster_redis_connected')).toBe(1);
    expect(text).toMatch(/^gateway_build_info\{[^}]*\} 1$/m);
    // A worker's own listen.metrics is off: the primary holds that port.
    const listening = node.logs.filter((l) => l.msg === 'gateway listening');
    expect(listening.map((l) => l.metrics)).toEqual([null, null]);
    expect(node.logs.some((l) => String(l.msg).startsWith('primary serving'))).toBe(true);
  });

  it('passes SIGHUP on to the workers: the primary and every session stay up', async () => {
    const before = clients.filter((c) => !c.closed).length;
    node.child!.kill('SIGHUP');
    await sleep(500);
    expect(node.child!.exitCode).toBeNull();
    expect(clients.filter((c) => !c.closed)).toHaveLength(before);
    const c = await RawClient.connect(node.tcpPort);
    expect((await c.request(Cmd.ECHO, 'after hup')).body.toString()).toBe('after hup');
    c.close();
  });

  it('stops every worker on SIGTERM: sessions get KICK SERVER_SHUTDOWN, the primary exits 0', async () => {
    const kicks = clients.map((c) => c.nextOfType(FrameType.KICK));
    expect(await node.stop('SIGTERM')).toBe(0);
    for (const k of await Promise.all(kicks)) expect(k.status).toBe(Status.SERVER_SHUTDOWN);
  });

  it('refuses several workers with the local engine, naming the setting', () => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli.ts', '--workers', '2'], {
      encoding: 'utf8',
      env: { ...process.env, GATEWAY_CLUSTER_ENGINE: 'local', GATEWAY_LISTEN_TCP: '127.0.0.1:0' },
    });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/--workers 2: .*cluster\.engine: redis/);
  });
});
