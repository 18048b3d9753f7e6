import { type Logger, pino } from 'pino';

export type { Logger };

/** JSON logs on stdout (or another destination, for tests). */
export function createLogger(level: string, destination?: NodeJS.WritableStream): Logger {
  return pino(
    { level, base: undefined, timestamp: pino.stdTimeFunctions.isoTime },
    destination ?? pino.destination(1),
  );
}
