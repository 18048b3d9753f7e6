import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeFrame, FrameType } from '../../src/protocol/frame.js';
import { FrameDecoder } from '../../src/protocol/frame-decoder.js';
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
  sleep,
  waitFor,
  waitOffline,
} from '../support/push-api.js';
import { json, RawClient } from '../support/raw-client.js';

let backend: TestBackend;
beforeAll(async () => {
  backend = await startBackend();
});
afterAll(() => backend.stop());

let n = 0;
const fresh = (name: string): string => `${name}-${++n}`;

async function push(gw: Running, player: string, body: string | Buffer, cmd = 5): Promise<string> {
  const r = await api(gw, 'POST', '/v1/push', { players: [player], cmd, data: b64(body) });
  expect(r.status).toBe(200);
  return r.body.results[player];
}

async function knownOffline(gw: Running, player: string): Promise<void> {
  const c = await loginAs(gw, player);
  c.close();
  await waitOffline(gw, player);
}

async function info(gw: Running, player: string) {
  return (await api(gw, 'GET', `/v1/players/${encodeURIComponent(player)}`)).body;
}

/** Sends a login REQUEST without waiting, so the RESPONSE stays in arrival order with what follows. */
function sendLogin(c: RawClient, player: string, seq = 1): void {
  c.send(FrameType.REQUEST, Cmd.LOGIN, seq, player);
}

describe('offline queue bounds (players.offline.maxMessages / maxBytes)', () => {
  let gw: Running;
  beforeAll(async () => {
    gw = await startGateway(
      backend.url,
      { players: { retainMs: 60_000, offline: { maxMessages: 3, maxBytes: 100, ttlMs: 60_000 } } },
      'silent',
    );
  });
  afterAll(() => gw.gateway.stop());

  it('keeps the newest maxMessages, drops the oldest (counted), and replays in order with seq gaps', async () => {
    const p = fresh('count');
    await knownOffline(gw, p);
    const overflowBefore = gw.gateway.metrics.offlineDropped.total({ reason: 'overflow' });
    for (let i = 1; i <= 5; i++) expect(await push(gw, p, `m${i}`)).toBe('cached');
    expect(await info(gw, p)).toMatchObject({ offlineQueued: 3, pushSeq: 5 });
    expect(gw.gateway.metrics.offlineDropped.total({ reason: 'overflow' }) - overflowBefore).toBe(2);
    expect((await api(gw, 'GET', '/v1/stats')).body.offlineMessages).toBe(3);

    const c = await RawClient.connect(gw.tcpPort);
    sendLogin(c, p);
    const frames = await collect(c, 4);
    expect(frames[0]).toMatchObject({ type: FrameType.RESPONSE, status: 0, seq: 1 });
    expect(frames.slice(1).map((f) => [f.type, f.seq, f.body.toString()])).toEqual([
      [FrameType.PUSH, 3, 'm3'],
      [FrameType.PUSH, 4, 'm4'],
      [FrameType.PUSH, 5, 'm5'],
    ]);
    // The next push continues the sequence; seq 1 and 2 were taken by the dropped messages.
    expect(await push(gw, p, 'm6')).toBe('delivered');
    expect((await c.nextOfType(FrameType.PUSH)).seq).toBe(6);
    expect(await info(gw, p)).toMatchObject({ offlineQueued: 0, pushSeq: 6 });
    expect((await api(gw, 'GET', '/v1/stats')).body.offlineMessages).toBe(0);
    c.close();
  });

  it('keeps total body bytes within maxBytes, dropping the oldest', async () => {
    const p = fresh('bytes');
    await knownOffline(gw, p);
    const forty = (tag: string): string => tag.padEnd(40, '.');
    for (const tag of ['a', 'b', 'c']) expect(await push(gw, p, forty(tag))).toBe('cached');
    // 3 × 40 bytes > 100: the first one had to go.
    expect(await info(gw, p)).toMatchObject({ offlineQueued: 2, pushSeq: 3 });
    const c = await loginAs(gw, p);
    const frames = await collect(c, 2);
    expect(frames.map((f) => [f.seq, f.body.toString()[0]])).toEqual([
      [2, 'b'],
      [3, 'c'],
    ]);
    c.close();
  });

  it('a message bigger than maxBytes is dropped on its own, takes no seq, and keeps the queue', async () => {
    const p = fresh('huge');
    await knownOffline(gw, p);
    expect(await push(gw, p, 'small')).toBe('cached');
    expect(await push(gw, p, Buffer.alloc(101, 1))).toBe('dropped');
    expect(await info(gw, p)).toMatchObject({ offlineQueued: 1, pushSeq: 1 });
    // Exactly maxBytes fits, evicting the rest.
    expect(await push(gw, p, Buffer.alloc(100, 2))).toBe('cached');
    expect(await info(gw, p)).toMatchObject({ offlineQueued: 1, pushSeq: 2 });
  });
});

