/// <reference lib="dom" />
/**
 * The operator console (issue 16 item 1, docs/console.md) in headless Chromium against a
 * real in-process gateway with an API token and a real HTTP backend process: the page
 * asks for the token, refuses to show data with a wrong one, shows the overview, the
 * per-cmd and target tables while real TCP clients send requests, looks a player up,
 * test-pushes to it and kicks it (the TCP client gets KICK KICKED). It writes the
 * screenshot of docs/console.md (docs/console.png) while figures are shown.
 */
import { mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FrameType } from '../../src/protocol/frame.js';
import { Status } from '../../src/protocol/status.js';
import { hasChromium, launchChromium } from '../support/chromium.js';
import { Cmd } from '../support/cmds.js';
import { type Running, startGateway } from '../support/gateway-fixture.js';
import { startBackend, type TestBackend } from '../support/processes.js';
import { loginAs } from '../support/push-api.js';
import type { RawClient } from '../support/raw-client.js';
import { RedisServer } from '../support/redis-server.js';
import { sleep, waitFor } from '../support/wait.js';

const TOKEN = 'console-test-token';
// docs/console.png is rewritten only on request (UPDATE_SCREENSHOTS=1), so a test run leaves the tree clean.
const SCREENSHOT = process.env.UPDATE_SCREENSHOTS
  ? fileURLToPath(new URL('../../docs/console.png', import.meta.url))
  : join(mkdtempSync(join(tmpdir(), 'gw-console-')), 'console.png');
/** Generous: CI runs this beside the rest of the suite on two cores. */
const WAIT = { timeout: 20_000 };

let backend: TestBackend;
let gw: Running;
let browser: Browser;
const clients: RawClient[] = [];

beforeAll(async () => {
  backend = await startBackend();
  gw = await startGateway(backend.url, { api: { token: TOKEN } }, 'warn');
}, 30_000);

afterAll(async () => {
  for (const c of clients) c.close();
  await browser?.close();
  await gw?.gateway.stop();
  await backend?.stop();
});

async function launch(): Promise<Browser> {
  browser ??= await launchChromium();
  return browser;
}

/** A new tab (so a new sessionStorage) on /console; page errors are collected. */
async function openConsole(): Promise<{ page: Page; errors: string[] }> {
  const page = await (await launch()).newPage({ viewport: { width: 1280, height: 900 } });
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`${gw.apiUrl}/console`);
  await page.waitForSelector('#token-form:not([hidden])', WAIT);
  return { page, errors };
}

/**
 * Real TCP clients, each sending requests through to the backend until stopped: echoes,
 * some slower ones (cmd 900), and one in ten answered 500 by the backend (BACKEND_ERROR),
 * paced under the per-session rate limit.
 */
function startLoad(players: RawClient[]): () => Promise<void> {
  let running = true;
  const loops = players.map(async (c) => {
    for (let i = 0; running; i++) {
      const [cmd, body] =
        i % 10 === 9 ? [Cmd.HTTP_500, ''] : i % 5 === 0 ? [Cmd.SLEEP, '15'] : [Cmd.ECHO, `r${i}`];
      await c.request(cmd, body, 10_000);
      await sleep(15);
    }
  });
  return async () => {
    running = false;
    await Promise.all(loops);
  };
}

const text = (page: Page, selector: string) => page.textContent(selector).then((t) => t ?? '');

