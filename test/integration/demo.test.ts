/// <reference lib="dom" />
import { spawnSync } from 'node:child_process';
import { mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { hasChromium, launchChromium } from '../support/chromium.js';
import { spawnScript, stopChild } from '../support/processes.js';

interface DemoInfo {
  pageUrl: string;
  tcp: string;
  ws: string;
  api: string;
}

describe('npm run demo', () => {
  it('runs the scripted client: login, requests, pushes, and exits 0 with --once', async () => {
    const run = spawnSync(process.execPath, ['--import', 'tsx', 'examples/demo.ts', '--once'], {
      env: { ...process.env, DEMO_PORTS: '0' },
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(run.status).toBe(0);
    expect(run.stdout).toMatch(/← HELLO \{"sessionId":/);
    expect(run.stdout).toMatch(/← RESPONSE status 110 NOT_AUTHENTICATED/);
    expect(run.stdout).toMatch(/← RESPONSE status 0 \{"player":"alice"/);
    expect(run.stdout).toMatch(/← PUSH cmd 5001 seq 1 \{"player":"alice","x":3,"y":4\}/);
    expect(run.stdout).toMatch(/"results":\{"alice":"delivered","nobody":"dropped"\}/);
    expect(run.stdout).toMatch(/— done —/);
  });
});

describe.skipIf(!hasChromium)('demo page in headless Chromium', () => {
  const cleanup: Array<() => Promise<void>> = [];
  afterAll(async () => {
    for (const c of cleanup.reverse()) await c();
  });

  it('shows the bots moving before one joins, logs in over WebSocket, sees them move through pushes, lists the frames, shows live figures', async () => {
    const { child, info } = await spawnScript<DemoInfo>('examples/demo.ts', { DEMO_PORTS: '0' }, [
      '--no-script',
      '--bots',
      '2',
    ]);
    cleanup.push(() => stopChild(child));
    const browser = await launchChromium();
    cleanup.push(() => browser.close());
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(info.pageUrl);
    // Before joining: the world with the bots on it, moving (anonymous LOOK), and the frames.
    await page.waitForSelector('[data-player="bot-1"]', { timeout: 10_000 });
    await page.waitForSelector('[data-player="bot-2"]', { timeout: 10_000 });
    const bots = () =>
      Array.from(document.querySelectorAll<HTMLElement>('[data-player^="bot-"]'))
        .map((d) => `${d.dataset.player}@${d.dataset.x},${d.dataset.y}`)
        .join(' ');
    const start = await page.evaluate(bots);
    await page.waitForFunction(`(${bots.toString()})() !== ${JSON.stringify(start)}`, null, {
      timeout: 10_000,
    });
    await expect(page.textContent('#status')).resolves.toBe('watching (not logged in)');
    expect(await page.$('[data-player="tester"]')).toBeNull();
    const frames = () => page.textContent('#frames');
    await expect(frames()).resolves.toMatch(/← HELLO session \w+ on gw-demo, heartbeat 5000 ms/);
    await expect(frames()).resolves.toMatch(/→ REQUEST LOOK \(2002\)/);
    await expect(frames()).resolves.toMatch(/← RESPONSE seq \d+ status 0 OK \{"bot-/);
    await page.fill('#name', 'tester');
    await page.click('#join');
    await page.waitForSelector('body[data-logged-in="true"]', { timeout: 10_000 });
    await expect(page.textContent('#status')).resolves.toMatch(
      /logged in as tester \(session \w+ on gw-demo\)/,
    );
    await page.waitForSelector('[data-player="tester"].me');
    await page.waitForSelector('[data-player="bot-1"]', { timeout: 10_000 });
    await page.waitForSelector('[data-player="bot-2"]', { timeout: 10_000 });
    // Bots step every 700 ms; each step is a push to everyone on the map.
    await page.waitForFunction(() => Number(document.getElementById('pushes')?.textContent) >= 3, null, {
      timeout: 10_000,
    });
    await page.waitForFunction(() => document.getElementById('online')?.textContent === '3', null, {
      timeout: 10_000,
    });
    await page.waitForFunction(() => Number(document.getElementById('rps')?.textContent) > 0, null, {
      timeout: 10_000,
    });
    // The player moves with the arrow keys; the page draws it from its own push.
    const before = await page.getAttribute('[data-player="tester"]', 'data-x');
    await page.keyboard.press(before === '19' ? 'ArrowLeft' : 'ArrowRight');
    await page.waitForFunction(
      (x) => document.querySelector('[data-player="tester"]')?.getAttribute('data-x') !== x,
      before,
      { timeout: 5_000 },
    );
    // What each action sent and received is listed: the login, the pushes, the move.
    await expect(frames()).resolves.toMatch(/→ REQUEST LOGIN \(1001\) tester/);
    await expect(frames()).resolves.toMatch(/← RESPONSE seq \d+ status 0 OK \{"player":"tester"/);
    await expect(frames()).resolves.toMatch(/← PUSH MOVED \(5001\) seq \d+ \{"player":"bot-/);
    await expect(frames()).resolves.toMatch(/→ REQUEST MOVE \(2001\) \{"x":/);
    const shot = join(mkdtempSync(join(tmpdir(), 'gw-demo-')), 'demo.png');
    await page.screenshot({ path: shot });
    expect(statSync(shot).size).toBeGreaterThan(5_000);
    expect(errors).toEqual([]);
  }, 60_000);
});
