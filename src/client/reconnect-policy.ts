import { Status } from '../protocol/status.js';
import type { DisconnectCause, ReconnectOptions } from './types.js';

/**
 * Whether a KICK ends the session for a reason a new connection fixes. `true`: the
 * session was healthy and the gateway or the network ended it (reconnect). `false`: a
 * decision about this player or client (a kick, a newer login, failed auth) or a bug in
 * the client's frames, which a reconnect would only repeat or fight. A KICK status not
 * listed here is treated as `false`.
 */
export const RECONNECT_AFTER_KICK: Readonly<Record<number, boolean>> = {
  [Status.IDLE_TIMEOUT]: true,
  [Status.SERVER_SHUTDOWN]: true,
  [Status.SLOW_CONSUMER]: true,
  [Status.AUTH_TIMEOUT]: true,
  [Status.KICKED]: false,
  [Status.REPLACED]: false,
  [Status.NOT_AUTHENTICATED]: false,
  [Status.AUTH_FAILED]: false,
  [Status.PROTOCOL_ERROR]: false,
  [Status.BAD_FRAME]: false,
  [Status.FRAME_TOO_LARGE]: false,
};

/**
 * The default `shouldReconnect`: a connection that ended without a KICK (network loss,
 * a dead connection, the gateway gone) is retried; after a KICK, `RECONNECT_AFTER_KICK`
 * decides.
 */
export function shouldReconnectByDefault(cause: DisconnectCause): boolean {
  if (cause.kick === null) return true;
  return RECONNECT_AFTER_KICK[cause.kick.status] === true;
}

export type ReconnectPolicy = Required<ReconnectOptions>;

const DEFAULT_MIN_MS = 500;
const DEFAULT_MAX_MS = 30_000;

/** The `reconnect` option with its defaults filled in; null when reconnecting is off. */
export function reconnectPolicy(option: ReconnectOptions | boolean | undefined): ReconnectPolicy | null {
  const r = option === true ? {} : option || null;
  if (r === null) return null;
  return {
    minMs: r.minMs ?? DEFAULT_MIN_MS,
    maxMs: r.maxMs ?? DEFAULT_MAX_MS,
    maxAttempts: r.maxAttempts ?? Number.POSITIVE_INFINITY,
    shouldReconnect: r.shouldReconnect ?? shouldReconnectByDefault,
  };
}

/**
 * Delay before attempt `attempt` (1, 2, …): `min(maxMs, minMs · 2^(attempt-1))`, jittered
 * to a random value between half of it and all of it, so the clients of a restarted
 * gateway do not all come back in the same instant.
 */
export function reconnectDelayMs(policy: ReconnectPolicy, attempt: number, random = Math.random): number {
  const ceiling = Math.min(policy.maxMs, policy.minMs * 2 ** Math.min(attempt - 1, 30));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

/** The policy's verdict; a shouldReconnect that throws counts as "no" (the app's bug must not loop). */
export function allowsReconnect(policy: ReconnectPolicy, cause: DisconnectCause): boolean {
  try {
    return policy.shouldReconnect(cause) === true;
  } catch {
    return false;
  }
}
