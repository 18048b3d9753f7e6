import { formatCounts } from './reasons.js';
import { GATEWAY_DEFAULT_REQUESTS_PER_SECOND, type Progress, type Summary } from './run.js';

/** One progress line (stderr, once a second), with this second's failures by reason. */
export function formatProgress(p: Progress): string {
  const reasons = formatCounts(p.errorsByReason);
  const failures = formatCounts(p.connectFailures);
  return (
    `[${String(p.elapsedS).padStart(4)}s ${p.phase.padEnd(7)}] sessions ${p.sessionsOpen}  rps ${p.rps}  ` +
    `p50 ${p.p50Ms.toFixed(2)}ms  p99 ${p.p99Ms.toFixed(2)}ms  in-flight ${p.inFlight}  errors ${p.errors}` +
    (reasons === '' ? '' : ` (${reasons})`) +
    (failures === '' ? '' : `  failed sessions: ${failures}`)
  );
}

export function formatSummary(s: Summary): string {
  const l = s.latencyMs;
  const errorLines = Object.entries(s.errors)
    .sort((a, b) => b[1] - a[1])
    .map(([name, n]) => `    ${name.padEnd(22)} ${n}`);
  const cmdLines = Object.entries(s.byCmd).map(
    ([cmd, c]) => `    cmd ${cmd.padEnd(18)} ${c.sent} sent, ${c.failed} failed`,
  );
  const why = (n: number, reasons: Record<string, number>) =>
    n === 0 || formatCounts(reasons) === '' ? `${n}` : `${n}: ${formatCounts(reasons)}`;
  return [
    `target     ${s.url}`,
    `sessions   ${s.sessions.connected}/${s.sessions.target} connected in ${s.connectMs} ms` +
      ` (connect failed ${why(s.sessions.connectFailed, s.sessions.connectErrors)};` +
      ` login failed ${why(s.sessions.loginFailed, s.sessions.loginErrors)};` +
      ` lost ${why(s.sessions.lost, s.sessions.lostReasons)})`,
    `duration   ${(s.durationMs / 1000).toFixed(1)} s`,
    `pace       ${pace(s)}`,
    `requests   ${s.requests.sent} sent, ${s.requests.ok} ok, ${s.requests.failed} failed` +
      `, ${s.requests.skipped} skipped, ${s.requests.abandoned} abandoned`,
    `rate       ${s.rps} requests/s`,
    `latency    mean ${l.mean} ms  p50 ${l.p50} ms  p90 ${l.p90} ms  p99 ${l.p99} ms  p99.9 ${l.p999} ms  max ${l.max} ms`,
    `errors     ${errorLines.length === 0 ? 'none' : `${s.requests.failed}, by reason:`}`,
    ...errorLines,
    'by cmd',
    ...cmdLines,
    ...hints(s).map((h) => `hint: ${h}`),
    '',
  ].join('\n');
}

/** Whether the run failed: no session got through, or most completed requests failed. */
export function verdict(s: Summary): { ok: boolean; why: string | null } {
  const usable = s.sessions.connected - s.sessions.loginFailed;
  if (usable <= 0) return { ok: false, why: 'no session could be opened and logged in' };
  const done = s.requests.ok + s.requests.failed;
  if (done > 0 && s.requests.failed * 2 > done) {
    return { ok: false, why: `most requests failed (${s.requests.failed} of ${done})` };
  }
  return { ok: true, why: null };
}

/** What to change, for failures with a known cause. */
export function hints(s: Summary): string[] {
  const out: string[] = [];
  const refused = s.sessions.connectErrors.ECONNREFUSED ?? 0;
  if (refused > 0)
    out.push(
      `ECONNREFUSED: nothing listens at ${s.url}; is the gateway running, and is this its listen.tcp / listen.ws?`,
    );
  if ((s.sessions.loginErrors.NOT_AUTHENTICATED ?? 0) > 0) {
    out.push(
      `login got NOT_AUTHENTICATED: the login cmd is not in the gateway's auth.anonymousCmds; set --login-cmd to your login cmd, or 0 to send without logging in`,
    );
  }
  if ((s.sessions.loginErrors.ROUTE_NOT_FOUND ?? 0) > 0 || (s.errors.ROUTE_NOT_FOUND ?? 0) > 0) {
    out.push(
      'ROUTE_NOT_FOUND: the gateway has no route for that cmd (routes[] in its config; check-config prints them)',
    );
  }
  if ((s.errors.RATE_LIMITED ?? 0) > 0) {
    out.push(
      `RATE_LIMITED: the gateway allows limits.requestsPerSecond per session (default ${GATEWAY_DEFAULT_REQUESTS_PER_SECOND}, bursts of twice that); ` +
        'lower --session-rate / --rate or add sessions, or set limits.requestsPerSecond: 0 on a test gateway',
    );
  }
  if ((s.errors.NOT_AUTHENTICATED ?? 0) > 0) {
    out.push(
      'NOT_AUTHENTICATED: these cmds need a logged-in session; check --login-cmd (the backend must answer x-gateway-bind)',
    );
  }
  return out;
}

/** The pace line: no pace at all when no session came up (the rate is per connected session). */
function pace(s: Summary): string {
  if (s.sessions.connected === 0) return 'none: no session came up';
  return s.rate === 0 ? 'flat out' : `${s.rate} requests/s over all sessions`;
}
