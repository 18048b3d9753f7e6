// Concurrent scrapes (src/api/metrics-server.ts): one rendering shared, at most
// MAX_CONCURRENT_SCRAPES in progress, the rest refused with 503 `busy` and counted.
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { MAX_CONCURRENT_SCRAPES, Scrapes } from '../../src/api/metrics-server.js';
import { waitFor } from '../support/wait.js';

interface Answer {
  status: number;
  body: string;
}

function get(port: number): Promise<Answer> {
  return new Promise((resolve, reject) => {
    // agent: false: a connection of its own per scrape, as separate scrapers have.
    const req = request({ port, path: '/metrics', agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        body += chunk;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('concurrent scrapes', () => {
  let server: Server | undefined;
  afterEach(() => new Promise<void>((done) => (server ? server.close(() => done()) : done())));

  it('share one rendering, and past the cap get 503 busy', async () => {
    let renders = 0;
    let finish: (text: string) => void = () => {};
    const rejected: string[] = [];
    const scrapes = new Scrapes({
      text: () => {
        renders++;
        return new Promise<string>((resolve) => {
          finish = resolve;
        });
      },
      contentType: 'text/plain; version=0.0.4',
      rejected: (reason) => rejected.push(reason),
    });
    let arrived = 0;
    server = createServer((_req, res) => {
      arrived++;
      void scrapes.serve(res);
    });
    await new Promise<void>((done) => server?.listen(0, '127.0.0.1', done));
    const { port } = server.address() as AddressInfo;

    const extra = 3;
    const answers = Array.from({ length: MAX_CONCURRENT_SCRAPES + extra }, () => get(port));
    await waitFor(() => arrived === MAX_CONCURRENT_SCRAPES + extra);
    expect(renders).toBe(1);
    expect(rejected).toEqual(Array(extra).fill('busy'));
    finish('gateway_sessions 1\n');
    const all = await Promise.all(answers);
    const ok = all.filter((a) => a.status === 200);
    expect(ok).toHaveLength(MAX_CONCURRENT_SCRAPES);
    for (const a of ok) expect(a.body).toBe('gateway_sessions 1\n');
    const busy = all.filter((a) => a.status === 503);
    expect(busy).toHaveLength(extra);
    for (const a of busy) expect(JSON.parse(a.body).error).toBe('busy');

    // Once answered, the next scrape renders afresh (never a stale text) and is let in.
    const next = get(port);
    await waitFor(() => renders === 2);
    finish('gateway_sessions 2\n');
    expect(await next).toEqual({ status: 200, body: 'gateway_sessions 2\n' });
  });
});
