#!/usr/bin/env node
import { parseOptions, USAGE } from './options.js';
import { formatProgress, formatSummary } from './report.js';
import { runLoad } from './run.js';

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
  const summary = await runLoad(
    options,
    quiet ? undefined : (p) => process.stderr.write(`${formatProgress(p)}\n`),
  );
  process.stdout.write(json ? `${JSON.stringify(summary, null, 2)}\n` : formatSummary(summary));
  return summary.sessions.connected - summary.sessions.loginFailed > 0 ? 0 : 1;
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
