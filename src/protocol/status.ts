/**
 * Status codes of SPEC.md §6: one row per code, with the name clients see, the
 * `gateway_errors_total{type}` it counts as (if any), and a default message.
 */
export const Status = {
  OK: 0,
  BAD_FRAME: 100,
  FRAME_TOO_LARGE: 101,
  NOT_AUTHENTICATED: 110,
  AUTH_FAILED: 111,
  ROUTE_NOT_FOUND: 120,
  RATE_LIMITED: 130,
  TOO_MANY_IN_FLIGHT: 131,
  BACKEND_UNAVAILABLE: 200,
  BACKEND_TIMEOUT: 201,
  BACKEND_ERROR: 202,
  BACKEND_REJECTED: 203,
  REPLACED: 300,
  IDLE_TIMEOUT: 301,
  KICKED: 302,
  SERVER_SHUTDOWN: 303,
  SLOW_CONSUMER: 304,
  AUTH_TIMEOUT: 305,
  PROTOCOL_ERROR: 306,
  INTERNAL: 500,
} as const;

export type StatusName = keyof typeof Status;
export type StatusCode = (typeof Status)[StatusName];

/** The error `type` label of gateway_errors_total for each failing status. */
export type ErrorType =
  | 'decode_failed'
  | 'route_not_found'
  | 'auth_failed'
  | 'session_invalid'
  | 'backend_unavailable'
  | 'backend_timeout'
  | 'backend_error'
  | 'backend_rejected'
  | 'rate_limited'
  | 'too_many_in_flight'
  | 'send_failed'
  | 'invalid_directive'
  | 'internal'
  | 'plugin_error';

interface StatusRow {
  readonly name: StatusName;
  readonly errorType: ErrorType | null;
  readonly message: string;
}

const rows: Record<StatusCode, StatusRow> = {
  0: { name: 'OK', errorType: null, message: 'ok' },
  100: { name: 'BAD_FRAME', errorType: 'decode_failed', message: 'malformed frame' },
  101: {
    name: 'FRAME_TOO_LARGE',
    errorType: 'decode_failed',
    message: 'frame length over limits.maxFrameBytes',
  },
  110: {
    name: 'NOT_AUTHENTICATED',
    errorType: 'session_invalid',
    message: 'this command needs a logged-in session',
  },
  111: { name: 'AUTH_FAILED', errorType: 'auth_failed', message: 'the backend refused the credentials' },
  120: { name: 'ROUTE_NOT_FOUND', errorType: 'route_not_found', message: 'no route for this command' },
  130: { name: 'RATE_LIMITED', errorType: 'rate_limited', message: 'too many requests on this session' },
  131: {
    name: 'TOO_MANY_IN_FLIGHT',
    errorType: 'too_many_in_flight',
    message: 'too many requests in flight on this session',
  },
  200: {
    name: 'BACKEND_UNAVAILABLE',
    errorType: 'backend_unavailable',
    message: 'the backend cannot be reached',
  },
  201: {
    name: 'BACKEND_TIMEOUT',
    errorType: 'backend_timeout',
    message: 'the backend did not answer in time',
  },
  202: { name: 'BACKEND_ERROR', errorType: 'backend_error', message: 'the backend failed' },
  203: {
    name: 'BACKEND_REJECTED',
    errorType: 'backend_rejected',
    message: 'the backend rejected the request',
  },
  300: { name: 'REPLACED', errorType: null, message: 'the same player logged in elsewhere' },
  301: {
    name: 'IDLE_TIMEOUT',
    errorType: null,
    message: 'no frame from the client within heartbeat.timeoutMs',
  },
  302: { name: 'KICKED', errorType: null, message: 'kicked' },
  303: { name: 'SERVER_SHUTDOWN', errorType: null, message: 'the gateway is shutting down' },
  304: {
    name: 'SLOW_CONSUMER',
    errorType: 'send_failed',
    message: 'unsent output over limits.maxWriteBufferBytes',
  },
  305: { name: 'AUTH_TIMEOUT', errorType: null, message: 'not logged in within auth.timeoutMs' },
  306: { name: 'PROTOCOL_ERROR', errorType: 'decode_failed', message: 'wrong frame type or flags' },
  500: { name: 'INTERNAL', errorType: 'internal', message: 'internal error' },
};

export function statusRow(code: StatusCode): StatusRow {
  return rows[code];
}

/** Lower-case status name, the `reason` label of gateway_kicks_total. */
export function statusLabel(code: StatusCode): string {
  return rows[code].name.toLowerCase();
}
