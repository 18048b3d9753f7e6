/**
 * Node links over TLS (cluster.link.tls, docs/cluster.md "Node links"): both ends present
 * a certificate and accept only one the cluster's CA signed. A node that cannot make the
 * handshake (another CA, no TLS) gets no link, and its pushes go over Redis as before.
 * Engines in one process on a private redis-server; certificates made by openssl per run.
 */
import { copyFileSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { buildConfig } from '../../src/config/load.js';
import {
  directOverRedis,
  type EngineNode,
  type LinkInput,
  type LinkSection,
  linkOut,
  nodeConfig,
  pushBodies,
  sleep,
  startCluster,
  startNode,
  uniquePrefix,
  until,
} from '../support/engine-harness.js';
import { startGateway } from '../support/gateway-fixture.js';
import { RedisServer } from '../support/redis-server.js';
import { type Issued, TestPki } from '../support/tls.js';

let redis: RedisServer;
let pki: TestPki;
let node: Issued;
let stranger: Issued;
beforeAll(async () => {
  redis = await RedisServer.start();
  pki = new TestPki();
  node = pki.node('node');
  stranger = pki.node('stranger', pki.otherCa);
});
afterAll(() => redis.stop());

const started: EngineNode[] = [];
afterEach(async () => {
  for (const nd of started.splice(0)) await nd.stop();
});

const LINK = '127.0.0.1:0';
/** A link with TLS: `cert` (and its key), accepting peers `ca` signed. */
const tlsLink = (cert: Issued, ca: Issued = pki.ca): LinkSection => ({
  listen: LINK,
  tls: { cert: cert.cert, key: cert.key, ca: ca.cert },
});
const cluster = (links: LinkInput[]): Promise<EngineNode[]> => startCluster(redis.url, links, started);

const B = (s: string): Buffer => Buffer.from(s);

/** Pushes one at a time from `from` to `player` until `done`; all must be delivered, in order. */
async function pushUntil(
  from: EngineNode,
  player: string,
  done: () => boolean,
  tag: string,
): Promise<string[]> {
  const sent: string[] = [];
  await until(async () => {
    const body = `${tag}${sent.length}`;
    expect(await from.players.push([player], 1, B(body), true)).toEqual(['delivered']);
    sent.push(body);
    return done();
  }, 3_000);
  return sent;
}

/** What a plain TCP dialer gets back from `port` for a HELLO (nothing, from a TLS listener). */
function plainHello(port: number): Promise<Buffer> {
  return new Promise((resolve) => {
    const s: Socket = connect(port, '127.0.0.1', () => {
      const hello = B('1 x token');
      const head = Buffer.alloc(5);
      head.writeUInt32BE(1 + hello.length, 0);
      head[4] = 1;
      s.write(Buffer.concat([head, hello]));
    });
    const got: Buffer[] = [];
    s.on('data', (d) => got.push(d));
    s.on('close', () => resolve(Buffer.concat(got)));
    s.on('error', () => {});
  });
}

async function linkPort(nd: EngineNode): Promise<number> {
  const prefix = nd.config.cluster.redis.keyPrefix;
  const advertised = (await redis.command(`GET ${prefix}link:${nd.config.node.id}`))
    .trim()
    .split('\n')
    .at(-1)!;
  return Number(advertised.split(' ')[0].split(':').pop());
}

describe('node links over TLS', () => {
  it('with cluster.link.tls on both nodes, pushes go over the TLS link, in order; plain TCP gets nothing', async () => {
    const [a, b] = await cluster([tlsLink(node), tlsLink(node)]);
    const c = await b.login('p1');
    const warm = await pushUntil(a, 'p1', () => linkOut(a) > 0, 'warm');
    const overRedis = directOverRedis(a);
    const results = await Promise.all(
      Array.from({ length: 30 }, (_, i) => a.players.push(['p1'], 1, B(`m${i}`), true)),
    );
    expect(results.flat().every((r) => r === 'delivered')).toBe(true);
    expect(directOverRedis(a)).toBe(overRedis);
    expect(b.metrics.clusterLinkMessages.total({ direction: 'out' })).toBeGreaterThan(0);
    expect(pushBodies(c)).toEqual([...warm, ...Array.from({ length: 30 }, (_, i) => `m${i}`)]);
    // B's listener speaks TLS only: a plain HELLO is never answered.
    expect(await plainHello(await linkPort(b))).toHaveLength(0);
  });

  it('a node with a certificate of another CA, or without TLS, gets no link: its pushes go over Redis', async () => {
    // B: another CA altogether; C: no TLS; D: trusts A's CA (it is no secret) but has no certificate it signed.
    const [a, b, c, d] = await cluster([
      tlsLink(node),
      tlsLink(stranger, pki.otherCa),
      LINK,
      tlsLink(stranger, pki.ca),
    ]);
    const client = await a.login('p2');
    for (const from of [b, c, d]) {
      const before = directOverRedis(from);
      const sent = await pushUntil(from, 'p2', () => directOverRedis(from) >= before + 3, 'r');
      expect(pushBodies(client)).toEqual(sent);
      // Each push found no link (they are dialed at the first, and refused).
      expect(linkOut(from)).toBe(0);
    }
    expect(a.metrics.clusterLinkMessages.total({ direction: 'in' })).toBe(0);
    // B (the other CA) cannot verify A's certificate: said once, not at every redial.
    const failed = () => b.logs.filter((l) => l.msg === 'cluster link: tls handshake failed');
    await until(() => failed().length > 0, 3_000, "b's warning");
    // A push after REDIAL_MS dials again, and fails again: not logged again.
    await sleep(1_100);
    expect(await b.players.push(['p2'], 1, B('again'), true)).toEqual(['delivered']);
    await sleep(300);
    expect(failed()).toHaveLength(1);
  });

  it('reloadTls (SIGHUP) gives the listener new files for its next handshakes; a bad file keeps the old ones', async () => {
    const dir = pki.dir;
    const cert = { cert: `${dir}/reload.pem`, key: `${dir}/reload.key` };
    copyFileSync(node.cert, cert.cert);
    copyFileSync(node.key, cert.key);
    const [a, b] = await cluster([tlsLink(cert), tlsLink(node)]);
    expect(a.players.reloadTls()).toBe(true);
    await b.login('p3');
    await pushUntil(a, 'p3', () => linkOut(a) > 0, 'x');

    // A broken file: refused, logged, the old certificate stays.
    writeFileSync(cert.cert, 'not a certificate');
    expect(a.players.reloadTls()).toBe(false);
    expect(a.logs.some((l) => l.msg === 'cluster link: tls files not reloaded; the old ones stay')).toBe(
      true,
    );
    expect(String(a.logs.at(-1)?.err)).toMatch(/cluster\.link\.tls\.cert/);

    // The stranger's certificate: a node of the cluster's CA dialing A anew is refused.
    copyFileSync(stranger.cert, cert.cert);
    copyFileSync(stranger.key, cert.key);
    expect(a.players.reloadTls()).toBe(true);
    const config = nodeConfig('redis', 'c', redis.url, a.config.cluster.redis.keyPrefix);
    config.cluster = { ...config.cluster, link: tlsLink(node) };
    const c = await startNode(config);
    started.push(c);
    await a.login('p4');
    const before = directOverRedis(c);
    await pushUntil(c, 'p4', () => directOverRedis(c) >= before + 3, 'y');
    expect(linkOut(c)).toBe(0);
  });

  it("a gateway's reloadTls (what SIGHUP calls) reloads the link's files", async () => {
    const { gateway, logs } = await startGateway(null, {
      cluster: {
        engine: 'redis',
        redis: { url: redis.url, keyPrefix: uniquePrefix() },
        link: tlsLink(node),
      },
    });
    try {
      expect(gateway.reloadTls()).toBe(true);
      expect(logs.lines.map((l) => l.msg)).toContain('cluster link: tls files reloaded');
    } finally {
      await gateway.stop();
    }
  });

  it('config: TLS without a listener, or a file that cannot be read, names its key', async () => {
    expect(() =>
      buildConfig({
        cluster: { engine: 'redis', link: { tls: { cert: node.cert, key: node.key, ca: pki.ca.cert } } },
      }),
    ).toThrow(/cluster\.link\.tls: needs cluster\.link\.listen/);
    expect(() =>
      buildConfig({
        cluster: { engine: 'redis', link: { listen: LINK, tls: { cert: node.cert, key: node.key } } },
      }),
    ).toThrow(/cluster\.link\.tls\.ca/);
    const config = nodeConfig('redis', 'z', redis.url, uniquePrefix());
    config.cluster = {
      ...config.cluster,
      link: { listen: LINK, tls: { cert: '/nonexistent.pem', key: node.key, ca: pki.ca.cert } },
    };
    await expect(startNode(config)).rejects.toThrow(
      /cluster\.link\.tls\.cert: cannot read \/nonexistent\.pem/,
    );
  });
});
