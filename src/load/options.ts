import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { GATEWAY_DEFAULT_REQUESTS_PER_SECOND, LOAD_DEFAULTS, type LoadOptions, parseMix } from './run.js';

export const USAGE = `game-gateway-load: open N sessions with the client SDK, log them in, send a request
mix for a while, print a progress line each second and a summary.

usage: game-gateway-load --url URL [options]

  -u, --url URL             tcp://host:port, tls://host:port, ws://host:port/path or
                            wss://… (required; a bare host:port means tcp://host:port)
      --ca FILE             tls:// and wss://: PEM file of the CA that signed the
                            gateway's certificate (default: Node's CAs)
  -n, --sessions N          sessions to open (default ${LOAD_DEFAULTS.sessions})
  -d, --duration S          seconds of load once every session is up (default ${LOAD_DEFAULTS.durationMs / 1000})
  -s, --session-rate R      requests per second per session (default ${LOAD_DEFAULTS.ratePerSession}: half the
                            gateway's default limits.requestsPerSecond, ${GATEWAY_DEFAULT_REQUESTS_PER_SECOND})
  -r, --rate R              requests per second over all sessions instead; 0 = flat out,
                            as fast as --concurrency allows (needs limits.requestsPerSecond: 0
                            on the gateway, or most requests get RATE_LIMITED)
  -c, --concurrency C       requests in flight per session (default ${LOAD_DEFAULTS.concurrency})
      --login-cmd CMD       cmd that logs a session in, body = player id (default ${LOAD_DEFAULTS.loginCmd},
                            LOGIN of examples/backend.ts); 0 = no login
      --player-prefix P     session i logs in as P<i> (default "${LOAD_DEFAULTS.playerPrefix}")
  -m, --mix LIST            cmd:weight,… e.g. 2004:80,2002:20 (default ${LOAD_DEFAULTS.mix.map((m) => m.cmd).join(',')}, ECHO)
      --body TEXT           request body (default empty)
      --body-bytes N        a request body of N bytes instead
      --connect-parallel K  connects at once (default ${LOAD_DEFAULTS.connectParallel})
      --timeout MS          per-request timeout (default ${LOAD_DEFAULTS.requestTimeoutMs})
      --drain MS            time for requests in flight at the end (default ${LOAD_DEFAULTS.drainMs})
      --json                print the summary as JSON on stdout
  -q, --quiet               no progress lines
  -h, --help

Progress goes to stderr, the summary to stdout; every failure is counted by its reason
(a status name such as NOT_AUTHENTICATED, or an error code such as ECONNREFUSED).
Exit status: 0 when the run completed and most requests succeeded; 1 when no session
could be opened and logged in, or most requests failed; 2 on bad arguments.
`;

export function parseOptions(
  argv: string[],
): { options: LoadOptions; json: boolean; quiet: boolean } | 'help' {
  const { values } = parseArgs({
    args: argv,
    options: {
      url: { type: 'string', short: 'u' },
      ca: { type: 'string' },
      sessions: { type: 'string', short: 'n' },
      duration: { type: 'string', short: 'd' },
      rate: { type: 'string', short: 'r' },
      'session-rate': { type: 'string', short: 's' },
      concurrency: { type: 'string', short: 'c' },
      'login-cmd': { type: 'string' },
      'player-prefix': { type: 'string' },
      mix: { type: 'string', short: 'm' },
      body: { type: 'string' },
      'body-bytes': { type: 'string' },
      'connect-parallel': { type: 'string' },
      timeout: { type: 'string' },
      drain: { type: 'string' },
      json: { type: 'boolean' },
      quiet: { type: 'boolean', short: 'q' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return 'help';
  if (values.url === undefined) throw new Error('--url is required');
  const url = parseUrl(values.url);
  const ca = values.ca === undefined ? undefined : readCa(values.ca);
  const rate = values.rate === undefined ? 0 : num(values.rate, '--rate', 0);
  // --rate given (0 = flat out) replaces the per-session pace.
  const ratePerSession =
    values.rate !== undefined
      ? 0
      : num(values['session-rate'], '--session-rate', LOAD_DEFAULTS.ratePerSession);
  if (values.rate !== undefined && values['session-rate'] !== undefined) {
    throw new Error('--rate and --session-rate: give one of them');
  }
  const loginCmd = int(values['login-cmd'], '--login-cmd', LOAD_DEFAULTS.loginCmd ?? 0, 0);
  let body = LOAD_DEFAULTS.body;
  if (values['body-bytes'] !== undefined)
    body = new Uint8Array(int(values['body-bytes'], '--body-bytes', 0, 0)).fill(0x61);
  else if (values.body !== undefined) body = new TextEncoder().encode(values.body);
  return {
    options: {
      url,
      ...(ca === undefined ? {} : { ca }),
      sessions: int(values.sessions, '--sessions', LOAD_DEFAULTS.sessions, 1),
      durationMs: num(values.duration, '--duration', LOAD_DEFAULTS.durationMs / 1000) * 1000,
      rate,
      ratePerSession,
      concurrency: int(values.concurrency, '--concurrency', LOAD_DEFAULTS.concurrency, 1),
      loginCmd: loginCmd === 0 ? null : loginCmd,
      playerPrefix: values['player-prefix'] ?? LOAD_DEFAULTS.playerPrefix,
      mix: values.mix === undefined ? LOAD_DEFAULTS.mix : parseMix(values.mix),
      body,
      connectParallel: int(
        values['connect-parallel'],
        '--connect-parallel',
        LOAD_DEFAULTS.connectParallel,
        1,
      ),
      requestTimeoutMs: int(values.timeout, '--timeout', LOAD_DEFAULTS.requestTimeoutMs, 1),
      drainMs: int(values.drain, '--drain', LOAD_DEFAULTS.drainMs, 0),
    },
    json: values.json === true,
    quiet: values.quiet === true,
  };
}

function readCa(path: string): string {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new Error(`--ca: cannot read ${path}: ${(err as Error).message}`);
  }
  if (!text.includes('-----BEGIN CERTIFICATE-----'))
    throw new Error(`--ca: ${path} holds no PEM certificate`);
  return text;
}

/** `tcp://`, `tls://`, `ws://` or `wss://`; a bare `host:port` is taken as `tcp://host:port`. */
export function parseUrl(text: string): string {
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(text) ? text : `tcp://${text}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw new Error(`--url: "${text}" is not a URL; expected tcp://host:port or ws://host:port/path`);
  }
  if (!['tcp:', 'tls:', 'ws:', 'wss:'].includes(url.protocol)) {
    throw new Error(`--url must be tcp://, tls://, ws:// or wss://, got "${text}"`);
  }
  if (url.port === '' && (url.protocol === 'tcp:' || url.protocol === 'tls:')) {
    throw new Error(`--url: "${text}" has no port`);
  }
  return withScheme;
}

function num(text: string | undefined, flag: string, fallback: number): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isFinite(n) || n < 0) throw new Error(`${flag} must be a number ≥ 0, got "${text}"`);
  return n;
}

function int(text: string | undefined, flag: string, fallback: number, min: number): number {
  const n = num(text, flag, fallback);
  if (!Number.isInteger(n) || n < min) throw new Error(`${flag} must be an integer ≥ ${min}, got "${text}"`);
  return n;
}
