/**
 * Lifecycle events (SPEC §4): with events.target set, the gateway POSTs `online` when a
 * player binds and `offline` when its binding ends. Fire and forget: a failing or silent
 * target never delays a session, and failures are counted in gateway_events_total.
 */
import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GatewayConfigInput } from '../../src/config/schema.js';
import { FrameType } from '../../src/protocol/frame.js';
import { Cmd } from '../support/cmds.js';
import { type Running, startGateway } from '../support/gateway-fixture.js';
import { startBackend, type TestBackend } from '../support/processes.js';
import { api, loginAs, sleep, waitFor, waitOffline } from '../support/push-api.js';
import { RawClient } from '../support/raw-client.js';

let backend: TestBackend;
beforeAll(async () => {
  backend = await startBackend();
});
afterAll(() => backend.stop());

/** Config with the test backend as `game` and `eventsUrl` as the `events` target. */
function withEvents(eventsUrl: string, timeoutMs = 1_000): Partial<GatewayConfigInput> {
  return {
    targets: {
      game: { url: `${backend.url}/rpc/{cmd}`, timeoutMs: 1_000 },
      events: { url: eventsUrl, timeoutMs },
    },
    routes: [{ cmds: '1-999999', target: 'game' }],
    events: { target: 'events' },
  };
}

interface SeenEvent {
  event: string;
  player: string;
  session: string;
  url: string;
  node: string;
}

async function events(player?: string): Promise<SeenEvent[]> {
  return (await backend.requests())
    .filter((r) => r.headers['x-gateway-kind'] === 'event')
    .map((r) => ({
      event: r.headers['x-gateway-event'],
      player: r.headers['x-gateway-player'],
      session: r.headers['x-gateway-session'],
      url: r.url,
      node: r.headers['x-gateway-node'],
    }))
    .filter((e) => player === undefined || e.player === player);
}

async function waitEvents(player: string, n: number): Promise<SeenEvent[]> {
  await waitFor(async () => (await events(player)).length >= n, 3_000, `${n} events for ${player}`);
  return events(player);
}

describe('lifecycle events to events.target', () => {
  let gw: Running;
  beforeAll(async () => {
    gw = await startGateway(backend.url, withEvents(`${backend.url}/events`), 'silent');
  });
  afterAll(() => gw.gateway.stop());

  it('online on bind and offline when the session ends, with player, session and node headers', async () => {
    const c = await loginAs(gw, 'ev-1');
    const [online] = await waitEvents('ev-1', 1);
    expect(online).toEqual({
      event: 'online',
      player: 'ev-1',
      session: c.hello.sessionId,
      url: '/events',
      node: 'test-node',
    });
    const [req] = (await backend.requests()).filter((r) => r.headers['x-gateway-kind'] === 'event');
    expect(req.method).toBe('POST');
    c.close();
    const seen = await waitEvents('ev-1', 2);
    expect(seen.map((e) => [e.event, e.session])).toEqual([
      ['online', c.hello.sessionId],
      ['offline', c.hello.sessionId],
    ]);
    expect(gw.gateway.metrics.events.total({ result: 'ok' })).toBeGreaterThanOrEqual(2);
  });

  it('offline on logout (x-gateway-unbind), and online again on the next login', async () => {
    const c = await loginAs(gw, 'ev-2');
    expect((await c.request(Cmd.LOGOUT)).status).toBe(0);
    await waitEvents('ev-2', 2);
    expect((await c.login('ev-2')).status).toBe(0);
    const seen = await waitEvents('ev-2', 3);
    expect(seen.map((e) => e.event)).toEqual(['online', 'offline', 'online']);
    c.close();
    await waitEvents('ev-2', 4);
  });

  it('a replaced session produces no offline event; the newer one does when it ends', async () => {
    const a = await loginAs(gw, 'ev-3');
    const b = await loginAs(gw, 'ev-3');
    await a.waitClosed();
    await waitEvents('ev-3', 2);
    await sleep(50);
    expect((await events('ev-3')).map((e) => [e.event, e.session])).toEqual([
      ['online', a.hello.sessionId],
      ['online', b.hello.sessionId],
    ]);
    b.close();
    const seen = await waitEvents('ev-3', 3);
    expect(seen[2]).toMatchObject({ event: 'offline', session: b.hello.sessionId });
  });

  it('a kick by the API ends the binding: offline', async () => {
    await loginAs(gw, 'ev-4');
    await api(gw, 'POST', '/v1/kick', { players: ['ev-4'] });
    const seen = await waitEvents('ev-4', 2);
    expect(seen.map((e) => e.event)).toEqual(['online', 'offline']);
  });

  it('sessions that never bind produce no events', async () => {
    await backend.clear();
    const c = await loginAs(gw, 'ev-5');
    await waitEvents('ev-5', 1);
    await backend.clear();
    const anon = await RawClient.connect(gw.tcpPort);
    await anon.request(Cmd.ECHO, 'x');
    anon.close();
    await sleep(50);
    expect(await events()).toEqual([]);
    c.close();
  });
});

