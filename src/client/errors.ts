import { Status, type StatusCode, statusRow } from '../protocol/status.js';
import { utf8 } from './codec.js';

/**
 * Conditions the client detects itself, outside the gateway's status table (docs/errors.md). Negative, so they can
 * never collide with a wire status (u16).
 */
export const ClientStatus = {
  /** The connection closed (without a KICK) before the answer came. */
  CONNECTION_CLOSED: -1,
  /** No RESPONSE within requestTimeoutMs. */
  REQUEST_TIMEOUT: -2,
  /** A request was made while not connected (before connect, while reconnecting, after close). */
  NOT_CONNECTED: -3,
  /** The socket could not be opened, or no HELLO came within connectTimeoutMs. */
  CONNECT_FAILED: -4,
  /** close() was called while the request was in flight. */
  CLIENT_CLOSED: -5,
  /** The gateway sent something that is not a valid frame. */
  BAD_SERVER_FRAME: -6,
} as const;
export type ClientStatusName = keyof typeof ClientStatus;

const clientNames = new Map<number, string>(Object.entries(ClientStatus).map(([name, code]) => [code, name]));
const wireCodes = new Set<number>(Object.values(Status));

/**
 * The name of a status: the gateway's status names (`BACKEND_TIMEOUT`), the client's own conditions
 * (`CONNECTION_CLOSED`), `APP_<n>` for application codes a backend set with
 * x-gateway-status (1000–65535), `STATUS_<n>` for anything else.
 */
export function statusName(status: number): string {
  if (wireCodes.has(status)) return statusRow(status as StatusCode).name;
  const client = clientNames.get(status);
  if (client !== undefined) return client;
  return status >= 1000 ? `APP_${status}` : `STATUS_${status}`;
}

/**
 * Every failure the client reports: a RESPONSE with a non-zero status (when turned into
 * an error by `call()` or `Response.expectOk()`), a KICK, or a client-side condition.
 * `name` is the status name, so `err.name === 'KICKED'` reads as it should.
 */
export class GatewayError extends Error {
  override readonly name: string;
  /** The wire status (docs/errors.md, or an application code), or a negative ClientStatus. */
  readonly status: number;
  /** Set for BACKEND_REJECTED and BACKEND_ERROR: the backend's HTTP status. */
  readonly httpStatus: number | undefined;
  /** For application statuses: the backend's response body. */
  readonly body: Uint8Array | undefined;

  constructor(
    status: number,
    message?: string,
    extra: { httpStatus?: number; body?: Uint8Array; cause?: unknown } = {},
  ) {
    const name = statusName(status);
    // `cause`: for CONNECT_FAILED, the socket's error (its `code`, e.g. ECONNREFUSED, tells why).
    super(message ?? name, extra.cause === undefined ? undefined : { cause: extra.cause });
    this.name = name;
    this.status = status;
    this.httpStatus = extra.httpStatus;
    this.body = extra.body;
  }

  /**
   * From a RESPONSE or KICK with status ≠ 0. The gateway's own statuses carry a JSON body
   * `{"error", "message", "httpStatus"?}`; application statuses carry the backend's body.
   */
  static fromFrame(status: number, body: Uint8Array): GatewayError {
    if (status < 1000) {
      try {
        const parsed = JSON.parse(utf8(body)) as { message?: unknown; httpStatus?: unknown };
        return new GatewayError(status, typeof parsed.message === 'string' ? parsed.message : undefined, {
          httpStatus: typeof parsed.httpStatus === 'number' ? parsed.httpStatus : undefined,
        });
      } catch {
        // Not the gateway's JSON: keep the raw body.
      }
    }
    return new GatewayError(status, undefined, { body });
  }
}
