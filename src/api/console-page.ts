import { readFile } from 'node:fs/promises';
import type { ServerResponse } from 'node:http';
import { ApiError } from './api-error.js';

/**
 * The operator console's static files (docs/console.md), served by the API listener at
 * `/console` without a token: they hold no data, and every figure the page shows comes
 * from token-protected JSON routes. The files live in `console/` at the package root
 * (shipped by package.json "files"), two levels above this module both in src/api/ and
 * in dist/api/. Only the files named here are served, so no path reaches anything else.
 */
const ROOT = new URL('../../console/', import.meta.url);

const FILES: Readonly<Record<string, string>> = {
  'index.html': 'text/html; charset=utf-8',
  'console.js': 'text/javascript; charset=utf-8',
  'console.css': 'text/css; charset=utf-8',
};

/**
 * Scripts, styles and data from this origin only, no inline script, no framing (the
 * page has a Kick button), no referrer: the page never needs anything else.
 */
const HEADERS = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-cache',
};

/** Writes `name` (`index.html` for `/console` itself); 404 for any other name. */
export async function serveConsoleFile(res: ServerResponse, name: string): Promise<void> {
  const type = Object.hasOwn(FILES, name) ? FILES[name] : undefined;
  if (type === undefined) throw new ApiError(404, 'not_found', `no console file ${name}`);
  // Read at each request: a few KB, loaded once per page view.
  const body = await readFile(new URL(name, ROOT));
  res.writeHead(200, { ...HEADERS, 'content-type': type, 'content-length': body.length });
  res.end(body);
}
