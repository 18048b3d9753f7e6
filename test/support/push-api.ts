/**
 * Helpers shared by the push API, players, fencing, safety and events tests: a thin
 * HTTP client for the API and small waits. Everything goes through real sockets.
 */
import { expect } from 'vitest';
import type { Frame } from '../../src/protocol/frame.js';
import { FrameType } from '../../src/protocol/frame.js';
import { Cmd } from './cmds.js';
import type { Running } from './gateway-fixture.js';
import { RawClient } from './raw-client.js';
import { sleep, waitFor } from './wait.js';

export { sleep, waitFor };

export interface ApiAnswer {
  status: number;
  headers: Headers;
  // biome-ignore lint/suspicious/noExplicitAny: JSON answers are checked field by field in the tests.
  body: any;
}

/** Calls the API; `body` is sent as JSON unless it is a Buffer or a string (sent as is). */
export async function api(
  gw: Running,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<ApiAnswer> {
  const init: RequestInit = { method, headers: { ...headers } };
  if (body !== undefined) {
    if (Buffer.isBuffer(body)) init.body = new Uint8Array(body);
    else if (typeof body === 'string') init.body = body;
    else {
      init.body = JSON.stringify(body);
      (init.headers as Record<string, string>)['content-type'] ??= 'application/json';
    }
  }
  const res = await fetch(`${gw.apiUrl}${path}`, init);
  const text = await res.text();
  let parsed: unknown = text;
  if ((res.headers.get('content-type') ?? '').includes('json')) parsed = JSON.parse(text);
  return { status: res.status, headers: res.headers, body: parsed };
}

export const b64 = (s: string | Buffer): string => Buffer.from(s).toString('base64');

/** Connects and logs in as `player` (test backend cmd 1); the login must succeed. */
export async function loginAs(gw: Running, player: string): Promise<RawClient> {
  const c = await RawClient.connect(gw.tcpPort);
  const r = await c.login(player);
  expect(r.status).toBe(0);
  return c;
}

/** Waits until the gateway reports `player` offline (its session's close was handled). */
export async function waitOffline(gw: Running, player: string): Promise<void> {
  await waitFor(
    async () => {
      const r = await api(gw, 'GET', `/v1/players/${encodeURIComponent(player)}`);
      return r.status === 200 && r.body.online === false;
    },
    3_000,
    `${player} offline`,
  );
}

/**
 * Waits until `n` frames that no waiter claimed are in, and returns them in arrival
 * order (RawClient keeps unclaimed frames in order).
 */
export async function collect(c: RawClient, n: number, timeoutMs = 3_000): Promise<Frame[]> {
  await waitFor(() => c.frames.length >= n, timeoutMs, `${n} frames`);
  return c.frames.splice(0, n);
}

/**
 * Proves a client got nothing since the last check: an echo round trip (Cmd.ECHO) comes
 * back with no frame before it. Anything the gateway wrote earlier would arrive first.
 */
export async function expectNothingReceived(c: RawClient): Promise<void> {
  const r = await c.request(Cmd.ECHO, 'sentinel');
  expect(r.type).toBe(FrameType.RESPONSE);
  expect(c.frames).toEqual([]);
}
