import type { Etcd3, Lease } from 'etcd3';
import type { Logger } from '../logger.js';
import { isLoopbackHost } from './advertise.js';
import { encodeRecord, type RegistryLayout, recordKey, type ServiceRecord } from './records.js';

/** The parts of `registry` this needs (the config's `registry` object fits). */
export interface RegistrationSettings {
  readonly layout: RegistryLayout;
  readonly prefix: string;
  readonly ttlSeconds: number;
}

export interface SelfRegistrationOptions {
  /** Shared client (createEtcdClient); the caller closes it after stop(). */
  readonly etcd: Etcd3;
  readonly registry: RegistrationSettings;
  /** gatewayRecord(): its name is the service, its id the key's last segment. */
  readonly record: ServiceRecord;
  readonly log: Logger;
  /** Called on every change of `up`, for gateway_registry_up. */
  readonly onChange?: (up: boolean) => void;
}

/** First retry after a failed grant or put; doubles up to RETRY_MAX_MS. */
const RETRY_MIN_MS = 100;
/** Well under any sensible TTL, so a lost lease is re-granted within ttlSeconds once etcd answers. */
const RETRY_MAX_MS = 1_000;

/**
 * The gateway's own record in etcd (SPEC §11), held by a lease with keep-alive.
 *
 * Contract: start() once every listener is bound; it resolves true once the record is
 * in etcd (false when stop() came first) and keeps trying meanwhile, so awaiting it is
 * a choice: a start that waits for etcd, or one that does not. A lost lease (etcd
 * restarted empty, a partition longer than the TTL) is re-granted and the record put
 * again, retrying every RETRY_MAX_MS at most. `up` is true while the record is in etcd
 * as far as this process can tell: false from a lost lease, or from ttlSeconds without
 * a successful keep-alive, until it is back. stop() revokes the lease first (so
 * backends stop choosing this node at once) and logs it; the caller drains afterwards.
 */
export class SelfRegistration {
  /** The record's key and value, as written (both layouts). */
  readonly key: string;
  readonly value: string;

  private readonly etcd: Etcd3;
  private readonly record: ServiceRecord;
  private readonly ttlSeconds: number;
  private readonly log: Logger;
  private readonly onChange: (up: boolean) => void;
  private state: 'new' | 'running' | 'stopped' = 'new';
  private lease: Lease | null = null;
  private isUp = false;
  private failures = 0;
  private lastAliveAt = 0;
  private retryTimer: NodeJS.Timeout | null = null;
  private staleTimer: NodeJS.Timeout | null = null;
  private settleStart: (registered: boolean) => void = () => {};
  private readonly started: Promise<boolean>;

  constructor(options: SelfRegistrationOptions) {
    const { layout, prefix, ttlSeconds } = options.registry;
    this.etcd = options.etcd;
    this.record = options.record;
    this.ttlSeconds = ttlSeconds;
    this.log = options.log;
    this.onChange = options.onChange ?? (() => {});
    this.key = recordKey(layout, prefix, options.record.name, options.record.id);
    this.value = encodeRecord(layout, options.record);
    this.started = new Promise((resolve) => {
      this.settleStart = resolve;
    });
  }

  /** True while the record is in etcd (gateway_registry_up). */
  get up(): boolean {
    return this.isUp;
  }

  start(): Promise<boolean> {
    if (this.state === 'new') {
      this.state = 'running';
      this.warnIfUnreachable();
      void this.register();
    }
    return this.started;
  }

  /** Revokes the lease (the key goes with it) and stops re-registering. Safe to call twice. */
  async stop(): Promise<void> {
    if (this.state === 'stopped') return;
    this.state = 'stopped';
    this.clearTimers();
    this.settleStart(false);
    const lease = this.lease;
    this.lease = null;
    if (lease === null) {
      this.log.info({ key: this.key }, 'registry: not registered, nothing to revoke');
    } else {
      try {
        // Bounded by the client's call deadline (ETCD_CALL_TIMEOUT_MS) when etcd is unreachable.
        await lease.revoke();
        this.log.info({ key: this.key }, 'registry: lease revoked, record removed from etcd');
      } catch (err) {
        this.log.warn(
          { key: this.key, err: (err as Error).message, ttlSeconds: this.ttlSeconds },
          'registry: could not revoke the lease; the record expires with it',
        );
      }
    }
    this.setUp(false);
  }

