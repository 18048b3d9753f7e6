import type { Progress, Summary } from './run.js';

/** One progress line (stderr, once a second). */
export function formatProgress(p: Progress): string {
  return (
    `[${String(p.elapsedS).padStart(4)}s ${p.phase.padEnd(7)}] sessions ${p.sessionsOpen}  rps ${p.rps}  ` +
    `p50 ${p.p50Ms.toFixed(2)}ms  p99 ${p.p99Ms.toFixed(2)}ms  in-flight ${p.inFlight}  errors ${p.errors}`
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
  return [
    `target     ${s.url}`,
    `sessions   ${s.sessions.connected}/${s.sessions.target} connected in ${s.connectMs} ms` +
      ` (connect failed ${s.sessions.connectFailed}, login failed ${s.sessions.loginFailed}, lost ${s.sessions.lost})`,
    `duration   ${(s.durationMs / 1000).toFixed(1)} s`,
    `requests   ${s.requests.sent} sent, ${s.requests.ok} ok, ${s.requests.failed} failed` +
      `, ${s.requests.skipped} skipped, ${s.requests.abandoned} abandoned`,
    `rate       ${s.rps} requests/s`,
    `latency    mean ${l.mean} ms  p50 ${l.p50} ms  p90 ${l.p90} ms  p99 ${l.p99} ms  p99.9 ${l.p999} ms  max ${l.max} ms`,
    `errors     ${errorLines.length === 0 ? 'none' : `${s.requests.failed}, by status:`}`,
    ...errorLines,
    'by cmd',
    ...cmdLines,
    '',
  ].join('\n');
}
