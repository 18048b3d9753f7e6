/**
 * The gateway in the etcd registry (SPEC §11), end to end: a real etcd, real HTTP backend
 * instances registered by the test in the kratos and go-zero layouts, and a real gateway
 * discovering them and registering itself. Backends answer with their instance id.
 */
import { createServer, type Server } from 'node:http';
import type { Etcd3, Lease } from 'etcd3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GatewayConfigInput } from '../../src/config/schema.js';
import { Status } from '../../src/protocol/status.js';
import { createEtcdClient } from '../../src/registry/etcd-client.js';
import { encodeRecord, type RegistryLayout, recordKey } from '../../src/registry/records.js';
import { Cmd } from '../support/cmds.js';
import { EtcdServer } from '../support/etcd-server.js';
import { type Running, startGateway } from '../support/gateway-fixture.js';
import { api } from '../support/push-api.js';
import { RawClient } from '../support/raw-client.js';
import { sleep, waitFor } from '../support/wait.js';

const SERVICE = 'game_svc';

/** A backend instance: login binds the body; every other cmd answers the instance id (after the ms in its body, for SLEEP). */
class Instance {
  private server!: Server;
  port = 0;
  constructor(readonly id: string) {}

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString();
        const cmd = Number(req.headers['x-gateway-cmd']);
        if (cmd === Cmd.LOGIN) res.setHeader('x-gateway-bind', body);
        const wait = cmd === Cmd.SLEEP ? Number(body) : 0;
        setTimeout(() => res.end(this.id), wait);
      });
    });
    await new Promise<void>((r) => this.server.listen(this.port, '127.0.0.1', r));
    const a = this.server.address();
    this.port = typeof a === 'object' && a ? a.port : 0;
  }

  stop(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((r) => this.server.close(() => r()));
  }
}