describe('replaying a full queue with the default bounds', () => {
  let gw: Running;
  beforeAll(async () => {
    gw = await startGateway(backend.url, {}, 'silent');
  });
  afterAll(() => gw.gateway.stop());

  it('a queue full to players.offline.maxBytes (1 MiB) replays whole, without a SLOW_CONSUMER kick', async () => {
    const p = fresh('full-queue');
    await knownOffline(gw, p);
    // 200 × 5 242 B = 1 048 400 B of bodies: within both default bounds; with frame
    // headers the replay is over limits.maxWriteBufferBytes (1 MiB) by a little.
    const body = Buffer.alloc(5_242, 0x5a);
    for (let i = 0; i < 200; i++) expect(await push(gw, p, body)).toBe('cached');
    expect(await info(gw, p)).toMatchObject({ offlineQueued: 200, pushSeq: 200 });
    const c = await RawClient.connect(gw.tcpPort);
    sendLogin(c, p);
    const frames = await collect(c, 201);
    expect(frames[0]).toMatchObject({ type: FrameType.RESPONSE, status: 0 });
    expect(frames.slice(1).map((f) => f.seq)).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
    expect(frames.slice(1).every((f) => f.type === FrameType.PUSH && f.body.length === body.length)).toBe(
      true,
    );
    expect(await push(gw, p, 'next')).toBe('delivered');
    expect((await c.nextOfType(FrameType.PUSH)).seq).toBe(201);
    expect(c.closed).toBe(false);
    c.close();
  });
});

describe('offline queue expiry (players.offline.ttlMs)', () => {
  let gw: Running;
  beforeAll(async () => {
    gw = await startGateway(
      backend.url,
      { players: { retainMs: 60_000, offline: { maxMessages: 100, maxBytes: 100_000, ttlMs: 300 } } },
      'silent',
    );
  });
  afterAll(() => gw.gateway.stop());

  it('messages older than ttlMs are never delivered, and are counted as expired', async () => {
    const p = fresh('ttl');
    await knownOffline(gw, p);
    const expiredBefore = gw.gateway.metrics.offlineDropped.total({ reason: 'expired' });
    expect(await push(gw, p, 'old1')).toBe('cached');
    expect(await push(gw, p, 'old2')).toBe('cached');
    await sleep(400);
    expect(await push(gw, p, 'fresh')).toBe('cached');
    expect(await info(gw, p)).toMatchObject({ offlineQueued: 1, pushSeq: 3 });
    expect(gw.gateway.metrics.offlineDropped.total({ reason: 'expired' }) - expiredBefore).toBe(2);
    const c = await loginAs(gw, p);
    const f = await c.nextOfType(FrameType.PUSH);
    expect([f.seq, f.body.toString()]).toEqual([3, 'fresh']);
    await expectNothingReceived(c);
    c.close();
  });

  it('GET /v1/players does not report expired messages, and a login after expiry replays nothing', async () => {
    const p = fresh('ttl-read');
    await knownOffline(gw, p);
    await push(gw, p, 'soon gone');
    expect((await info(gw, p)).offlineQueued).toBe(1);
    await sleep(400);
    expect((await info(gw, p)).offlineQueued).toBe(0);
    const c = await loginAs(gw, p);
    await expectNothingReceived(c);
    // The sequence still counts the expired message.
    expect(await push(gw, p, 'next')).toBe('delivered');
    expect((await c.nextOfType(FrameType.PUSH)).seq).toBe(2);
    c.close();
  });
});

