import { afterEach, describe, expect, it } from 'vitest';
import { CircuitBreaker } from '../../src/backend/circuit-breaker.js';
import { Status } from '../../src/protocol/status.js';
import { Cmd } from '../support/cmds.js';
import { type Running, startGateway } from '../support/gateway-fixture.js';
import { startBackend } from '../support/processes.js';
import { json, RawClient } from '../support/raw-client.js';
import { sleep } from '../support/wait.js';

describe('CircuitBreaker', () => {
  it('opens after `failures` connect errors in a row, and refuses until openMs passed', () => {
    const cb = new CircuitBreaker(3, 100);
    expect(cb.failed(0)).toBe(false);
    expect(cb.failed(1)).toBe(false);
    expect(cb.allow(2)).toBe(true);
    expect(cb.failed(2)).toBe(true); // opened now
    expect(cb.isOpen).toBe(true);
    expect(cb.allow(101)).toBe(false); // open until 2 + 100
    expect(cb.allow(102)).toBe(true); // the probe
    expect(cb.allow(103)).toBe(false); // one probe at a time
    expect(cb.failed(104)).toBe(false); // the probe failed: open (it already was) until 204
    expect(cb.allow(150)).toBe(false);
    expect(cb.allow(204)).toBe(true);
    expect(cb.reached()).toBe(true); // closed by the probe's answer
    expect(cb.allow(205)).toBe(true);
    expect(cb.isOpen).toBe(false);
  });

  it('an answer in between resets the count; timeouts count only for the probe', () => {
    const cb = new CircuitBreaker(2, 100);
    cb.failed(0);
    expect(cb.reached()).toBe(false); // was closed
    cb.failed(1);
    expect(cb.isOpen).toBe(false);
    expect(cb.timedOut(2)).toBe(false);
    expect(cb.isOpen).toBe(false);
    cb.failed(3);
    expect(cb.isOpen).toBe(true);
    expect(cb.allow(200)).toBe(true);
    cb.timedOut(201); // the probe got no answer: open again
    expect(cb.allow(250)).toBe(false);
    expect(cb.allow(302)).toBe(true);
  });
});

describe('circuit breaker on a target (real backend process stopped and restarted)', () => {
  let gw: Running | null = null;
  let stopBackend: (() => Promise<void>) | null = null;
  afterEach(async () => {
    await gw?.gateway.stop();
    await stopBackend?.();
  });

  it('fails fast with BACKEND_UNAVAILABLE while open, and closes when the backend is back', async () => {
    const first = await startBackend();
    const port = first.port;
    await first.stop();
    gw = await startGateway(
      null,
      {
        targets: {
          game: { url: `http://127.0.0.1:${port}/rpc/{cmd}`, circuitBreaker: { failures: 3, openMs: 400 } },
        },
        routes: [{ cmds: '1-999', target: 'game' }],
        auth: { required: false },
      },
      'warn',
    );
    const errors = (type: string) =>
      gw!.gateway.metrics.backendErrors.total({ target_service: 'game', error_type: type });
    const c = await RawClient.connect(gw.tcpPort);

    for (let i = 0; i < 3; i++)
      expect((await c.request(Cmd.ECHO, 'x')).status).toBe(Status.BACKEND_UNAVAILABLE);
    expect(errors('connect_error')).toBe(3);
    expect(gw.logs.lines.filter((l) => l.msg?.toString().startsWith('circuit open'))).toHaveLength(1);

    // Open: refused at once, without a connection attempt.
    const r = await c.request(Cmd.ECHO, 'x');
    expect(r.status).toBe(Status.BACKEND_UNAVAILABLE);
    expect(json(r).error).toBe('BACKEND_UNAVAILABLE');
    expect(errors('circuit_open')).toBe(1);
    expect(errors('connect_error')).toBe(3);

    // The backend comes back on the same port; after openMs the probe gets through.
    const again = await startBackend(undefined, { PORT: String(port) });
    stopBackend = () => again.stop();
    await sleep(450);
    const probe = await c.request(Cmd.ECHO, 'back');
    expect(probe.status).toBe(0);
    expect(probe.body.toString()).toBe('back');
    expect((await c.request(Cmd.ECHO, 'and again')).status).toBe(0);
    expect(gw.logs.lines.some((l) => l.msg?.toString().startsWith('circuit closed'))).toBe(true);
    c.close();
  });

  it('5xx answers never open the circuit', async () => {
    const backend = await startBackend();
    stopBackend = () => backend.stop();
    gw = await startGateway(backend.url, { auth: { required: false } }, 'silent');
    const c = await RawClient.connect(gw.tcpPort);
    for (let i = 0; i < 8; i++) expect((await c.request(Cmd.HTTP_503)).status).toBe(Status.BACKEND_ERROR);
    expect((await c.request(Cmd.ECHO, 'fine')).status).toBe(0);
    expect(gw.gateway.metrics.backendErrors.total({ error_type: 'circuit_open' })).toBe(0);
    c.close();
  });
});