  private async register(): Promise<void> {
    if (this.state !== 'running') return;
    const lease = this.etcd.lease(this.ttlSeconds);
    this.lease = lease;
    let recordPut = false;
    // Losses before the put are the put's rejection, handled below.
    lease.on('lost', (err) => {
      if (recordPut && this.lease === lease) this.lost(err);
    });
    lease.on('keepaliveSucceeded', () => {
      if (recordPut && this.lease === lease) this.keptAlive();
    });
    lease.on('keepaliveFailed', () => {
      if (recordPut && this.lease === lease) this.keepAliveFailed();
    });
    try {
      // put() waits for the grant; a failed grant rejects it.
      await lease.put(this.key).value(this.value).exec();
    } catch (err) {
      if (this.lease !== lease) return; // stopped meanwhile
      this.lease = null;
      lease.release();
      this.retryLater(err as Error);
      return;
    }
    const leaseId = await lease.grant(); // settled already: the put waited for it
    if (this.lease !== lease) return;
    if (lease.revoked()) {
      // Lost between the grant and the put's answer: the record went with it.
      this.lease = null;
      this.retryLater(new Error('the lease was lost while the record was put'));
      return;
    }
    recordPut = true;
    const attempts = this.failures + 1;
    this.failures = 0;
    this.log.info(
      { key: this.key, lease: leaseId, ttlSeconds: this.ttlSeconds, attempts },
      'registry: registered in etcd',
    );
    this.keptAlive();
    this.settleStart(true);
  }

  private lost(err: Error): void {
    this.lease = null;
    // The old lease's countdown must not mark the next one down.
    if (this.staleTimer !== null) clearTimeout(this.staleTimer);
    this.staleTimer = null;
    this.setUp(false);
    this.log.warn({ key: this.key, err: err.message }, 'registry: etcd lease lost, registering again');
    void this.register();
  }

  private retryLater(err: Error): void {
    this.failures++;
    this.setUp(false);
    const delayMs = Math.min(RETRY_MIN_MS * 2 ** (this.failures - 1), RETRY_MAX_MS);
    // One warning per outage, not one per retry.
    const level = this.failures === 1 ? 'warn' : 'debug';
    this.log[level](
      { key: this.key, err: err.message, attempt: this.failures, retryMs: delayMs },
      'registry: cannot register in etcd, retrying',
    );
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      void this.register();
    }, delayMs);
  }

  private keptAlive(): void {
    this.lastAliveAt = Date.now();
    if (this.staleTimer !== null) clearTimeout(this.staleTimer);
    this.staleTimer = null;
    this.setUp(true);
  }

  /** etcd unreachable: the record outlives us by the rest of its TTL, then it is gone. */
  private keepAliveFailed(): void {
    if (this.staleTimer !== null) return;
    const leftMs = Math.max(0, this.lastAliveAt + this.ttlSeconds * 1_000 - Date.now());
    this.staleTimer = setTimeout(() => {
      this.staleTimer = null;
      if (this.isUp)
        this.log.warn({ key: this.key }, 'registry: no keep-alive for ttlSeconds, record presumed expired');
      this.setUp(false);
    }, leftMs);
  }

  /** A loopback API in the record is only of use to backends on this machine: say so once. */
  private warnIfUnreachable(): void {
    const api = this.record.metadata.api ?? '';
    const host = api.slice(0, api.lastIndexOf(':'));
    if (isLoopbackHost(host)) {
      this.log.warn(
        { key: this.key, api },
        'registry: the published API address is loopback; backends on other machines cannot reach it (set listen.api to a reachable address, with api.token)',
      );
    }
  }

  private setUp(up: boolean): void {
    if (this.isUp === up) return;
    this.isUp = up;
    this.onChange(up);
  }

  private clearTimers(): void {
    if (this.retryTimer !== null) clearTimeout(this.retryTimer);
    if (this.staleTimer !== null) clearTimeout(this.staleTimer);
    this.retryTimer = this.staleTimer = null;
  }
}
