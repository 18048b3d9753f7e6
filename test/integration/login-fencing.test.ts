/**
 * Login fencing (SPEC §4 x-gateway-bind, §7): two logins of one player and a disconnect,
 * in every order. A backend that holds each answer until the test releases it lets the
 * test choose exactly when each login takes effect; the real test backend covers the
 * unordered race. The rule checked: the last login applied on a live session holds the
 * player; a stale session's close or logout never unbinds or kicks the newer binding.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FrameType } from '../../src/protocol/frame.js';
import { Status } from '../../src/protocol/status.js';
import { Cmd } from '../support/cmds.js';
import { type Running, startGateway } from '../support/gateway-fixture.js';
import { interleavings, predict } from '../support/login-orders.js';
import { startBackend, type TestBackend } from '../support/processes.js';
import { api, b64, loginAs, sleep, waitFor, waitOffline } from '../support/push-api.js';
import { RawClient } from '../support/raw-client.js';

interface Held {
  session: string;
  cmd: number;
  body: string;
  release(): void;
}

/** A backend that answers Cmd.LOGIN (bind to the body) and Cmd.LOGOUT like the test backend, when told. */
class HoldingBackend {
  private readonly held: Held[] = [];
  private readonly waiters: Array<() => void> = [];
  private server!: Server;
  url = '';

  async start(): Promise<void> {
    this.server = createServer((req: IncomingMessage, res: ServerResponse) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const cmd = Number(req.headers['x-gateway-cmd']);
        const body = Buffer.concat(chunks).toString();
        const release = (): void => {
          if (cmd === Cmd.LOGIN) res.setHeader('x-gateway-bind', body);
          if (cmd === Cmd.LOGOUT) res.setHeader('x-gateway-unbind', '1');
          res.end('ok');
        };
        if (cmd !== Cmd.LOGIN && cmd !== Cmd.LOGOUT) return release();
        this.held.push({ session: String(req.headers['x-gateway-session']), cmd, body, release });
        for (const w of this.waiters.splice(0)) w();
      });
    });
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    const a = this.server.address();
    this.url = `http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}`;
  }

  /** Waits until the backend holds the request of `session` for `cmd`, and takes it. */
  async take(session: string, cmd: number): Promise<Held> {
    for (;;) {
      const i = this.held.findIndex((h) => h.session === session && h.cmd === cmd);
      if (i >= 0) return this.held.splice(i, 1)[0];
      await new Promise<void>((r) => this.waiters.push(r));
    }
  }

  stop(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((r) => this.server.close(() => r()));
  }
}