describe('retention (players.retainMs)', () => {
  let gw: Running;
  beforeAll(async () => {
    gw = await startGateway(backend.url, { players: { retainMs: 200 } }, 'silent');
  });
  afterAll(() => gw.gateway.stop());

  it('keeps an offline player for retainMs, then forgets it and its queue', async () => {
    const p = fresh('retained');
    const c = await loginAs(gw, p);
    await push(gw, p, 'online one');
    c.close();
    await waitOffline(gw, p);
    expect(await push(gw, p, 'cached one')).toBe('cached');
    expect(await info(gw, p)).toMatchObject({ online: false, offlineQueued: 1, pushSeq: 2 });
    const room = `${p}-room`;
    expect((await api(gw, 'PUT', `/v1/groups/${room}/members`, { players: [p] })).body).toEqual({
      members: 1,
    });
    const forgottenBefore = gw.gateway.metrics.offlineDropped.total({ reason: 'forgotten' });

    // The sweep runs once a second; the player must be gone soon after retainMs.
    const t0 = Date.now();
    await waitFor(async () => (await api(gw, 'GET', `/v1/players/${p}`)).status === 404, 3_000, 'forgotten');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(100);
    expect(gw.gateway.metrics.offlineDropped.total({ reason: 'forgotten' }) - forgottenBefore).toBe(1);
    expect((await api(gw, 'GET', '/v1/stats')).body).toMatchObject({
      players: { online: 0, offline: 0 },
      offlineMessages: 0,
    });

    // Forgetting a player takes it out of its groups.
    expect((await api(gw, 'DELETE', `/v1/groups/${room}/members`, { players: ['nobody'] })).body).toEqual({
      members: 0,
    });
    // Unknown again: pushes are dropped, and a new login starts a new sequence with nothing queued.
    expect(await push(gw, p, 'into the void')).toBe('dropped');
    const again = await loginAs(gw, p);
    await expectNothingReceived(again);
    expect(await push(gw, p, 'hello again')).toBe('delivered');
    expect((await again.nextOfType(FrameType.PUSH)).seq).toBe(1);
    again.close();
  });

  it('an online player is never forgotten, however long it stays', async () => {
    const p = fresh('stays');
    const c = await loginAs(gw, p);
    await sleep(1_300);
    expect(await info(gw, p)).toMatchObject({ online: true });
    c.close();
  });

  it('coming back within retainMs keeps the player (and its groups)', async () => {
    const p = fresh('back-soon');
    const c = await loginAs(gw, p);
    await c.request(Cmd.JOIN, 'club');
    c.close();
    await waitOffline(gw, p);
    const again = await loginAs(gw, p);
    await sleep(1_300);
    expect((await api(gw, 'POST', '/v1/groups/club/push', { cmd: 1 })).body).toEqual({ delivered: 1 });
    again.close();
  });
});

describe('binding, replay and push sequences', () => {
  let gw: Running;
  beforeAll(async () => {
    gw = await startGateway(backend.url, {}, 'silent');
  });
  afterAll(() => gw.gateway.stop());

  it('seq runs 1, 2, 3 per player and continues across reconnects', async () => {
    const [p, q] = [fresh('seq'), fresh('other')];
    const c = await loginAs(gw, p);
    const other = await loginAs(gw, q);
    for (let i = 0; i < 3; i++) await push(gw, p, `a${i}`);
    await push(gw, q, 'q');
    expect((await collect(c, 3)).map((f) => f.seq)).toEqual([1, 2, 3]);
    // Another player's sequence is its own.
    expect((await other.nextOfType(FrameType.PUSH)).seq).toBe(1);

    c.close();
    await waitOffline(gw, p);
    await push(gw, p, 'while away');
    const back = await loginAs(gw, p);
    expect((await back.nextOfType(FrameType.PUSH)).seq).toBe(4);
    await push(gw, p, 'after');
    expect((await back.nextOfType(FrameType.PUSH)).seq).toBe(5);
    other.close();
    back.close();
  });

  it('replays cached messages after the login RESPONSE, in order, before any newer push', async () => {
    const p = fresh('replay');
    await knownOffline(gw, p);
    for (let i = 1; i <= 3; i++) await push(gw, p, `cached${i}`);

    // Pushes keep coming while the login is under way: each lands either in the queue
    // (before the bind) or straight on the session (after it). Either way the client must
    // see the RESPONSE first and then one unbroken, ascending sequence.
    const c = await RawClient.connect(gw.tcpPort);
    let stop = false;
    let sent = 0;
    const flood = (async () => {
      while (!stop && sent < 200) {
        await push(gw, p, `live${++sent}`);
      }
    })();
    await sleep(5);
    sendLogin(c, p);
    await waitFor(() => c.frames.some((f) => f.type === FrameType.RESPONSE), 3_000, 'login RESPONSE');
    await sleep(30);
    stop = true;
    await flood;
    const frames = await collect(c, 1 + 3 + sent);
    expect(frames[0]).toMatchObject({ type: FrameType.RESPONSE, status: 0 });
    const pushes = frames.slice(1);
    expect(pushes.every((f) => f.type === FrameType.PUSH)).toBe(true);
    expect(pushes.map((f) => f.seq)).toEqual(Array.from({ length: 3 + sent }, (_, i) => i + 1));
    expect(pushes.map((f) => f.body.toString())).toEqual([
      'cached1',
      'cached2',
      'cached3',
      ...Array.from({ length: sent }, (_, i) => `live${i + 1}`),
    ]);
    c.close();
  });

  it('logout (x-gateway-unbind) makes the player offline but keeps the connection; pushes are cached', async () => {
    const p = fresh('logout');
    const c = await loginAs(gw, p);
    expect((await c.request(Cmd.LOGOUT)).status).toBe(0);
    expect(await info(gw, p)).toMatchObject({ online: false, sessionId: null });
    expect(await push(gw, p, 'for later')).toBe('cached');
    // Still connected, now unbound: non-anonymous cmds are refused again.
    expect((await c.request(Cmd.LOGOUT)).status).toBe(Status.NOT_AUTHENTICATED);
    await expectNothingReceived(c);
    // Logging in again on the same connection replays the queue.
    sendLogin(c, p, 77);
    const frames = await collect(c, 2);
    expect(frames.map((f) => [f.type, f.seq])).toEqual([
      [FrameType.RESPONSE, 77],
      [FrameType.PUSH, 1],
    ]);
    c.close();
  });

  it('a session that logs in as another player leaves the first one offline', async () => {
    const [p, q] = [fresh('first'), fresh('second')];
    const c = await loginAs(gw, p);
    expect((await c.login(q)).status).toBe(0);
    expect(await info(gw, p)).toMatchObject({ online: false });
    expect(await info(gw, q)).toMatchObject({ online: true, sessionId: c.hello.sessionId });
    expect(await push(gw, p, 'x')).toBe('cached');
    await expectNothingReceived(c);
    c.close();
  });

  it('logging in again as the same player on the same session changes nothing', async () => {
    const p = fresh('twice');
    const c = await loginAs(gw, p);
    await push(gw, p, 'one');
    await c.nextOfType(FrameType.PUSH);
    expect((await c.login(p)).status).toBe(0);
    expect(c.closed).toBe(false);
    await push(gw, p, 'two');
    expect((await c.nextOfType(FrameType.PUSH)).seq).toBe(2);
    c.close();
  });

  it('a second login of the same player kicks the older session with KICK 300 REPLACED', async () => {
    const p = fresh('dup');
    const a = await loginAs(gw, p);
    await push(gw, p, 'to a');
    await a.nextOfType(FrameType.PUSH);
    const b = await loginAs(gw, p);
    const kick = await a.nextOfType(FrameType.KICK);
    expect(kick.status).toBe(Status.REPLACED);
    expect(kick.status).toBe(300);
    expect(json(kick)).toMatchObject({ error: 'REPLACED', message: expect.any(String) });
    await a.waitClosed();
    expect(await info(gw, p)).toMatchObject({ online: true, sessionId: b.hello.sessionId });
    expect(await push(gw, p, 'to b')).toBe('delivered');
    expect((await b.nextOfType(FrameType.PUSH)).seq).toBe(2);
    // Sessions: only b is left, authed.
    await waitFor(() => gw.gateway.sessions.get(a.hello.sessionId) === undefined);
    b.close();
  });
});

