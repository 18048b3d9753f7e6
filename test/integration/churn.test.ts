import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FrameType } from '../../src/protocol/frame.js';
import { Cmd } from '../support/cmds.js';
import { type Running, startGateway } from '../support/gateway-fixture.js';
import { startBackend, type TestBackend } from '../support/processes.js';
import { RawClient } from '../support/raw-client.js';
import { sleep } from '../support/wait.js';

let backend: TestBackend;
let gw: Running;

beforeAll(async () => {
  backend = await startBackend();
  gw = await startGateway(backend.url, { events: { target: 'game' }, players: { retainMs: 200 } }, 'silent');
});
afterAll(async () => {
  await gw.gateway.stop();
  await backend.stop();
});

async function until(check: () => boolean, what: string, timeoutMs = 5_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(`still not ${what} after ${timeoutMs} ms`);
    await sleep(20);
  }
}

describe('churn: sessions come and go, and nothing stays behind', () => {
  it('after rounds of connect, login, requests, pushes, kicks and disconnects, the gateway is back to empty', async () => {
    for (let round = 0; round < 3; round++) {
      const clients = await Promise.all(Array.from({ length: 150 }, () => RawClient.connect(gw.tcpPort)));
      await Promise.all(clients.map((c, i) => c.login(`churn-${i}`)));
      expect(gw.gateway.sessions.authed).toBe(150);
      // Pipelined requests, some still in flight when their client goes away.
      clients.forEach((c, i) => {
        c.send(FrameType.REQUEST, Cmd.ECHO, 100, 'x');
        c.send(FrameType.REQUEST, Cmd.SLEEP, 101, i % 3 === 0 ? '300' : '0');
      });
      const pushed = await fetch(`${gw.apiUrl}/v1/broadcast`, {
        method: 'POST',
        body: JSON.stringify({ cmd: 7, data: 'aGk=' }),
      });
      expect(await pushed.json()).toEqual({ delivered: 150 });
      await fetch(`${gw.apiUrl}/v1/kick`, {
        method: 'POST',
        body: JSON.stringify({ players: ['churn-0', 'churn-1'], reason: 'churn' }),
      });
      for (const c of clients) c.close();
      await until(() => gw.gateway.sessions.size === 0, 'every session gone');
    }
    await until(() => gw.gateway.inFlight === 0, 'no request in flight');
    expect(gw.gateway.sessions.connected).toBe(0);
    expect(gw.gateway.sessions.authed).toBe(0);
    expect((gw.gateway.stats().players as { online: number }).online).toBe(0);
    // Offline players are forgotten after players.retainMs (200 ms) by the 1 s sweep.
    await until(
      () => (gw.gateway.stats().players as { offline: number }).offline === 0,
      'every player forgotten',
      5_000,
    );
    expect(gw.gateway.stats().offlineMessages).toBe(0);
    const stats = await (await fetch(`${gw.apiUrl}/v1/stats`)).json();
    expect(stats).toMatchObject({
      sessions: { connected: 0, authed: 0 },
      players: { online: 0, offline: 0 },
      requestsInFlight: 0,
    });
    // Every request was counted exactly once: 450 logins, 900 pipelined requests.
    const r = stats.requests as { success: number; error: number; drop: number };
    expect(r.success + r.error + r.drop).toBe(450 + 900);
  }, 60_000);
});