describe.each<RegistryLayout>(['kratos', 'go-zero'])('discovery and registration, %s layout', (layout) => {
  const prefix = layout === 'kratos' ? '/microservices' : '';
  let etcd: EtcdServer;
  let client: Etcd3;
  const instances = new Map<string, { inst: Instance; lease: Lease }>();

  beforeAll(async () => {
    etcd = await EtcdServer.start();
    client = createEtcdClient({ endpoints: [etcd.url] });
  });
  afterAll(async () => {
    for (const { inst, lease } of instances.values()) {
      await lease.revoke().catch(() => {});
      await inst.stop();
    }
    client.close();
    await etcd.stop();
  });

  /** Starts an instance and registers it under SERVICE on a lease of `ttl` seconds (kept alive unless `keepAlive` is false). */
  async function register(id: string, ttl = 10, keepAlive = true): Promise<Instance> {
    const inst = new Instance(id);
    await inst.start();
    const lease = client.lease(ttl, { autoKeepAlive: keepAlive });
    const value = encodeRecord(layout, {
      id,
      name: SERVICE,
      version: '1',
      metadata: {},
      endpoints: [`http://127.0.0.1:${inst.port}`],
    });
    await lease.put(recordKey(layout, prefix, SERVICE, id)).value(value);
    instances.set(id, { inst, lease });
    return inst;
  }

  async function deregister(id: string): Promise<void> {
    const entry = instances.get(id)!;
    await entry.lease.revoke();
    await entry.inst.stop();
    instances.delete(id);
  }

  function gatewayConfig(balance: 'round-robin' | 'player-hash'): Partial<GatewayConfigInput> {
    return {
      registry: { etcd: { endpoints: [etcd.url] }, layout, prefix, ttlSeconds: 2, service: 'game-gateway' },
      targets: { game: { discover: SERVICE, path: '/rpc/{cmd}', balance, timeoutMs: 2_000 } },
      routes: [{ cmds: '1-999999', target: 'game' }],
      auth: { required: false },
      // Hundreds of requests on one session: the rate limit is not under test here.
      limits: { requestsPerSecond: 0 },
    };
  }

  const listed = (gw: Running): Promise<string[]> =>
    api(gw, 'GET', '/v1/stats').then((r) =>
      (r.body.targets.game.instances as Array<{ id: string }>).map((i) => i.id),
    );

  it('registers itself once listening, discovers 2 → 3 → 1 instances, spreads round-robin within ±10 %', async () => {
    await register(`${layout}-a`);
    await register(`${layout}-b`);
    const gw = await startGateway(
      null,
      { ...gatewayConfig('round-robin'), node: { id: `gw-${layout}` } },
      'silent',
    );
    try {
      await waitFor(async () => (await api(gw, 'GET', '/readyz')).status === 200, 5_000, 'ready');
      // Its own record, in the layout's key, on a lease.
      const ownKey = recordKey(layout, prefix, 'game-gateway', `gw-${layout}`);
      await waitFor(async () => (await client.get(ownKey).string()) !== null, 5_000, 'own record');
      const own = await client.get(ownKey).string();
      if (layout === 'kratos')
        expect(JSON.parse(own!)).toMatchObject({ id: `gw-${layout}`, name: 'game-gateway' });
      else expect(own).toMatch(/^[\d.]+:\d+$/);

      const c = await RawClient.connect(gw.tcpPort);
      expect(await listed(gw)).toEqual([`${layout}-a`, `${layout}-b`]);
      await register(`${layout}-c`);
      await waitFor(async () => (await listed(gw)).length === 3, 5_000, 'three instances');
      const counts = new Map<string, number>();
      for (let i = 0; i < 300; i++) {
        const who = (await c.request(Cmd.ECHO, '')).body.toString();
        counts.set(who, (counts.get(who) ?? 0) + 1);
      }
      expect([...counts.keys()].sort(), JSON.stringify([...counts])).toEqual([
        `${layout}-a`,
        `${layout}-b`,
        `${layout}-c`,
      ]);
      for (const n of counts.values()) expect(Math.abs(n - 100)).toBeLessThanOrEqual(10);
      expect(gw.gateway.metrics.registry.getSingleMetric('gateway_target_instances')).toBeDefined();

      await deregister(`${layout}-a`);
      await deregister(`${layout}-b`);
      await waitFor(async () => (await listed(gw)).length === 1, 5_000, 'one instance');
      for (let i = 0; i < 10; i++)
        expect((await c.request(Cmd.ECHO, '')).body.toString()).toBe(`${layout}-c`);
      c.close();
    } finally {
      await gw.gateway.stop();
    }
  });

  it('player-hash keeps each player on one instance; a fourth instance moves at most ~35 % of players', async () => {
    for (const id of ['d', 'e', 'f']) await register(`${layout}-${id}`);
    await deregister(`${layout}-c`);
    const gw = await startGateway(null, gatewayConfig('player-hash'), 'silent');
    try {
      await waitFor(async () => (await listed(gw)).length === 3, 5_000, 'three instances');
      const players = Array.from({ length: 40 }, (_, i) => `hashed-${i}`);
      const clients = await Promise.all(players.map(() => RawClient.connect(gw.tcpPort)));
      for (const [i, c] of clients.entries()) expect((await c.login(players[i])).status).toBe(0);
      const where = async (): Promise<string[]> => {
        const out: string[] = [];
        for (const c of clients) {
          const seen = new Set<string>();
          for (let k = 0; k < 3; k++) seen.add((await c.request(Cmd.ECHO, '')).body.toString());
          expect(seen.size).toBe(1);
          out.push([...seen][0]);
        }
        return out;
      };
      const before = await where();
      await register(`${layout}-g`);
      await waitFor(async () => (await listed(gw)).length === 4, 5_000, 'four instances');
      const after = await where();
      const moved = after.filter((w, i) => w !== before[i]);
      expect(moved.length).toBeLessThanOrEqual(Math.ceil(players.length * 0.35));
      // Only to the new instance: rendezvous hashing moves no one between the old three.
      for (const w of moved) expect(w).toBe(`${layout}-g`);
      for (const c of clients) c.close();
    } finally {
      await gw.gateway.stop();
    }
  });

  it('an instance that dies without deregistering: requests meanwhile get an answer (never hang), then its lease expires and it is dropped', async () => {
    for (const id of ['d', 'e', 'f', 'g']) await deregister(`${layout}-${id}`);
    await register(`${layout}-live`);
    const dying = await register(`${layout}-dying`, 2, false);
    const gw = await startGateway(null, gatewayConfig('round-robin'), 'silent');
    try {
      await waitFor(async () => (await listed(gw)).length === 2, 5_000, 'two instances');
      await dying.stop();
      const c = await RawClient.connect(gw.tcpPort);
      const statuses = new Set<number>();
      for (let i = 0; i < 6; i++) statuses.add((await c.request(Cmd.ECHO, '', 3_000)).status);
      expect([...statuses].every((s) => s === 0 || s === Status.BACKEND_UNAVAILABLE)).toBe(true);
      await waitFor(async () => (await listed(gw)).length === 1, 6_000, 'the dead instance dropped');
      for (let i = 0; i < 6; i++)
        expect((await c.request(Cmd.ECHO, '')).body.toString()).toBe(`${layout}-live`);
      instances.delete(`${layout}-dying`);
      c.close();
    } finally {
      await gw.gateway.stop();
    }
  });

  it('keeps serving the last known instances while etcd is down; deregisters before it drains', async () => {
    const gw = await startGateway(
      null,
      { ...gatewayConfig('round-robin'), node: { id: `gw2-${layout}` } },
      'silent',
    );
    const ownKey = recordKey(layout, prefix, 'game-gateway', `gw2-${layout}`);
    await waitFor(async () => (await client.get(ownKey).string()) !== null, 5_000, 'own record');
    await waitFor(async () => (await listed(gw)).length === 1, 5_000, 'one instance');
    const c = await RawClient.connect(gw.tcpPort);
    await etcd.kill();
    for (let i = 0; i < 5; i++)
      expect((await c.request(Cmd.ECHO, '')).body.toString()).toBe(`${layout}-live`);
    await etcd.restart();
    await waitFor(
      async () =>
        (await client
          .get(ownKey)
          .string()
          .catch(() => null)) !== null,
      10_000,
      'own record back',
    );

    // A request in flight while stopping: the record is gone first, /readyz then says 503, the request still ends.
    const slow = c.request(Cmd.SLEEP, '600', 5_000);
    await sleep(50);
    const stopping = gw.gateway.stop();
    await waitFor(async () => (await client.get(ownKey).string()) === null, 3_000, 'record revoked');
    await waitFor(
      async () => (await api(gw, 'GET', '/readyz').catch(() => ({ status: 0 }))).status === 503,
      3_000,
      '503 while draining',
    );
    expect((await slow).body.toString()).toBe(`${layout}-live`);
    await stopping;
  });
});
