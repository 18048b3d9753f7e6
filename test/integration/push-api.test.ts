import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FrameType } from '../../src/protocol/frame.js';
import { Status } from '../../src/protocol/status.js';
import { Cmd } from '../support/cmds.js';
import { type Running, startGateway } from '../support/gateway-fixture.js';
import { startBackend, type TestBackend } from '../support/processes.js';
import {
  api,
  b64,
  collect,
  expectNothingReceived,
  loginAs,
  waitFor,
  waitOffline,
} from '../support/push-api.js';
import { json, RawClient } from '../support/raw-client.js';
import { sleep } from '../support/wait.js';

let backend: TestBackend;
let gw: Running;
let n = 0;
/** A player id no other test uses (all tests share one gateway). */
const fresh = (name: string): string => `${name}-${++n}`;

beforeAll(async () => {
  backend = await startBackend();
  gw = await startGateway(backend.url, {}, 'silent');
});
afterAll(async () => {
  await gw.gateway.stop();
  await backend.stop();
});

/** Logs `player` in, then out by closing the connection; it stays known, offline. */
async function knownOffline(player: string): Promise<void> {
  const c = await loginAs(gw, player);
  c.close();
  await waitOffline(gw, player);
}

describe('POST /v1/push, JSON (SPEC §5)', () => {
  it('delivers to an online player: PUSH with the cmd, seq 1, and the body decoded from base64', async () => {
    const p = fresh('json');
    const c = await loginAs(gw, p);
    const data = Buffer.from([0, 1, 2, 0x7f, 0x80, 0xfe, 0xff]);
    const r = await api(gw, 'POST', '/v1/push', { players: [p], cmd: 4242, data: b64(data) });
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toBe('application/json');
    expect(r.body).toEqual({ delivered: 1, cached: 0, dropped: 0, results: { [p]: 'delivered' } });
    const push = await c.nextOfType(FrameType.PUSH);
    expect(push).toMatchObject({ type: FrameType.PUSH, status: 0, cmd: 4242, seq: 1 });
    expect(push.body.equals(data)).toBe(true);
    c.close();
  });

  it('counts delivered, cached and dropped, with a per-player results map', async () => {
    const [on, off, unknown] = [fresh('on'), fresh('off'), fresh('never')];
    const c = await loginAs(gw, on);
    await knownOffline(off);
    const r = await api(gw, 'POST', '/v1/push', { players: [on, off, unknown], cmd: 7, data: b64('hi') });
    expect(r.status).toBe(200);
    expect(r.body).toEqual({
      delivered: 1,
      cached: 1,
      dropped: 1,
      results: { [on]: 'delivered', [off]: 'cached', [unknown]: 'dropped' },
    });
    // The unknown player was not created by the push.
    expect((await api(gw, 'GET', `/v1/players/${unknown}`)).status).toBe(404);
    // The cached one is delivered when the player comes back.
    const back = await loginAs(gw, off);
    const push = await back.nextOfType(FrameType.PUSH);
    expect(push).toMatchObject({ cmd: 7, seq: 1 });
    expect(push.body.toString()).toBe('hi');
    c.close();
    back.close();
  });

  it('data may be omitted: an empty body', async () => {
    const p = fresh('empty');
    const c = await loginAs(gw, p);
    expect((await api(gw, 'POST', '/v1/push', { players: [p], cmd: 1 })).body.delivered).toBe(1);
    const push = await c.nextOfType(FrameType.PUSH);
    expect(push.body.length).toBe(0);
    c.close();
  });

  it('"offline": false drops for an offline player instead of caching, and takes no seq', async () => {
    const p = fresh('nocache');
    await knownOffline(p);
    const r = await api(gw, 'POST', '/v1/push', { players: [p], cmd: 7, data: b64('x'), offline: false });
    expect(r.body).toEqual({ delivered: 0, cached: 0, dropped: 1, results: { [p]: 'dropped' } });
    const info = (await api(gw, 'GET', `/v1/players/${p}`)).body;
    expect(info).toMatchObject({ offlineQueued: 0, pushSeq: 0 });
    const c = await loginAs(gw, p);
    await expectNothingReceived(c);
    c.close();
  });

  it('"offline": false still delivers to an online player', async () => {
    const p = fresh('online-nocache');
    const c = await loginAs(gw, p);
    const r = await api(gw, 'POST', '/v1/push', { players: [p], cmd: 7, offline: false });
    expect(r.body.delivered).toBe(1);
    await c.nextOfType(FrameType.PUSH);
    c.close();
  });

  it('lists results for up to 100 players, and only the counts beyond', async () => {
    const p = fresh('many');
    const c = await loginAs(gw, p);
    const ninetyNine = Array.from({ length: 99 }, (_, i) => `${p}-ghost-${i}`);
    const hundred = await api(gw, 'POST', '/v1/push', { players: [p, ...ninetyNine], cmd: 1 });
    expect(hundred.body).toMatchObject({ delivered: 1, cached: 0, dropped: 99 });
    expect(Object.keys(hundred.body.results)).toHaveLength(100);
    expect(hundred.body.results[p]).toBe('delivered');
    const hundredOne = await api(gw, 'POST', '/v1/push', {
      players: [p, ...ninetyNine, `${p}-ghost-x`],
      cmd: 1,
    });
    expect(hundredOne.body).toEqual({ delivered: 1, cached: 0, dropped: 100 });
    const frames = await collect(c, 2);
    expect(frames.map((f) => f.seq)).toEqual([1, 2]);
    c.close();
  });

  it('a player listed twice gets the message twice, each with its own seq', async () => {
    const p = fresh('twice');
    const c = await loginAs(gw, p);
    const r = await api(gw, 'POST', '/v1/push', { players: [p, p], cmd: 3, data: b64('d') });
    expect(r.body).toMatchObject({ delivered: 2, cached: 0, dropped: 0 });
    expect((await collect(c, 2)).map((f) => f.seq)).toEqual([1, 2]);
    c.close();
  });
});

