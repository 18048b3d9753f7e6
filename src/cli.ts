#!/usr/bin/env node
import cluster from 'node:cluster';
import { parseArgs } from 'node:util';
import { reloadApiTokens } from './api/token-reload.js';
import { checkConfig } from './cli/check-config.js';
import { init } from './cli/init.js';
import { ConfigError, loadConfigFile } from './config/load.js';
import { Gateway } from './gateway.js';
import { createLogger } from './logger.js';
import { PluginError } from './plugins/plugin-error.js';
import { checkWorkers, offerMetricsToPrimary, runPrimary, STOP_MESSAGE } from './process/workers.js';
import { VERSION } from './version.js';

const USAGE = `game-gateway ${VERSION}

usage:
  game-gateway [--config FILE]          run the gateway (FILE also from GATEWAY_CONFIG;
                                        without one, the embedded default)
      [--workers N]                     run N worker processes sharing the listeners,
                                        node ids <node.id>-w0…; needs cluster.engine: redis
  game-gateway check-config FILE        validate FILE as a start would (env overrides,
      [--strict]                        plugins loaded and set up): the effective config
                                        as JSON on stdout; routes, warnings and
                                        "config OK" on stderr. --strict: exit 1 on warnings
  game-gateway init [FILE]              write a commented starter config (every key at its
                                        default, with its unit) to FILE, or to stdout
  game-gateway --version | --help
`;

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      config: { type: 'string', short: 'c' },
      workers: { type: 'string', short: 'w' },
      help: { type: 'boolean', short: 'h' },
      version: { type: 'boolean', short: 'v' },
      strict: { type: 'boolean' },
    },
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (values.version) {
    process.stdout.write(`${VERSION}\n`);
    return 0;
  }
  const [command, file] = positionals;
  if (command === 'check-config') {
    const path = file ?? values.config ?? (process.env.GATEWAY_CONFIG || undefined);
    if (!path) throw new ConfigError('check-config needs a config file');
    return checkConfig(path, stdio, { strict: values.strict === true });
  }
  if (command === 'init') return init(file, stdio);
  if (command !== undefined && command !== 'run') {
    process.stderr.write(`unknown command "${command}"\n\n${USAGE}`);
    return 2;
  }
  // An empty GATEWAY_CONFIG counts as unset, as every other empty env value does.
  const path = values.config ?? (process.env.GATEWAY_CONFIG || null);
  const { config, baseDir } = loadConfigFile(path);
  const workers = values.workers === undefined ? 1 : checkWorkers(values.workers, config);
  if (workers > 1 && cluster.isPrimary) return runPrimary(workers, config, createLogger(config.log.level));
  const gateway = new Gateway({ config, baseDir });
  if (cluster.isWorker) offerMetricsToPrimary(gateway.metrics.registry);
  await gateway.start();
  process.on('SIGHUP', () => {
    reloadApiTokens(gateway.api, path, config, gateway.log);
    gateway.reloadTls();
  });
  await new Promise<void>((resolve) => {
    let stopping = false;
    const onSignal = (signal: string) => {
      if (stopping) return;
      stopping = true;
      gateway.log.info({ signal }, 'shutting down');
      process.off('SIGTERM', onSignal);
      process.off('SIGINT', onSignal);
      gateway.stop().then(resolve, (err: Error) => {
        gateway.log.error({ err: err.message }, 'shutdown failed');
        resolve();
      });
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
    if (cluster.isWorker) {
      // The primary asks over IPC (a worker may also get the terminal's SIGINT: one stop either way).
      process.on('message', (m) => {
        if (m === STOP_MESSAGE) onSignal('SIGTERM');
      });
      // A worker whose primary is gone stops too (it would be an orphan holding players).
      process.once('disconnect', () => onSignal('disconnect'));
    }
  });
  return 0;
}

const stdio = {
  stdout: (text: string) => process.stdout.write(text),
  stderr: (text: string) => process.stderr.write(text),
};

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: Error) => {
    if (
      err instanceof ConfigError ||
      err instanceof PluginError ||
      (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')
    ) {
      process.stderr.write(`game-gateway: ${err.message}\n`);
      process.exit(2);
    }
    process.stderr.write(`game-gateway: failed to start: ${err.stack ?? err.message}\n`);
    process.exit(1);
  },
);
