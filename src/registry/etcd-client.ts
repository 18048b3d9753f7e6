import { Etcd3, type IOptions } from 'etcd3';

/** `registry.etcd` of the config. */
export interface EtcdConnection {
  readonly endpoints: readonly string[];
  readonly username?: string | undefined;
  readonly password?: string | undefined;
}

/** Every unary call (get, put, grant, revoke) fails after this long instead of hanging on a partition. */
export const ETCD_CALL_TIMEOUT_MS = 3_000;
/** Watch reconnects back off from this to WATCH_BACKOFF_MAX_MS (doubling). */
const WATCH_BACKOFF_MIN_MS = 100;
const WATCH_BACKOFF_MAX_MS = 2_000;

type FaultHandling = NonNullable<IOptions['faultHandling']>;
type Policy = NonNullable<FaultHandling['global']>;
type Backoff = NonNullable<FaultHandling['watchBackoff']>;

/**
 * A policy that runs each call once. etcd3's defaults retry three times and, per host,
 * refuse every call for 5 s after three failures; SelfRegistration and ServiceWatch retry
 * with their own backoff, and that 5 s would delay re-registration past a short TTL.
 * etcd3 only calls execute(); the events are there for the type.
 */
const runOnce = {
  execute: <T>(fn: (context: { signal: AbortSignal }) => PromiseLike<T> | T, signal?: AbortSignal) =>
    Promise.resolve().then(() => fn({ signal: signal ?? new AbortController().signal })),
  onSuccess: () => ({ dispose: () => {} }),
  onFailure: () => ({ dispose: () => {} }),
} as unknown as Policy;

/** Doubling delays between watch reconnects, capped, so a watch is back soon after etcd is. */
class CappedBackoff implements Backoff {
  constructor(readonly duration: number = WATCH_BACKOFF_MIN_MS) {}
  next(): CappedBackoff {
    return new CappedBackoff(Math.min(this.duration * 2, WATCH_BACKOFF_MAX_MS));
  }
}

/**
 * One etcd v3 client for the gateway's registration and all its watches (one gRPC
 * channel per endpoint, one watch stream for every watched prefix). The caller owns
 * it and closes it (`close()`) after stopping what uses it.
 */
export function createEtcdClient(connection: EtcdConnection): Etcd3 {
  const { endpoints, username, password } = connection;
  return new Etcd3({
    hosts: [...endpoints],
    ...(username !== undefined ? { auth: { username, password: password ?? '' } } : {}),
    dialTimeout: ETCD_CALL_TIMEOUT_MS,
    // Streams (watch, lease keep-alive) live as long as they are needed; unary calls get a deadline.
    defaultCallOptions: (context) =>
      context.isStream ? {} : { deadline: Date.now() + ETCD_CALL_TIMEOUT_MS },
    grpcOptions: { 'grpc.initial_reconnect_backoff_ms': 100, 'grpc.max_reconnect_backoff_ms': 1_000 },
    faultHandling: { host: () => runOnce, global: runOnce, watchBackoff: new CappedBackoff() },
  });
}