describe('POST /v1/push, binary (content-type: application/octet-stream)', () => {
  const octet = { 'content-type': 'application/octet-stream' };

  it('pushes the raw body to ?players=a,b with ?cmd=n, body unchanged', async () => {
    const [a, b, gone] = [fresh('bin-a'), fresh('bin-b'), fresh('bin-gone')];
    const ca = await loginAs(gw, a);
    const cb = await loginAs(gw, b);
    // Large enough that the gateway writes header and body separately (no copy).
    const body = Buffer.alloc(64 * 1024);
    for (let i = 0; i < body.length; i++) body[i] = (i * 31) & 0xff;
    const r = await api(gw, 'POST', `/v1/push?players=${a},${b},${gone}&cmd=65000`, body, octet);
    expect(r.status).toBe(200);
    expect(r.body).toEqual({
      delivered: 2,
      cached: 0,
      dropped: 1,
      results: { [a]: 'delivered', [b]: 'delivered', [gone]: 'dropped' },
    });
    for (const c of [ca, cb]) {
      const push = await c.nextOfType(FrameType.PUSH);
      expect(push).toMatchObject({ cmd: 65000, seq: 1 });
      expect(push.body.equals(body)).toBe(true);
      c.close();
    }
  });

  it('caches for offline players, or drops with ?offline=false', async () => {
    const p = fresh('bin-off');
    await knownOffline(p);
    const cached = await api(gw, 'POST', `/v1/push?players=${p}&cmd=5`, Buffer.from('one'), octet);
    expect(cached.body).toMatchObject({ cached: 1, results: { [p]: 'cached' } });
    const dropped = await api(
      gw,
      'POST',
      `/v1/push?players=${p}&cmd=5&offline=false`,
      Buffer.from('two'),
      octet,
    );
    expect(dropped.body).toMatchObject({ dropped: 1, results: { [p]: 'dropped' } });
    const c = await loginAs(gw, p);
    const push = await c.nextOfType(FrameType.PUSH);
    expect(push.body.toString()).toBe('one');
    await expectNothingReceived(c);
    c.close();
  });

  it('accepts an empty body, and a player id that needs percent-encoding', async () => {
    const p = fresh('ann marie');
    const c = await loginAs(gw, p);
    const r = await api(
      gw,
      'POST',
      `/v1/push?players=${encodeURIComponent(p)}&cmd=0`,
      Buffer.alloc(0),
      octet,
    );
    expect(r.body).toMatchObject({ delivered: 1, results: { [p]: 'delivered' } });
    const push = await c.nextOfType(FrameType.PUSH);
    expect(push).toMatchObject({ cmd: 0, seq: 1 });
    expect(push.body.length).toBe(0);
    c.close();
  });
});

