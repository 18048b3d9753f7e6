import type { Server } from 'node:net';
import { ConfigError } from '../config/load.js';
import type { Address } from '../config/schema.js';

/** The address a server actually bound (port 0 resolved). */
export interface BoundAddress {
  host: string;
  port: number;
}

/**
 * Binds `server` (a net or http server) to `at` and resolves with the address bound;
 * a bind error (port taken, bad host) rejects instead of being thrown later. The error
 * is a ConfigError naming the listener's key (`listen.api: cannot listen on …`) when `at`
 * carries one: the address in the config is what the operator must change.
 */
export function listen(server: Server, at: Address, backlog = 4096): Promise<BoundAddress> {
  const where = at.host.includes(':') ? `[${at.host}]:${at.port}` : `${at.host}:${at.port}`;
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      const reason = err.code === 'EADDRINUSE' ? 'address already in use' : err.message;
      const message = `${at.key ?? 'listen'}: cannot listen on ${where}: ${reason}`;
      reject(
        at.key === undefined
          ? Object.assign(new Error(message), { code: err.code })
          : new ConfigError(message),
      );
    };
    server.once('error', onError);
    server.listen({ host: at.host, port: at.port, backlog }, () => {
      server.off('error', onError);
      const a = server.address();
      if (a === null || typeof a === 'string') reject(new Error(`listener on ${where} has no address`));
      else resolve({ host: a.address, port: a.port });
    });
  });
}