describe('the console is served by the API listener', () => {
  it('the page and its two files without a token, with a strict CSP; the data routes need the token', async () => {
    const page = await fetch(`${gw.apiUrl}/console`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    expect(page.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect(await page.text()).toContain('/console/console.js');
    for (const [file, type] of [
      ['console.js', /^text\/javascript/],
      ['console.css', /^text\/css/],
    ] as const) {
      const r = await fetch(`${gw.apiUrl}/console/${file}`);
      expect(r.status, file).toBe(200);
      expect(r.headers.get('content-type')).toMatch(type);
    }
    // Only the console's own files: nothing else of the package is reachable.
    for (const path of ['/console/package.json', '/console/..%2Fpackage.json', '/console/x.js']) {
      expect((await fetch(`${gw.apiUrl}${path}`)).status, path).toBe(404);
    }
    for (const path of ['/v1/stats', '/v1/stats/cmds', '/v1/stats/targets', '/v1/nodes']) {
      expect((await fetch(`${gw.apiUrl}${path}`)).status, path).toBe(401);
    }
  });
});

describe.skipIf(!hasChromium)('the console in headless Chromium', () => {
  it('a wrong token shows an error and no data', async () => {
    const { page, errors } = await openConsole();
    await page.fill('#token', 'not-the-token');
    await page.click('#token-submit');
    await page.waitForSelector('#error:not([hidden])', WAIT);
    expect(await text(page, '#error')).toMatch(/token was refused \(401/);
    expect(await page.isHidden('#main')).toBe(true);
    expect(await page.isVisible('#token-form')).toBe(true);
    expect(await text(page, '#online')).toBe('–');
    // Nothing kept: a reload asks again.
    expect(await page.evaluate(() => sessionStorage.length)).toBe(0);
    expect(errors).toEqual([]);
    await page.close();
  }, 60_000);

  it('shows live figures under load, looks a player up, test-pushes to it and kicks it', async () => {
    const { page, errors } = await openConsole();
    await page.fill('#token', TOKEN);
    await page.click('#token-submit');
    await page.waitForSelector('body[data-state="live"]', WAIT);
    expect(await page.isHidden('#token-form')).toBe(true);
    expect(await text(page, '#node')).toBe('test-node');
    // The token is kept for this tab only.
    expect(await page.evaluate(() => sessionStorage.getItem('game-gateway-console-token'))).toBe(TOKEN);
    expect(await page.evaluate(() => localStorage.length)).toBe(0);

    const alice = await loginAs(gw, 'alice');
    const loaders = await Promise.all(['bot-1', 'bot-2', 'bot-3'].map((p) => loginAs(gw, p)));
    clients.push(alice, ...loaders);
    const stopLoad = startLoad(loaders);
    try {
      await page.waitForFunction(() => document.getElementById('online')?.textContent === '4', null, WAIT);
      await page.waitForFunction(
        () => document.getElementById('sessions-authed')?.textContent === '4',
        null,
        WAIT,
      );
      await page.waitForFunction(() => Number(document.getElementById('rps')?.textContent) > 0, null, WAIT);
      await page.waitForFunction(() => Number(document.getElementById('p99')?.textContent) > 0, null, WAIT);
      // The per-cmd table: the echo cmd with a rate, the failing one with its error rate.
      await page.waitForFunction(
        () => {
          const row = document.querySelector('#cmds tr[data-cmd="10"][data-target="game"]');
          return row !== null && Number(row.children[2].textContent) > 0;
        },
        null,
        WAIT,
      );
      await page.waitForFunction(
        () =>
          /^100\.0 %$/.test(
            document.querySelector('#cmds tr[data-cmd="500"]')?.children[3].textContent ?? '',
          ),
        null,
        WAIT,
      );
      await page.waitForSelector('#errors tr[data-type="backend_error"]', WAIT);
      // The target: its endpoint, its circuit, its calls.
      await page.waitForFunction(
        () => {
          const row = document.querySelector('#targets tr[data-target="game"]');
          return row?.textContent?.includes('closed') && Number(row.children[5].textContent) > 0;
        },
        null,
        WAIT,
      );
      expect(await text(page, '#targets tr[data-target="game"]')).toContain(`${backend.url}/rpc/{cmd}`);
      // Local engine: no cluster section.
      expect(await page.isHidden('#nodes-section')).toBe(true);

      // Player lookup: online, its node and session.
      await page.fill('#player-id', 'alice');
      await page.click('#lookup');
      await page.waitForSelector('#player[data-player="alice"]', WAIT);
      expect(await text(page, '#p-online')).toBe('online');
      expect(await text(page, '#p-node')).toBe('test-node');
      expect(await text(page, '#p-session')).toBe(alice.hello.sessionId);
      expect(await text(page, '#p-seq')).toBe('0');

      // Test push: the real client gets it, the panel shows the outcome and the new seq.
      await page.fill('#push-cmd', '9001');
      await page.fill('#push-data', 'hello alice');
      await page.click('#push-send');
      const pushed = await alice.next((f) => f.type === FrameType.PUSH && f.cmd === 9001, 10_000);
      expect(pushed.body.toString()).toBe('hello alice');
      expect(pushed.seq).toBe(1);
      await page.waitForFunction(
        () => document.getElementById('push-result')?.textContent === 'delivered',
        null,
        WAIT,
      );
      await page.waitForFunction(() => document.getElementById('p-seq')?.textContent === '1', null, WAIT);

      // The screenshot of docs/console.md, taken while the figures are live and the
      // charts hold some history (a point a second).
      await page.waitForFunction(
        () => Number(document.querySelector<HTMLElement>('canvas[data-series="rps"]')?.dataset.points) >= 12,
        null,
        WAIT,
      );
      await page.waitForFunction(() => Number(document.getElementById('rps')?.textContent) > 0, null, WAIT);
      await page.screenshot({ path: SCREENSHOT, fullPage: true });
      expect(statSync(SCREENSHOT).size).toBeGreaterThan(10_000);

      // Kick: the real client gets KICK KICKED, and the panel sees alice go offline.
      await page.fill('#kick-reason', 'console test');
      await page.click('#kick');
      const kick = await alice.nextOfType(FrameType.KICK, 10_000);
      expect(kick.status).toBe(Status.KICKED);
      expect(JSON.parse(kick.body.toString())).toMatchObject({ error: 'KICKED' });
      await alice.waitClosed(10_000);
      await page.waitForFunction(
        () => document.getElementById('kick-result')?.textContent === 'kicked',
        null,
        WAIT,
      );
      await page.waitForFunction(
        () => document.getElementById('p-online')?.textContent === 'offline',
        null,
        WAIT,
      );
      await page.waitForFunction(() => document.getElementById('online')?.textContent === '3', null, WAIT);
    } finally {
      await stopLoad();
    }
    // An unknown player is said so.
    await page.fill('#player-id', 'nobody');
    await page.click('#lookup');
    await page.waitForSelector('#player-error:not([hidden])', WAIT);
    expect(await text(page, '#player-error')).toBe('nobody: not known to this gateway');
    expect(errors).toEqual([]);
    await page.close();
  }, 120_000);
});

describe('cluster mode (cluster.engine redis): the nodes', () => {
  let redis: RedisServer;
  const nodes: Running[] = [];

  beforeAll(async () => {
    redis = await RedisServer.start();
    for (const id of ['node-a', 'node-b']) {
      nodes.push(
        await startGateway(
          backend.url,
          {
            node: { id },
            api: { token: TOKEN },
            cluster: { engine: 'redis', redis: { url: redis.url, keyPrefix: 'console:' } },
          },
          'warn',
        ),
      );
    }
  }, 30_000);

  afterAll(async () => {
    for (const n of nodes) await n.gateway.stop();
    await redis?.kill();
  });

  const nodeList = async (n: Running) => {
    const r = await fetch(`${n.apiUrl}/v1/nodes`, { headers: { authorization: `Bearer ${TOKEN}` } });
    return { status: r.status, body: (await r.json()) as Record<string, unknown> };
  };

  it('GET /v1/nodes lists every node with a live heartbeat, and which one answered', async () => {
    const [a, b] = nodes;
    const seen = await nodeList(a);
    expect(seen.status).toBe(200);
    expect(seen.body).toMatchObject({
      engine: 'redis',
      self: 'node-a',
      nodes: [
        { id: 'node-a', self: true, instance: expect.stringMatching(/^[0-9a-f]{12}$/) },
        { id: 'node-b', self: false, instance: expect.stringMatching(/^[0-9a-f]{12}$/) },
      ],
    });
    for (const n of seen.body.nodes as Array<{ heartbeatAgeMs: number }>) {
      expect(n.heartbeatAgeMs).toBeGreaterThanOrEqual(0);
      expect(n.heartbeatAgeMs).toBeLessThanOrEqual(5_000);
    }
    // A node that leaves (graceful stop deletes its heartbeat key) is no longer listed.
    await b.gateway.stop();
    nodes.pop();
    const listed = async () => ((await nodeList(a)).body.nodes as Array<{ id: string }>).map((n) => n.id);
    await waitFor(async () => (await listed()).join() === 'node-a', 10_000, 'node-b gone from /v1/nodes');
  });

  it.skipIf(!hasChromium)(
    'the console shows the nodes section',
    async () => {
      const page = await (await launch()).newPage();
      await page.goto(`${nodes[0].apiUrl}/console`);
      await page.waitForSelector('#token-form:not([hidden])', WAIT);
      await page.fill('#token', TOKEN);
      await page.click('#token-submit');
      await page.waitForSelector('#nodes-section:not([hidden]) tr[data-node="node-a"]', WAIT);
      expect(await text(page, '#nodes tr[data-node="node-a"]')).toContain('this node');
      await page.close();
    },
    60_000,
  );
});
