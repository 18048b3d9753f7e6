import { connect, type GatewayClient, type Response, statusName } from '../client/index.js';
import { LatencyHistogram } from './histogram.js';
import { type MixEntry, picker } from './mix.js';
import { count, failureReason } from './reasons.js';

export { type MixEntry, parseMix } from './mix.js';

export interface LoadOptions {
  /** `tcp://host:port`, `tls://host:port`, `ws://host:port/path` or `wss://…`. */
  url: string;
  /** tls:// and wss://: the CA certificate(s), PEM, the gateway's certificate must chain to. */
  ca?: string;
  sessions: number;
  /** Load phase length, after every session is connected (and logged in). */
  durationMs: number;
  /** Requests per second over all sessions; 0 = `ratePerSession` decides. */
  rate: number;
  /**
   * Requests per second per connected session, when `rate` is 0. Both 0 = flat out: as fast
   * as `concurrency` allows (expect RATE_LIMITED unless the gateway's limit is off).
   */
  ratePerSession: number;
  /** Requests in flight per session. */
  concurrency: number;
  /** The cmd that logs a session in with body = player id; null = no login. */
  loginCmd: number | null;
  /** Session i logs in as `${playerPrefix}${i}`. */
  playerPrefix: string;
  /** Which cmds to send, by weight. */
  mix: MixEntry[];
  body: Uint8Array;
  /** Connects (and logins) at once during the connect phase. */
  connectParallel: number;
  requestTimeoutMs: number;
  /** After the load phase, how long requests in flight may take to finish. */
  drainMs: number;
}

/**
 * The gateway's default `limits.requestsPerSecond` per session (bursts up to twice that).
 * The default pace stays at half of it, so a run against a gateway with default limits
 * measures the gateway, not its rate limiter.
 */
export const GATEWAY_DEFAULT_REQUESTS_PER_SECOND = 100;

/** Defaults that fit examples/gateway.yaml with examples/backend.ts: LOGIN 1001, ECHO 2004. */
export const LOAD_DEFAULTS: Omit<LoadOptions, 'url'> = {
  sessions: 10,
  durationMs: 10_000,
  rate: 0,
  ratePerSession: GATEWAY_DEFAULT_REQUESTS_PER_SECOND / 2,
  // Room for latency: at 50 requests/s a session needs more than one in flight once answers take 20 ms.
  concurrency: 4,
  loginCmd: 1001,
  playerPrefix: 'load-',
  mix: [{ cmd: 2004, weight: 1 }],
  body: new Uint8Array(0),
  connectParallel: 50,
  requestTimeoutMs: 10_000,
  drainMs: 5_000,
};

/** One line per second while the tool runs. */
export interface Progress {
  phase: 'connect' | 'load' | 'drain';
  elapsedS: number;
  sessionsOpen: number;
  /** Completed requests per second over the last interval. */
  rps: number;
  p50Ms: number;
  p99Ms: number;
  inFlight: number;
  errors: number;
  /** This interval's failures by reason (status name or error code). */
  errorsByReason: Record<string, number>;
  /** Sessions that failed to connect or log in so far, by reason. */
  connectFailures: Record<string, number>;
}

export interface Summary {
  url: string;
  sessions: {
    target: number;
    connected: number;
    connectFailed: number;
    loginFailed: number;
    lost: number;
    /** Why connects failed: socket error codes (ECONNREFUSED…), NO_HELLO, … */
    connectErrors: Record<string, number>;
    /** Why logins failed: the RESPONSE status name (NOT_AUTHENTICATED, AUTH_FAILED…) or the client error. */
    loginErrors: Record<string, number>;
    /** Why sessions ended during the load: the KICK's name, or CONNECTION_CLOSED. */
    lostReasons: Record<string, number>;
  };
  /** The total pace used: requests per second over all sessions, 0 = flat out. */
  rate: number;
  connectMs: number;
  durationMs: number;
  requests: {
    sent: number;
    completed: number;
    ok: number;
    failed: number;
    /** Rate mode: requests not sent because every session had `concurrency` in flight. */
    skipped: number;
    /** Still unanswered when the drain ended. */
    abandoned: number;
  };
  /** Requests completed within the load phase, per second of it. */
  rps: number;
  /** Time to a RESPONSE (any status); requests that failed without one are not in it. */
  latencyMs: { mean: number; p50: number; p90: number; p99: number; p999: number; max: number };
  /** Failures by status name: RESPONSE statuses (BACKEND_TIMEOUT, APP_1001…) and client-side ones (KICKED, REQUEST_TIMEOUT…). */
  errors: Record<string, number>;
  byCmd: Record<string, { sent: number; failed: number }>;
}