describe('POST /v1/broadcast and GET /v1/stats (own gateway, so the counts are exact)', () => {
  let own: Running;
  beforeAll(async () => {
    own = await startGateway(backend.url, {}, 'silent');
  });
  afterAll(() => own.gateway.stop());

  it('reaches every bound session, each with its own seq; unbound and logged-out sessions get nothing', async () => {
    const bound = await Promise.all(['b1', 'b2', 'b3'].map((p) => loginAs(own, p)));
    // b1 already had one direct push, so its broadcast seq is 2.
    await api(own, 'POST', '/v1/push', { players: ['b1'], cmd: 1 });
    expect((await bound[0].nextOfType(FrameType.PUSH)).seq).toBe(1);
    const unbound = await RawClient.connect(own.tcpPort);
    const loggedOut = await loginAs(own, 'b4');
    expect((await loggedOut.request(Cmd.LOGOUT)).status).toBe(0);

    const data = Buffer.from('hello everyone');
    const r = await api(own, 'POST', '/v1/broadcast', { cmd: 99, data: b64(data) });
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ delivered: 3 });
    const pushes = await Promise.all(bound.map((c) => c.nextOfType(FrameType.PUSH)));
    expect(pushes.map((f) => f.seq)).toEqual([2, 1, 1]);
    for (const f of pushes) {
      expect(f.cmd).toBe(99);
      expect(f.body.equals(data)).toBe(true);
    }
    await expectNothingReceived(unbound);
    await expectNothingReceived(loggedOut);
    // A body over 1 KiB takes the header+body write path; same answer.
    const big = Buffer.alloc(4096, 7);
    expect((await api(own, 'POST', '/v1/broadcast', { cmd: 100, data: b64(big) })).body).toEqual({
      delivered: 3,
    });
    for (const c of bound) {
      const f = await c.nextOfType(FrameType.PUSH);
      expect(f.body.equals(big)).toBe(true);
    }
    // Offline players are not cached for: a broadcast is for who is there now.
    expect((await api(own, 'GET', '/v1/players/b4')).body.offlineQueued).toBe(0);

    const stats = await api(own, 'GET', '/v1/stats');
    expect(stats.status).toBe(200);
    expect(stats.body).toEqual({
      node: 'test-node',
      sessions: { connected: 2, authed: 3 },
      players: { online: 3, offline: 1 },
      offlineMessages: 0,
      requestsInFlight: 0,
      requests: { success: 7, error: 0, drop: 0 }, // 4 logins, 1 logout, 2 echo probes
      errors: {},
      ready: true,
    });
    for (const c of [...bound, unbound, loggedOut]) c.close();
  });

  it('/v1/stats counts requests in flight and offline messages', async () => {
    await waitOfflineAll(own, ['b1', 'b2', 'b3']);
    await waitFor(() => own.gateway.sessions.size === 0, 3_000, 'every session closed');
    await api(own, 'POST', '/v1/push', { players: ['b1', 'b2'], cmd: 1 });
    const c = await RawClient.connect(own.tcpPort);
    const slow = c.request(Cmd.SLEEP, '400');
    await sleep(100);
    const stats = (await api(own, 'GET', '/v1/stats')).body;
    expect(stats).toMatchObject({
      sessions: { connected: 1, authed: 0 },
      players: { online: 0, offline: 4 },
      offlineMessages: 2,
      requestsInFlight: 1,
    });
    await slow;
    expect((await api(own, 'GET', '/v1/stats')).body.requestsInFlight).toBe(0);
    // Nobody bound: a broadcast reaches nobody (and the unbound session gets nothing).
    expect((await api(own, 'POST', '/v1/broadcast', { cmd: 1 })).body).toEqual({ delivered: 0 });
    await expectNothingReceived(c);
    c.close();
  });
});

async function waitOfflineAll(g: Running, players: string[]): Promise<void> {
  for (const p of players) await waitOffline(g, p);
}

