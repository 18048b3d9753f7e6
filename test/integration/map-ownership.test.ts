/**
 * The bundled map-ownership plugin end to end: three real map server processes (map_a and
 * map_b run test/support/test-backend.ts, map_c runs test/support/map-backend.ts, which
 * refuses map 299 and answers x-gateway-map), the plugin loaded by its bundled name,
 * real TCP clients, and group pushes through the real HTTP API.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { GatewayConfigInput } from '../../src/config/schema.js';
import { Gateway } from '../../src/gateway.js';
import { createLogger } from '../../src/logger.js';
import { FrameType } from '../../src/protocol/frame.js';
import { Status } from '../../src/protocol/status.js';
import { Cmd } from '../support/cmds.js';
import { type Running, startGateway } from '../support/gateway-fixture.js';
import { startBackend, type TestBackend } from '../support/processes.js';
import { json, RawClient } from '../support/raw-client.js';
import { sleep } from '../support/wait.js';

const ENTER = 3001;
const TELEPORT = 3002;
const RAW_MAP_HEADER = 3003;
const MAP_CMD = 3005;
const WHERE = 3999;
const PUSH_CMD = 4242;

const options = {
  enterMapCmd: ENTER,
  mapCmds: '3000-3998',
  whereAmICmd: WHERE,
  owners: [
    { maps: '1-100', target: 'map_a' },
    { maps: '101-200', target: 'map_b' },
    { maps: '201-300', target: 'map_c' },
  ],
};

let a: TestBackend;
let b: TestBackend;
let c: TestBackend;
let gw: Running;

function targets(): GatewayConfigInput['targets'] {
  return {
    map_a: { url: `${a.url}/rpc/{cmd}`, timeoutMs: 2_000 },
    map_b: { url: `${b.url}/rpc/{cmd}`, timeoutMs: 2_000 },
    map_c: { url: `${c.url}/rpc/{cmd}`, timeoutMs: 2_000 },
  };
}

beforeAll(async () => {
  [a, b, c] = await Promise.all([
    startBackend(),
    startBackend(),
    startBackend('test/support/map-backend.ts'),
  ]);
  gw = await startGateway(null, {
    targets: targets(),
    // Login and logout go to map_a's test backend; map cmds have no route at all.
    routes: [{ cmds: [Cmd.LOGIN, Cmd.LOGOUT], target: 'map_a' }],
    auth: { required: true, anonymousCmds: [Cmd.LOGIN] },
    plugins: [{ module: 'map-ownership', options }],
  });
});
afterAll(async () => {
  await gw?.gateway.stop();
  await Promise.all([a?.stop(), b?.stop(), c?.stop()]);
});
beforeEach(async () => {
  await Promise.all([a.clear(), b.clear(), c.clear()]);
});

async function player(id: string): Promise<RawClient> {
  const client = await RawClient.connect(gw.tcpPort);
  expect((await client.login(id)).status).toBe(0);
  return client;
}

/** Map requests each backend received (logins and logouts left out). */
async function mapRequests(): Promise<
  Record<'a' | 'b' | 'c', Array<{ cmd: number; body: string; player: string }>>
> {
  const pick = async (t: TestBackend) =>
    (await t.requests())
      .filter((r) => Number(r.headers['x-gateway-cmd']) >= 3000)
      .map((r) => ({
        cmd: Number(r.headers['x-gateway-cmd']),
        body: r.body,
        player: r.headers['x-gateway-player'],
      }));
  const [ra, rb, rc] = await Promise.all([pick(a), pick(b), pick(c)]);
  return { a: ra, b: rb, c: rc };
}

async function where(client: RawClient): Promise<string | number> {
  const r = await client.request(WHERE);
  return r.status === 0 ? r.body.toString() : r.status;
}

async function groupPush(map: number, text: string): Promise<number> {
  const res = await fetch(`${gw.apiUrl}/v1/groups/map:${map}/push`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ cmd: PUSH_CMD, data: Buffer.from(text).toString('base64') }),
  });
  expect(res.status).toBe(200);
  return ((await res.json()) as { delivered: number }).delivered;
}

/** Members of `map:<map>` (online or not), read through the API (removing a player nobody is). */
async function members(map: number): Promise<number> {
  const res = await fetch(`${gw.apiUrl}/v1/groups/map:${map}/members`, {
    method: 'DELETE',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ players: ['nobody-at-all'] }),
  });
  expect(res.status).toBe(200);
  return ((await res.json()) as { members: number }).members;
}

/** The texts of the group pushes a client got so far (taken out of its buffer). */
function pushes(client: RawClient): string[] {
  const got = client.frames.filter((f) => f.type === FrameType.PUSH && f.cmd === PUSH_CMD);
  for (const f of got) client.frames.splice(client.frames.indexOf(f), 1);
  return got.map((f) => f.body.toString());
}

/**
 * How long a test sleeps to let pushes in flight reach the clients: a fixed time, not a
 * waitFor, since the checks after it also hold that no other push came.
 */
const SETTLE_MS = 50;