describe('login fencing, every interleaving of login A, login B and A disconnecting', () => {
  let holding: HoldingBackend;
  let gw: Running;
  beforeAll(async () => {
    holding = new HoldingBackend();
    await holding.start();
    gw = await startGateway(holding.url, {}, 'silent');
  });
  afterAll(async () => {
    await gw.gateway.stop();
    await holding.stop();
  });

  const orders = interleavings();
  it('covers 20 orders', () => {
    expect(orders).toHaveLength(20);
  });

  it.each(orders.map((o, i) => [i, o.join(' → '), o] as const))('#%i %s', async (i, _name, order) => {
    const player = `fenced-${i}`;
    const a = await RawClient.connect(gw.tcpPort);
    const b = await RawClient.connect(gw.tcpPort);
    const id = { A: a.hello.sessionId, B: b.hello.sessionId };
    const gone = (s: string): boolean => gw.gateway.sessions.get(s) === undefined;
    let heldA: Held | null = null;
    let heldB: Held | null = null;
    // Requests the backend is sitting on; the gateway counts each as in flight until answered.
    let outstanding = 0;
    // A directive is applied in the same tick its answer is handled, so once the gateway's
    // in-flight count drops to what is still held, the login took effect (or was refused).
    const settled = (): Promise<void> =>
      waitFor(() => gw.gateway.inFlight === outstanding, 3_000, 'answer handled');

    for (const step of order) {
      switch (step) {
        case 'sendA':
          a.send(FrameType.REQUEST, Cmd.LOGIN, 1, player);
          heldA = await holding.take(id.A, Cmd.LOGIN);
          outstanding++;
          break;
        case 'sendB':
          b.send(FrameType.REQUEST, Cmd.LOGIN, 1, player);
          heldB = await holding.take(id.B, Cmd.LOGIN);
          outstanding++;
          break;
        case 'releaseA':
          outstanding--;
          heldA!.release();
          await settled();
          break;
        case 'releaseB':
          outstanding--;
          heldB!.release();
          await settled();
          break;
        case 'closeA':
          a.close();
          await waitFor(() => gone(id.A), 3_000, 'A closed at the gateway');
          break;
      }
      // Let any KICK and close the step caused be handled before the next step.
      await sleep(5);
    }

    const expected = predict(order);
    if (expected.replaced.includes('A')) await a.waitClosed();
    if (expected.replaced.includes('B')) await b.waitClosed();
    await sleep(20);

    const info = await api(gw, 'GET', `/v1/players/${player}`);
    expect(info.status).toBe(200);
    const holderId = expected.holder === null ? null : id[expected.holder];
    expect(info.body).toMatchObject({ online: expected.holder !== null, sessionId: holderId });

    // KICK REPLACED went to exactly the predicted sessions; nobody else was kicked.
    const kicks = (c: RawClient): number[] =>
      c.frames.filter((f) => f.type === FrameType.KICK).map((f) => f.status);
    expect(kicks(a)).toEqual(expected.replaced.includes('A') ? [Status.REPLACED] : []);
    expect(kicks(b)).toEqual(expected.replaced.includes('B') ? [Status.REPLACED] : []);

    // A push reaches the holder, or is cached when nobody holds the player.
    const r = await api(gw, 'POST', '/v1/push', { players: [player], cmd: 9, data: b64('probe') });
    expect(r.body.results[player]).toBe(expected.holder === null ? 'cached' : 'delivered');
    if (expected.holder !== null) {
      const holder = expected.holder === 'A' ? a : b;
      expect((await holder.nextOfType(FrameType.PUSH)).body.toString()).toBe('probe');
      expect(holder.closed).toBe(false);
    }
    a.close();
    b.close();
  });

  it('a stale session’s logout, answered after it was replaced, does not unbind the newer login', async () => {
    const player = 'stale-logout';
    const a = await RawClient.connect(gw.tcpPort);
    const b = await RawClient.connect(gw.tcpPort);
    a.send(FrameType.REQUEST, Cmd.LOGIN, 1, player);
    (await holding.take(a.hello.sessionId, Cmd.LOGIN)).release();
    await a.nextOfType(FrameType.RESPONSE);
    // A asks to log out; the backend sits on it while B logs in and replaces A.
    a.send(FrameType.REQUEST, Cmd.LOGOUT, 2, '');
    const logout = await holding.take(a.hello.sessionId, Cmd.LOGOUT);
    b.send(FrameType.REQUEST, Cmd.LOGIN, 1, player);
    (await holding.take(b.hello.sessionId, Cmd.LOGIN)).release();
    await b.nextOfType(FrameType.RESPONSE);
    expect((await a.nextOfType(FrameType.KICK)).status).toBe(Status.REPLACED);
    logout.release();
    await waitFor(() => gw.gateway.inFlight === 0);
    await a.waitClosed();
    await sleep(20);
    const info = await api(gw, 'GET', `/v1/players/${player}`);
    expect(info.body).toMatchObject({ online: true, sessionId: b.hello.sessionId });
    expect(b.closed).toBe(false);
    b.close();
  });

  it('a session that disconnects while its login is under way never binds', async () => {
    const player = 'gone-before-bind';
    const a = await RawClient.connect(gw.tcpPort);
    a.send(FrameType.REQUEST, Cmd.LOGIN, 1, player);
    const held = await holding.take(a.hello.sessionId, Cmd.LOGIN);
    a.close();
    await waitFor(() => gw.gateway.sessions.get(a.hello.sessionId) === undefined);
    held.release();
    await waitFor(() => gw.gateway.inFlight === 0);
    await sleep(20);
    // The player was never bound, so it is not known at all.
    expect((await api(gw, 'GET', `/v1/players/${player}`)).status).toBe(404);
    expect((await api(gw, 'GET', '/v1/stats')).body.players.online).toBe(0);
  });
});

