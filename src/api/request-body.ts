import type { IncomingMessage } from 'node:http';
import { ApiError } from './api-error.js';

/** The client went away before its body was all in: nothing to answer, logged at debug. */
export class ClientAbortedError extends Error {
  override name = 'ClientAbortedError';
}

/**
 * Reads a request body of at most `maxBytes`. A declared or actual size over the limit
 * is refused with 413 as soon as it is known, and nothing more is buffered.
 */
export function readBody(req: IncomingMessage, maxBytes: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? Number.NaN);
  if (declared > maxBytes) return Promise.reject(tooLarge(maxBytes));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > maxBytes) {
        settled = true;
        req.off('data', onData);
        req.pause();
        reject(tooLarge(maxBytes));
        return;
      }
      chunks.push(chunk);
    };
    req.on('data', onData);
    req.on('end', () => {
      settled = true;
      resolve(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks));
    });
    const aborted = (): void => {
      if (settled) return;
      settled = true;
      reject(new ClientAbortedError('the client closed the connection before its body was all in'));
    };
    req.on('error', aborted);
    req.on('close', aborted);
  });
}

function tooLarge(maxBytes: number): ApiError {
  return new ApiError(413, 'payload_too_large', `body over api.maxBodyBytes (${maxBytes} bytes)`);
}