describe('map-ownership: routing by map', () => {
  it('before ENTER_MAP: map cmds and whereAmI answer ROUTE_NOT_FOUND without touching a backend', async () => {
    const p = await player('newbie');
    const r = await p.request(MAP_CMD, 'walk');
    expect(r.status).toBe(Status.ROUTE_NOT_FOUND);
    expect(json(r).message).toMatch(/ENTER_MAP first/);
    expect(await where(p)).toBe(Status.ROUTE_NOT_FOUND);
    expect(await mapRequests()).toEqual({ a: [], b: [], c: [] });
    p.close();
  });

  it('ENTER_MAP goes to the owner of the requested map; later map cmds follow the current map', async () => {
    const p = await player('walker');
    const r = await p.request(ENTER, '42');
    expect(r.status).toBe(0);
    expect(r.body.toString()).toBe('42');
    expect(await where(p)).toBe('42');
    await p.request(MAP_CMD, 'on 42');

    expect((await p.request(ENTER, '150')).status).toBe(0);
    expect(await where(p)).toBe('150');
    await p.request(MAP_CMD, 'on 150');

    expect(await mapRequests()).toEqual({
      a: [
        { cmd: ENTER, body: '42', player: 'walker' },
        { cmd: MAP_CMD, body: 'on 42', player: 'walker' },
      ],
      b: [
        { cmd: ENTER, body: '150', player: 'walker' },
        { cmd: MAP_CMD, body: 'on 150', player: 'walker' },
      ],
      c: [],
    });
    p.close();
  });

  it('a map no owner covers, or a body that is no map id → ROUTE_NOT_FOUND; the current map stays', async () => {
    const p = await player('lost');
    await p.request(ENTER, '7');
    await a.clear();
    for (const body of ['999', 'abc', '', '-1', '4294967296']) {
      expect((await p.request(ENTER, body)).status).toBe(Status.ROUTE_NOT_FOUND);
    }
    expect(await where(p)).toBe('7');
    expect(await mapRequests()).toEqual({ a: [], b: [], c: [] });
    p.close();
  });

  it('a backend that refuses ENTER_MAP leaves the player where it was', async () => {
    const p = await player('refused');
    await p.request(ENTER, '250');
    const r = await p.request(ENTER, '299');
    expect(r.status).toBe(Status.BACKEND_REJECTED);
    expect(json(r).httpStatus).toBe(409);
    expect(await where(p)).toBe('250');
    p.close();
  });

  it('a backend moves a player with x-gateway-map', async () => {
    const p = await player('teleported');
    await p.request(ENTER, '250');
    const r = await p.request(TELEPORT, '42');
    expect(r.body.toString()).toBe('moved');
    expect(await where(p)).toBe('42');
    await p.request(MAP_CMD, 'after teleport');
    const seen = await mapRequests();
    expect(seen.a).toEqual([{ cmd: MAP_CMD, body: 'after teleport', player: 'teleported' }]);
    expect(seen.c.map((s) => s.cmd)).toEqual([ENTER, TELEPORT]);
    expect(await groupPush(42, 'teleport check')).toBeGreaterThanOrEqual(1);
    await sleep(SETTLE_MS);
    expect(pushes(p)).toEqual(['teleport check']);
    expect(await groupPush(250, 'left behind')).toBe(0);
    p.close();
  });

  it('an x-gateway-map no owner covers is ignored (and logged)', async () => {
    const p = await player('bad-header');
    await p.request(ENTER, '250');
    await p.request(RAW_MAP_HEADER, '5000');
    await p.request(RAW_MAP_HEADER, 'nowhere');
    expect(await where(p)).toBe('250');
    expect(
      gw.logs.lines.some((l) => l.plugin === 'map-ownership' && l.header === '5000' && l.level === 40),
    ).toBe(true);
    p.close();
  });

  it('whereAmI is answered in the gateway and counted under the plugin', async () => {
    const p = await player('counted');
    await p.request(ENTER, '3');
    await Promise.all([a.clear(), b.clear(), c.clear()]);
    const before = gw.gateway.metrics.requests.total({ cmd: String(WHERE), route_target: 'map-ownership' });
    expect(await where(p)).toBe('3');
    expect(await mapRequests()).toEqual({ a: [], b: [], c: [] });
    expect(gw.gateway.metrics.requests.total({ cmd: String(WHERE), route_target: 'map-ownership' })).toBe(
      before + 1,
    );
    const text = await (await fetch(`${gw.apiUrl}/metrics`)).text();
    expect(text).toMatch(/gateway_map_ownership_moves_total\{via="enter"\} [1-9]/);
    p.close();
  });
});

