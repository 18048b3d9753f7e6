#!/usr/bin/env node
import { parseOptions, USAGE } from './options.js';
import { formatProgress, formatSummary, verdict } from './report.js';
import { GATEWAY_DEFAULT_REQUESTS_PER_SECOND, runLoad } from './run.js';

async function main(argv: string[]): Promise<number> {
  let parsed: ReturnType<typeof parseOptions>;
  try {
    parsed = parseOptions(argv);
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (parsed === 'help') {
    process.stdout.write(USAGE);
    return 0;
  }
  const { options, json, quiet } = parsed;
  const perSession = options.rate > 0 ? options.rate / options.sessions : options.ratePerSession;
  if (perSession === 0) {
    process.stderr.write(
      `note: flat out (--rate 0): against a gateway with the default limits.requestsPerSecond (${GATEWAY_DEFAULT_REQUESTS_PER_SECOND} per session) most requests get RATE_LIMITED; set limits.requestsPerSecond: 0 on a test gateway\n`,
    );
  } else if (perSession > GATEWAY_DEFAULT_REQUESTS_PER_SECOND) {
    process.stderr.write(
      `note: ${perSession} requests/s per session is over the gateway's default limits.requestsPerSecond (${GATEWAY_DEFAULT_REQUESTS_PER_SECOND}); expect RATE_LIMITED unless the gateway allows more\n`,
    );
  }
  const summary = await runLoad(
    options,
    quiet ? undefined : (p) => process.stderr.write(`${formatProgress(p)}\n`),
  );
  process.stdout.write(json ? `${JSON.stringify(summary, null, 2)}\n` : formatSummary(summary));
  const { ok, why } = verdict(summary);
  if (!ok) process.stderr.write(`game-gateway-load: failed: ${why}\n`);
  return ok ? 0 : 1;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: Error) => {
    process.stderr.write(`${err.stack ?? err.message}\n`);
    process.exitCode = 1;
  },
);