describe('groups: POST /v1/groups/{g}/push, PUT/DELETE members, x-gateway-join/leave', () => {
  it('PUT adds known players (unknown ones are ignored) and answers the member count', async () => {
    const g = fresh('room');
    const [a, b] = [fresh('ga'), fresh('gb')];
    const ca = await loginAs(gw, a);
    await knownOffline(b);
    const put = await api(gw, 'PUT', `/v1/groups/${g}/members`, { players: [a, b, fresh('nobody')] });
    expect(put).toMatchObject({ status: 200, body: { members: 2 } });
    // Adding again changes nothing.
    expect((await api(gw, 'PUT', `/v1/groups/${g}/members`, { players: [a] })).body).toEqual({ members: 2 });
    // GET lists them, online or not.
    const listed = await api(gw, 'GET', `/v1/groups/${g}/members`);
    expect(listed.status).toBe(200);
    expect({ ...listed.body, members: [...listed.body.members].sort() }).toEqual({
      group: g,
      count: 2,
      members: [a, b].sort(),
    });

    // Only online members get a group push; offline members get nothing, not even cached.
    const r = await api(gw, 'POST', `/v1/groups/${g}/push`, { cmd: 31, data: b64('to the room') });
    expect(r.body).toEqual({ delivered: 1 });
    const push = await ca.nextOfType(FrameType.PUSH);
    expect(push).toMatchObject({ cmd: 31, seq: 1 });
    expect(push.body.toString()).toBe('to the room');
    expect((await api(gw, 'GET', `/v1/players/${b}`)).body.offlineQueued).toBe(0);

    // Membership belongs to the player: b logs in and is reached without joining again.
    const cb = await loginAs(gw, b);
    expect((await api(gw, 'POST', `/v1/groups/${g}/push`, { cmd: 32 })).body).toEqual({ delivered: 2 });
    expect((await ca.nextOfType(FrameType.PUSH)).seq).toBe(2);
    expect((await cb.nextOfType(FrameType.PUSH)).seq).toBe(1);

    const del = await api(gw, 'DELETE', `/v1/groups/${g}/members`, { players: [a] });
    expect(del.body).toEqual({ members: 1 });
    expect((await api(gw, 'POST', `/v1/groups/${g}/push`, { cmd: 33 })).body).toEqual({ delivered: 1 });
    expect((await cb.nextOfType(FrameType.PUSH)).cmd).toBe(33);
    await expectNothingReceived(ca);

    expect((await api(gw, 'DELETE', `/v1/groups/${g}/members`, { players: [b] })).body).toEqual({
      members: 0,
    });
    expect((await api(gw, 'POST', `/v1/groups/${g}/push`, { cmd: 34 })).body).toEqual({ delivered: 0 });
    ca.close();
    cb.close();
  });

  it('a group nobody joined: push reaches 0, DELETE answers 0', async () => {
    const g = fresh('empty-room');
    expect((await api(gw, 'POST', `/v1/groups/${g}/push`, { cmd: 1 })).body).toEqual({ delivered: 0 });
    expect((await api(gw, 'DELETE', `/v1/groups/${g}/members`, { players: ['x'] })).body).toEqual({
      members: 0,
    });
  });

  it('backend directives x-gateway-join / x-gateway-leave change the bound player’s groups', async () => {
    const [g1, g2] = [fresh('guild'), fresh('map')];
    const p = fresh('joiner');
    const other = fresh('bystander');
    const c = await loginAs(gw, p);
    const bystander = await loginAs(gw, other);
    expect((await c.request(Cmd.JOIN, `${g1}, ${g2}`)).status).toBe(0);
    expect((await api(gw, 'POST', `/v1/groups/${g1}/push`, { cmd: 41 })).body).toEqual({ delivered: 1 });
    expect((await api(gw, 'POST', `/v1/groups/${g2}/push`, { cmd: 42 })).body).toEqual({ delivered: 1 });
    expect((await collect(c, 2)).map((f) => [f.cmd, f.seq])).toEqual([
      [41, 1],
      [42, 2],
    ]);
    // The API sees the directive's members, and can add to them.
    expect((await api(gw, 'PUT', `/v1/groups/${g1}/members`, { players: [other] })).body).toEqual({
      members: 2,
    });

    expect((await c.request(Cmd.LEAVE, g1)).status).toBe(0);
    expect((await api(gw, 'POST', `/v1/groups/${g1}/push`, { cmd: 43 })).body).toEqual({ delivered: 1 });
    expect((await bystander.nextOfType(FrameType.PUSH)).cmd).toBe(43);
    expect((await api(gw, 'POST', `/v1/groups/${g2}/push`, { cmd: 44 })).body).toEqual({ delivered: 1 });
    expect((await c.nextOfType(FrameType.PUSH)).cmd).toBe(44);
    await expectNothingReceived(c);
    c.close();
    bystander.close();
  });

  it('join needs a bound session: an unbound session cannot join with a directive', async () => {
    const g = fresh('anon-room');
    const c = await RawClient.connect(gw.tcpPort);
    // cmd 13 is not anonymous: refused before the backend, so no directive is applied.
    expect((await c.request(Cmd.JOIN, g)).status).toBe(Status.NOT_AUTHENTICATED);
    expect((await api(gw, 'POST', `/v1/groups/${g}/push`, { cmd: 1 })).body).toEqual({ delivered: 0 });
    c.close();
  });
});

