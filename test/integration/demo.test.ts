/// <reference lib="dom" />
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { afterAll, describe, expect, it } from 'vitest';
import { spawnScript, stopChild } from '../support/processes.js';

const CHROMIUM = '/usr/bin/chromium';
const hasChromium = existsSync(CHROMIUM);
if (!hasChromium && process.env.CI) {
  throw new Error(`${CHROMIUM} is missing: .ci/run installs Debian's chromium package`);
}

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

  it('logs in over WebSocket, sees the bots move through pushes, shows live figures', async () => {
    const { child, info } = await spawnScript<DemoInfo>('examples/demo.ts', { DEMO_PORTS: '0' }, [
      '--no-script',
      '--bots',
      '2',
    ]);
    cleanup.push(() => stopChild(child));
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
    cleanup.push(() => browser.close());
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(info.pageUrl);
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
    const shot = join(mkdtempSync(join(tmpdir(), 'gw-demo-')), 'demo.png');
    await page.screenshot({ path: shot });
    expect(statSync(shot).size).toBeGreaterThan(5_000);
    expect(errors).toEqual([]);
  }, 60_000);
});