interface Slot {
  client: GatewayClient;
  inFlight: number;
  alive: boolean;
}

/**
 * Opens `sessions` sessions with the SDK, logs each in, then sends the request mix for
 * `durationMs` (at `rate` per second, or as fast as possible), and returns a summary.
 * Bounded: the load phase ends on time, requests in flight get `drainMs`, then every
 * session is closed.
 */
export async function runLoad(options: LoadOptions, onProgress?: (p: Progress) => void): Promise<Summary> {
  const o = options;
  const total = new LatencyHistogram();
  const interval = new LatencyHistogram();
  const errors: Record<string, number> = {};
  const byCmd: Record<string, { sent: number; failed: number }> = {};
  const counts = {
    sent: 0,
    completed: 0,
    completedInWindow: 0,
    ok: 0,
    failed: 0,
    skipped: 0,
    errorsInInterval: 0,
  };
  let intervalErrors: Record<string, number> = {};
  const sessions: Summary['sessions'] = {
    target: o.sessions,
    connected: 0,
    connectFailed: 0,
    loginFailed: 0,
    lost: 0,
    connectErrors: {},
    loginErrors: {},
    lostReasons: {},
  };
  const slots: Slot[] = [];
  const pick = picker(o.mix);
  let phase: Progress['phase'] = 'connect';
  let measuring = false;
  let finished = false;
  const startedAt = performance.now();

  const fail = (name: string, cmd: number) => {
    counts.failed++;
    counts.errorsInInterval++;
    count(errors, name);
    count(intervalErrors, name);
    byCmd[cmd].failed++;
  };

  const sendOne = async (slot: Slot): Promise<void> => {
    const cmd = pick();
    byCmd[cmd] ??= { sent: 0, failed: 0 };
    byCmd[cmd].sent++;
    counts.sent++;
    slot.inFlight++;
    const t0 = performance.now();
    let response: Response | null = null;
    let error: unknown = null;
    try {
      response = await slot.client.request(cmd, o.body, { timeoutMs: o.requestTimeoutMs });
    } catch (err) {
      error = err;
    }
    slot.inFlight--;
    // Abandoned at the end of the drain: counted there, not as a CLIENT_CLOSED failure.
    if (finished) return;
    const ms = performance.now() - t0;
    counts.completed++;
    if (measuring) counts.completedInWindow++;
    if (response !== null) {
      total.record(ms);
      interval.record(ms);
      if (response.ok) counts.ok++;
      else fail(statusName(response.status), cmd);
    } else fail(failureReason(error), cmd);
  };

  const progressTimer = setInterval(() => {
    const elapsedS = Math.round((performance.now() - startedAt) / 1000);
    onProgress?.({
      phase,
      elapsedS,
      sessionsOpen: slots.filter((s) => s.alive).length,
      rps: interval.count,
      p50Ms: interval.quantile(0.5),
      p99Ms: interval.quantile(0.99),
      inFlight: slots.reduce((n, s) => n + s.inFlight, 0),
      errors: counts.errorsInInterval,
      errorsByReason: intervalErrors,
      connectFailures: { ...sessions.connectErrors, ...prefixed('login ', sessions.loginErrors) },
    });
    interval.reset();
    counts.errorsInInterval = 0;
    intervalErrors = {};
  }, 1_000);

  try {
    // Connect phase: `connectParallel` at a time, each bounded by the SDK's connect timeout.
    let next = 0;
    const opener = async () => {
      while (next < o.sessions) {
        const index = next++;
        let client: GatewayClient;
        try {
          client = await connect(o.url, { requestTimeoutMs: o.requestTimeoutMs, ca: o.ca });
        } catch (err) {
          sessions.connectFailed++;
          count(sessions.connectErrors, failureReason(err));
          continue;
        }
        sessions.connected++;
        if (o.loginCmd !== null) {
          let reason: string | null = null;
          try {
            const login = await client.request(o.loginCmd, `${o.playerPrefix}${index}`);
            if (!login.ok) reason = statusName(login.status);
          } catch (err) {
            reason = failureReason(err);
          }
          if (reason !== null) {
            sessions.loginFailed++;
            count(sessions.loginErrors, reason);
            await client.close();
            continue;
          }
        }
        const slot: Slot = { client, inFlight: 0, alive: true };
        client.on('close', ({ kick, error }) => {
          slot.alive = false;
          if (!measuring) return;
          sessions.lost++;
          count(
            sessions.lostReasons,
            kick?.error ?? (error === null ? 'CONNECTION_CLOSED' : failureReason(error)),
          );
        });
        slots.push(slot);
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, Math.min(o.connectParallel, o.sessions)) }, opener));
    const connectMs = performance.now() - startedAt;

    // Load phase.
    phase = 'load';
    measuring = true;
    const loadStart = performance.now();
    const loadEnd = loadStart + o.durationMs;
    const rate = o.rate > 0 ? o.rate : o.ratePerSession * slots.length;
    if (slots.length > 0 && rate > 0) {
      // Ends by itself at loadEnd, without waiting for answers.
      await paced(slots, o, rate, loadStart, loadEnd, sendOne, counts);
    } else if (slots.length > 0) {
      const running: Array<Promise<void>> = [];
      for (const slot of slots) {
        for (let i = 0; i < o.concurrency; i++) running.push(loop(slot, loadEnd, sendOne));
      }
      // The phase ends on time even with requests in flight; those are the drain's.
      await Promise.race([Promise.all(running), sleep(Math.max(0, loadEnd - performance.now()))]);
    }
    const durationMs = Math.min(performance.now(), loadEnd) - loadStart;
    measuring = false;

    // Drain: requests in flight get drainMs, then whatever is left is abandoned.
    phase = 'drain';
    const drainEnd = performance.now() + o.drainMs;
    while (slots.some((s) => s.inFlight > 0) && performance.now() < drainEnd) await sleep(10);
    const abandoned = slots.reduce((n, s) => n + s.inFlight, 0);
    finished = true;
    await Promise.all(slots.map((s) => s.client.close()));

    return {
      url: o.url,
      sessions,
      rate,
      connectMs: Math.round(connectMs),
      durationMs: Math.round(durationMs),
      requests: {
        sent: counts.sent,
        completed: counts.completed,
        ok: counts.ok,
        failed: counts.failed,
        skipped: counts.skipped,
        abandoned,
      },
      rps: durationMs > 0 ? Math.round((counts.completedInWindow / durationMs) * 1000) : 0,
      latencyMs: {
        mean: round(total.meanMs),
        p50: round(total.quantile(0.5)),
        p90: round(total.quantile(0.9)),
        p99: round(total.quantile(0.99)),
        p999: round(total.quantile(0.999)),
        max: round(total.maxMs),
      },
      errors,
      byCmd,
    };
  } finally {
    clearInterval(progressTimer);
  }
}

