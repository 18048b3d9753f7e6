/** The cmds of the recording test backend (test-backend.ts), by what they make it do. */
export const Cmd = {
  /** body = player id → 200 + x-gateway-bind (empty body → 401). */
  LOGIN: 1,
  /** → 200 + x-gateway-unbind: 1. */
  LOGOUT: 2,
  ECHO: 10,
  /** echo + x-gateway-status from the body (decimal). */
  ECHO_STATUS: 11,
  /** echo + x-gateway-close: bye. */
  ECHO_CLOSE: 12,
  /** join the groups named in the body (x-gateway-join). */
  JOIN: 13,
  /** leave the groups named in the body (x-gateway-leave). */
  LEAVE: 14,
  /** HTTP_<n>: answer HTTP status n (any cmd 400–599 does; these are the ones tests use). */
  HTTP_401: 401,
  HTTP_403: 403,
  HTTP_404: 404,
  HTTP_418: 418,
  HTTP_500: 500,
  HTTP_502: 502,
  HTTP_503: 503,
  /** sleep the number of ms in the body, then echo. */
  SLEEP: 900,
  /** answer a body of N bytes (N in the body). */
  SIZED: 901,
  /** destroy the connection without answering. */
  HANG_UP: 902,
} as const;