describe('login fencing, unordered races against the real test backend', () => {
  let backend: TestBackend;
  let gw: Running;
  beforeAll(async () => {
    backend = await startBackend();
    gw = await startGateway(backend.url, {}, 'silent');
  });
  afterAll(async () => {
    await gw.gateway.stop();
    await backend.stop();
  });

  it('login A, login B, close A: B stays online', async () => {
    const a = await loginAs(gw, 'ordered-1');
    const b = await loginAs(gw, 'ordered-1');
    expect((await a.nextOfType(FrameType.KICK)).status).toBe(Status.REPLACED);
    a.close();
    await waitFor(() => gw.gateway.sessions.get(a.hello.sessionId) === undefined);
    expect((await api(gw, 'GET', '/v1/players/ordered-1')).body).toMatchObject({
      online: true,
      sessionId: b.hello.sessionId,
    });
    b.close();
  });

  it('login A, close A, login B: B online', async () => {
    const a = await loginAs(gw, 'ordered-2');
    a.close();
    await waitOffline(gw, 'ordered-2');
    const b = await loginAs(gw, 'ordered-2');
    expect((await api(gw, 'GET', '/v1/players/ordered-2')).body).toMatchObject({
      online: true,
      sessionId: b.hello.sessionId,
    });
    b.close();
  });

  it('close A racing login B, 30 times: B always ends online and is never kicked', async () => {
    for (let i = 0; i < 30; i++) {
      const player = `race-${i}`;
      const a = await loginAs(gw, player);
      const b = await RawClient.connect(gw.tcpPort);
      // Both without waiting; alternate which goes first on the wire.
      if (i % 2 === 0) {
        a.close();
        b.send(FrameType.REQUEST, Cmd.LOGIN, 1, player);
      } else {
        b.send(FrameType.REQUEST, Cmd.LOGIN, 1, player);
        a.close();
      }
      expect((await b.nextOfType(FrameType.RESPONSE)).status).toBe(0);
      await waitFor(() => gw.gateway.sessions.get(a.hello.sessionId) === undefined);
      await sleep(5);
      const info = (await api(gw, 'GET', `/v1/players/${player}`)).body;
      expect(info).toMatchObject({ online: true, sessionId: b.hello.sessionId });
      expect(b.frames.filter((f) => f.type === FrameType.KICK)).toEqual([]);
      expect(b.closed).toBe(false);
      b.close();
    }
  });

  it('two sessions logging in as one player at once: exactly one ends online, the other is REPLACED', async () => {
    for (let i = 0; i < 10; i++) {
      const player = `both-${i}`;
      const a = await RawClient.connect(gw.tcpPort);
      const b = await RawClient.connect(gw.tcpPort);
      a.send(FrameType.REQUEST, Cmd.LOGIN, 1, player);
      b.send(FrameType.REQUEST, Cmd.LOGIN, 1, player);
      await Promise.all([a.nextOfType(FrameType.RESPONSE), b.nextOfType(FrameType.RESPONSE)]);
      await waitFor(() => a.closed || b.closed);
      const [winner, loser] = a.closed ? [b, a] : [a, b];
      expect(loser.frames.find((f) => f.type === FrameType.KICK)?.status).toBe(Status.REPLACED);
      await sleep(5);
      expect((await api(gw, 'GET', `/v1/players/${player}`)).body).toMatchObject({
        online: true,
        sessionId: winner.hello.sessionId,
      });
      expect(winner.closed).toBe(false);
      winner.close();
    }
  });
});