/** As fast as possible: one request after the other on this slot until the end. */
async function loop(slot: Slot, end: number, sendOne: (slot: Slot) => Promise<void>): Promise<void> {
  while (slot.alive && performance.now() < end) await sendOne(slot);
}

/**
 * Open-loop pacing: every tick issues the requests due by now at `rate`, spread round
 * robin over the sessions with a free slot. A request due when none is free is counted
 * as skipped rather than queued, so a slow gateway shows up as skips, not as a backlog.
 */
async function paced(
  slots: Slot[],
  o: LoadOptions,
  rate: number,
  start: number,
  end: number,
  sendOne: (slot: Slot) => Promise<void>,
  counts: { skipped: number },
): Promise<void> {
  const TICK_MS = 5;
  let issued = 0;
  let cursor = 0;
  // The last pass runs at `end`, so a late timer cannot cut the tail: R × D requests in all.
  for (let last = false; !last; ) {
    const now = performance.now();
    last = now >= end;
    const due = Math.floor((Math.min(now - start, o.durationMs) / 1000) * rate) - issued;
    for (let k = 0; k < due; k++) {
      issued++;
      let slot: Slot | null = null;
      for (let tried = 0; tried < slots.length; tried++) {
        const candidate = slots[cursor];
        cursor = (cursor + 1) % slots.length;
        if (candidate.alive && candidate.inFlight < o.concurrency) {
          slot = candidate;
          break;
        }
      }
      if (slot === null) counts.skipped++;
      else void sendOne(slot);
    }
    if (!last) await sleep(Math.min(TICK_MS, Math.max(0, end - performance.now())));
  }
}

function prefixed(prefix: string, counts: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(counts).map(([k, v]) => [prefix + k, v]));
}

function round(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