describe('a kicked session that lingers', () => {
  let gw: Running;
  beforeAll(async () => {
    gw = await startGateway(backend.url, {}, 'silent');
  });
  afterAll(() => gw.gateway.stop());

  /** A client that never closes its side: the gateway's KICK leaves the socket half-open until it gives up. */
  async function lingeringLogin(player: string): Promise<{ socket: Socket; kicked: Promise<void> }> {
    const socket = connect({ host: '127.0.0.1', port: gw.tcpPort, allowHalfOpen: true });
    socket.on('error', () => {});
    let onKick: () => void = () => {};
    const kicked = new Promise<void>((r) => {
      onKick = r;
    });
    let loggedIn: () => void = () => {};
    const login = new Promise<void>((r) => {
      loggedIn = r;
    });
    const decoder = new FrameDecoder(1 << 20, (type) => {
      if (type === FrameType.HELLO)
        socket.write(encodeFrame(FrameType.REQUEST, 0, Cmd.LOGIN, 1, Buffer.from(player)));
      if (type === FrameType.RESPONSE) loggedIn();
      if (type === FrameType.KICK) onKick();
    });
    socket.on('data', (chunk: Buffer) => decoder.push(chunk));
    await login;
    return { socket, kicked };
  }

  it('a push accepted after the kick is cached for the player, not lost', async () => {
    const p = fresh('lingering');
    const { socket, kicked } = await lingeringLogin(p);
    expect((await api(gw, 'POST', '/v1/kick', { players: [p] })).body).toEqual({ kicked: 1 });
    await kicked;
    // The gateway has sent KICK and closed its side; the client has not closed its own,
    // so the session is still the player's until the gateway gives up on it.
    expect(await push(gw, p, 'after the kick')).toBe('cached');
    expect(await push(gw, p, 'and another', 6)).toBe('cached');
    socket.destroy();
    await waitOffline(gw, p);
    const c = await loginAs(gw, p);
    const frames = await collect(c, 2);
    expect(frames.map((f) => [f.seq, f.body.toString()])).toEqual([
      [1, 'after the kick'],
      [2, 'and another'],
    ]);
    c.close();
  });
});