describe('map-ownership: groups map:<id>', () => {
  it('a group push reaches exactly the players on that map, and follows them as they move', async () => {
    const alice = await player('g-alice');
    const bob = await player('g-bob');
    const carol = await player('g-carol');
    const dave = await player('g-dave'); // never enters a map
    await alice.request(ENTER, '60');
    await bob.request(ENTER, '60');
    await carol.request(ENTER, '160');

    expect(await groupPush(60, 'hello 60')).toBe(2);
    expect(await groupPush(160, 'hello 160')).toBe(1);
    await sleep(SETTLE_MS);
    expect(pushes(alice)).toEqual(['hello 60']);
    expect(pushes(bob)).toEqual(['hello 60']);
    expect(pushes(carol)).toEqual(['hello 160']);
    expect(pushes(dave)).toEqual([]);

    await bob.request(ENTER, '160');
    expect(await groupPush(60, 'only alice')).toBe(1);
    expect(await groupPush(160, 'bob and carol')).toBe(2);
    await sleep(SETTLE_MS);
    expect(pushes(alice)).toEqual(['only alice']);
    expect(pushes(bob)).toEqual(['bob and carol']);
    expect(pushes(carol)).toEqual(['bob and carol']);
    for (const client of [alice, bob, carol, dave]) client.close();
  });

  it('a closed session leaves its map; a reconnect starts on no map', async () => {
    const erin = await player('g-erin');
    await erin.request(ENTER, '61');
    expect(await members(61)).toBe(1);
    erin.close();
    await waitFor(async () => (await members(61)) === 0);

    const again = await player('g-erin');
    expect(await where(again)).toBe(Status.ROUTE_NOT_FOUND);
    expect((await again.request(MAP_CMD)).status).toBe(Status.ROUTE_NOT_FOUND);
    expect(await groupPush(61, 'after reconnect')).toBe(0);
    await again.request(ENTER, '61');
    expect(await groupPush(61, 'entered again')).toBe(1);
    again.close();
  });

  it('a login elsewhere (REPLACED) takes the player off the old session’s map', async () => {
    const old = await player('g-frank');
    await old.request(ENTER, '62');
    // The old client stops reading: its connection lingers after the KICK (up to 2 s), so
    // its close comes after the new session entered the same map, and must not undo that.
    old.socket.pause();
    const fresh = await player('g-frank');
    expect(await groupPush(62, 'stale')).toBe(0);
    expect(await members(62)).toBe(0);
    expect(await where(fresh)).toBe(Status.ROUTE_NOT_FOUND);
    await fresh.request(ENTER, '62');
    expect(await members(62)).toBe(1);
    old.socket.resume();
    expect((await old.nextOfType(FrameType.KICK)).status).toBe(Status.REPLACED);
    await old.waitClosed();
    await sleep(SETTLE_MS);
    expect(await members(62)).toBe(1);
    expect(await groupPush(62, 'fresh')).toBe(1);
    await sleep(SETTLE_MS);
    expect(pushes(fresh)).toEqual(['fresh']);
    fresh.close();
  });

  it('logout and login as someone else on the same connection: the map stays, the member changes', async () => {
    const conn = await player('g-gina');
    const watcher = await player('g-watch');
    await conn.request(ENTER, '63');
    await watcher.request(ENTER, '63');
    expect((await conn.request(Cmd.LOGOUT)).status).toBe(0); // x-gateway-unbind
    expect(await groupPush(63, 'gina offline')).toBe(1);
    expect((await conn.login('g-hank')).status).toBe(0);
    expect(await where(conn)).toBe('63');
    expect(await groupPush(63, 'hank on 63')).toBe(2);
    await sleep(SETTLE_MS);
    expect(pushes(conn)).toEqual(['hank on 63']);
    const gina = await gw.gateway.players.player('g-gina');
    expect(gina?.online).toBe(false);
    conn.close();
    watcher.close();
  });
});

describe('map-ownership: options', () => {
  async function setupError(pluginOptions: unknown): Promise<string> {
    const gateway = new Gateway({
      config: {
        node: { id: 'opts' },
        listen: { tcp: '127.0.0.1:0', api: '127.0.0.1:0' },
        targets: targets(),
        plugins: [{ module: 'map-ownership', options: pluginOptions }],
      },
      logger: createLogger('silent'),
    });
    return gateway.start().then(
      () => {
        throw new Error('start should have failed');
      },
      (err: Error) => err.message,
    );
  }

  it.each([
    [
      { ...options, owners: [...options.owners, { maps: '301-400', target: 'map_z' }] },
      /options\.owners\.3\.target: no target named "map_z" under targets/,
    ],
    [
      { ...options, owners: [...options.owners, { maps: '90-110', target: 'map_c' }] },
      /options\.owners\.3\.maps: map 90 is already owned by owners\.0/,
    ],
    [{ ...options, enterMapCmd: 'x' }, /options\.enterMapCmd: /],
    [{ ...options, mapCmds: '9-1' }, /options\.mapCmds: range "9-1" ends before it starts/],
    [{ ...options, owners: [] }, /options\.owners: /],
    [{ ...options, colour: 'red' }, /options\.colour: unknown key/],
    [{ ...options, whereAmICmd: ENTER }, /options\.whereAmICmd: must differ from enterMapCmd/],
    [undefined, /options\.enterMapCmd: /],
  ])('bad options stop the start with the option named (%#)', async (bad, message) => {
    const text = await setupError(bad);
    expect(text).toMatch(/^plugins\.0: plugin "map-ownership" \(module map-ownership\) failed to set up: /);
    expect(text).toMatch(message);
  });
});

async function waitFor(check: () => Promise<boolean>, timeoutMs = 3_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > until) throw new Error('condition not reached');
    await sleep(20);
  }
}