describe('POST /v1/kick', () => {
  it('sends KICK 302 KICKED with the reason as the message, closes, and the player goes offline', async () => {
    const [p, q] = [fresh('cheater'), fresh('innocent')];
    const c = await loginAs(gw, p);
    const other = await loginAs(gw, q);
    const r = await api(gw, 'POST', '/v1/kick', { players: [p, fresh('ghost')], reason: 'speed hack' });
    expect(r).toMatchObject({ status: 200, body: { kicked: 1 } });
    const kick = await c.nextOfType(FrameType.KICK);
    expect(kick.status).toBe(Status.KICKED);
    expect(kick.status).toBe(302);
    expect(json(kick)).toEqual({ error: 'KICKED', message: 'speed hack' });
    await c.waitClosed();
    await waitOffline(gw, p);
    // Kicking the same player again: nobody online to kick.
    expect((await api(gw, 'POST', '/v1/kick', { players: [p] })).body).toEqual({ kicked: 0 });
    await expectNothingReceived(other);
    other.close();
  });

  it('has a default reason', async () => {
    const p = fresh('kicked');
    const c = await loginAs(gw, p);
    expect((await api(gw, 'POST', '/v1/kick', { players: [p] })).body).toEqual({ kicked: 1 });
    const kick = await c.nextOfType(FrameType.KICK);
    expect(json(kick)).toEqual({ error: 'KICKED', message: 'kicked by the API' });
  });
});

describe('GET /v1/players/{id}', () => {
  it('answers every field while online, and after the session ended', async () => {
    const p = fresh('info');
    const before = Date.now();
    const c = await loginAs(gw, p);
    await api(gw, 'POST', '/v1/push', { players: [p], cmd: 1 });
    await c.nextOfType(FrameType.PUSH);
    const online = await api(gw, 'GET', `/v1/players/${p}`);
    expect(online.status).toBe(200);
    expect(online.body).toEqual({
      playerId: p,
      online: true,
      node: 'test-node',
      sessionId: c.hello.sessionId,
      lastActiveAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
      offlineQueued: 0,
      pushSeq: 1,
    });
    expect(Date.parse(online.body.lastActiveAt)).toBeGreaterThanOrEqual(before - 1);

    c.close();
    await waitOffline(gw, p);
    await api(gw, 'POST', '/v1/push', { players: [p], cmd: 1 });
    const offline = await api(gw, 'GET', `/v1/players/${p}`);
    expect(offline.body).toMatchObject({
      playerId: p,
      online: false,
      node: null,
      sessionId: null,
      offlineQueued: 1,
      pushSeq: 2,
    });
    expect(Date.parse(offline.body.lastActiveAt)).toBeGreaterThanOrEqual(
      Date.parse(online.body.lastActiveAt),
    );
  });

  it('lastActiveAt moves with the player’s requests', async () => {
    const p = fresh('active');
    const c = await loginAs(gw, p);
    const first = (await api(gw, 'GET', `/v1/players/${p}`)).body.lastActiveAt;
    await sleep(20);
    await c.request(Cmd.ECHO, 'x');
    const second = (await api(gw, 'GET', `/v1/players/${p}`)).body.lastActiveAt;
    expect(Date.parse(second)).toBeGreaterThan(Date.parse(first));
    c.close();
  });

  it('404 with a JSON error for a player never seen', async () => {
    const r = await api(gw, 'GET', '/v1/players/nobody-at-all');
    expect(r.status).toBe(404);
    expect(r.body).toEqual({ error: 'not_found', message: expect.stringContaining('nobody-at-all') });
  });

  it('decodes a percent-encoded id', async () => {
    const p = fresh('id with space/slash');
    const c = await loginAs(gw, p);
    const r = await api(gw, 'GET', `/v1/players/${encodeURIComponent(p)}`);
    expect(r.body).toMatchObject({ playerId: p, online: true });
    c.close();
  });
});
