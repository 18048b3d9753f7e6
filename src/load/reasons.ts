import { ClientStatus, GatewayError } from '../client/index.js';

/**
 * A short, countable reason for a failure: the gateway's status name for answers and
 * kicks (`NOT_AUTHENTICATED`, `KICKED`), the socket's error code for connections that
 * never opened (`ECONNREFUSED`, `ENOTFOUND`), or the client's own condition
 * (`REQUEST_TIMEOUT`, `NO_HELLO`).
 */
export function failureReason(err: unknown): string {
  if (err instanceof GatewayError && err.status === ClientStatus.CONNECT_FAILED) {
    const code = errorCode(err.cause) ?? /\b(E[A-Z][A-Z0-9_]+)\b/.exec(err.message)?.[1];
    if (code !== undefined) return code;
    if (/no HELLO/.test(err.message)) return 'NO_HELLO';
    if (/closed before HELLO/.test(err.message)) return 'CLOSED_BEFORE_HELLO';
    if (/kicked before HELLO/.test(err.message)) return 'KICKED_BEFORE_HELLO';
    return err.name;
  }
  if (err instanceof GatewayError) return err.name;
  return errorCode(err) ?? (err instanceof Error ? err.name : 'ERROR');
}

/** The first `code` along an error's cause chain (Node system errors: `ECONNREFUSED`, …). */
function errorCode(err: unknown): string | undefined {
  for (let e = err, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && code !== '') return code;
  }
  return undefined;
}

/** Adds one to `counts[reason]`. */
export function count(counts: Record<string, number>, reason: string): void {
  counts[reason] = (counts[reason] ?? 0) + 1;
}

/** `ECONNREFUSED 5, NO_HELLO 1`, most frequent first; '' when empty. */
export function formatCounts(counts: Record<string, number>): string {
  return Object.entries(counts)
    .sort((a, b) => b[1] - a[1])
    .map(([name, n]) => `${name} ${n}`)
    .join(', ');
}