describe('a failing events target never blocks the session', () => {
  it('connection refused: logins and requests go on; failures counted as gateway_events_total{result="error"}', async () => {
    const gw = await startGateway(backend.url, withEvents('http://127.0.0.1:1/events'), 'silent');
    try {
      const t0 = Date.now();
      const c = await loginAs(gw, 'refused');
      expect((await c.request(Cmd.ECHO, 'still here')).body.toString()).toBe('still here');
      expect(Date.now() - t0).toBeLessThan(500);
      await waitFor(() => gw.gateway.metrics.events.total({ result: 'error' }) >= 1);
      c.close();
      await waitOffline(gw, 'refused');
      await waitFor(() => gw.gateway.metrics.events.total({ result: 'error' }) >= 2);
      expect(gw.gateway.metrics.events.total({ result: 'ok' })).toBe(0);
      const text = (await api(gw, 'GET', '/metrics')).body as string;
      expect(text).toContain('gateway_events_total{event="online",result="error"} 1');
      expect(text).toContain('gateway_events_total{event="offline",result="error"} 1');
    } finally {
      await gw.gateway.stop();
    }
  });

  describe('a target that answers 500, or never answers', () => {
    let server: Server;
    let url = '';
    const hung: Array<() => void> = [];
    beforeAll(async () => {
      server = createServer((req, res) => {
        req.resume();
        if (req.url === '/fail') {
          res.statusCode = 500;
          res.end('down');
        } else hung.push(() => res.destroy());
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      const a = server.address();
      url = `http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}`;
    });
    afterAll(async () => {
      for (const h of hung) h();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    });

    it('HTTP 500 is counted as an error; the session is unaffected', async () => {
      const gw = await startGateway(backend.url, withEvents(`${url}/fail`), 'silent');
      try {
        const c = await loginAs(gw, 'five-hundred');
        await waitFor(() => gw.gateway.metrics.events.total({ event: 'online', result: 'error' }) === 1);
        expect(
          (await api(gw, 'POST', '/v1/push', { players: ['five-hundred'], cmd: 1 })).body.delivered,
        ).toBe(1);
        await c.nextOfType(FrameType.PUSH);
        c.close();
      } finally {
        await gw.gateway.stop();
      }
    });

    it('a silent target: the login answers at once, the event times out and is counted', async () => {
      const gw = await startGateway(backend.url, withEvents(`${url}/hang`, 300), 'silent');
      try {
        const logins: number[] = [];
        const clients = [];
        for (let i = 0; i < 5; i++) {
          const t0 = Date.now();
          clients.push(await loginAs(gw, `silent-${i}`));
          logins.push(Date.now() - t0);
        }
        // Five events are stuck at the target, yet no login waited for them.
        expect(Math.max(...logins)).toBeLessThan(250);
        await waitFor(
          () => gw.gateway.metrics.events.total({ event: 'online', result: 'error' }) === 5,
          3_000,
        );
        for (const c of clients) c.close();
        await waitFor(
          () => gw.gateway.metrics.events.total({ event: 'offline', result: 'error' }) === 5,
          3_000,
        );
      } finally {
        await gw.gateway.stop();
      }
    });
  });
});

describe('event order per player', () => {
  it("posts a player's next event only after the previous one was answered", async () => {
    // An events target that holds every `online` for 300 ms and notes when each event
    // arrived and when it was answered. Without per-player ordering, the `offline` below
    // would arrive on a second pooled connection while `online` is still held.
    const log: Array<{ event: string; previousAnswered: boolean; answeredAt?: number }> = [];
    const target: Server = createServer((req, res) => {
      const entry: { event: string; previousAnswered: boolean; answeredAt?: number } = {
        event: String(req.headers['x-gateway-event']),
        previousAnswered: log.every((e) => e.answeredAt !== undefined),
      };
      log.push(entry);
      req.resume();
      setTimeout(
        () => {
          entry.answeredAt = Date.now();
          res.end();
        },
        entry.event === 'online' ? 300 : 0,
      );
    });
    await new Promise<void>((r) => target.listen(0, '127.0.0.1', r));
    const port = (target.address() as { port: number }).port;
    const gw = await startGateway(backend.url, withEvents(`http://127.0.0.1:${port}/events`), 'silent');
    try {
      const c = await loginAs(gw, 'ev-order');
      expect((await c.request(Cmd.LOGOUT)).status).toBe(0); // logout at once: offline follows online
      await waitFor(() => log.length === 2 && log[1].answeredAt !== undefined, 3_000, 'both events');
      expect(log.map((e) => [e.event, e.previousAnswered])).toEqual([
        ['online', true],
        ['offline', true],
      ]);
      c.close();
    } finally {
      await gw.gateway.stop();
      target.closeAllConnections();
      target.close();
    }
  });
});
