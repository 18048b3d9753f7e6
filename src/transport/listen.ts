import type { Server } from 'node:net';
import type { Address } from '../config/schema.js';

/** The address a server actually bound (port 0 resolved). */
export interface BoundAddress {
  host: string;
  port: number;
}

/**
 * Binds `server` (a net or http server) to `at` and resolves with the address bound;
 * a bind error (port taken, bad host) rejects instead of being thrown later.
 */
export function listen(server: Server, at: Address, backlog = 4096): Promise<BoundAddress> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: at.host, port: at.port, backlog }, () => {
      server.off('error', reject);
      const a = server.address();
      if (a === null || typeof a === 'string')
        reject(new Error(`listener on ${at.host}:${at.port} has no address`));
      else resolve({ host: a.address, port: a.port });
    });
  });
}
