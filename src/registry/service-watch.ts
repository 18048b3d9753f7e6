import type { Etcd3, IKeyValue, Watcher } from 'etcd3';
import type { Logger } from '../logger.js';
import {
  decodeRecord,
  type Instance,
  type MalformedReason,
  type RegistryLayout,
  servicePrefix,
} from './records.js';

/** The parts of `registry` this needs (the config's `registry` object fits). */
export interface DiscoverySettings {
  readonly layout: RegistryLayout;
  readonly prefix: string;
}

export interface ServiceWatchOptions {
  /** Shared client (createEtcdClient); the caller closes it after stop(). */
  readonly etcd: Etcd3;
  readonly registry: DiscoverySettings;
  /** targets.<name>.discover: the service name whose instances to follow. */
  readonly service: string;
  readonly log: Logger;
  /** Every change of the instance list (sorted by id), the first read's result included. */
  readonly onChange?: (instances: readonly Instance[]) => void;
  /** A record that was skipped; once per key and revision, however often it is read. */
  readonly onMalformed?: (key: string, reason: MalformedReason) => void;
}

/** First retry after a failed read; doubles up to READ_RETRY_MAX_MS. */
const READ_RETRY_MIN_MS = 100;
const READ_RETRY_MAX_MS = 2_000;

/**
 * The instances of one service, kept in step with etcd (SPEC §11).
 *
 * Contract: start() reads every key under the service's prefix, then watches the
 * prefix from the revision after that read. When the watch is lost (etcd restarted, a
 * partition) it reads again, retrying, and watches from there, so nothing changed
 * meanwhile is missed, even if etcd came back empty with its revisions reset. `ready`
 * resolves after the first successful read (an empty service counts). While etcd is
 * unreachable the last known instances stay and reads are retried with backoff. A
 * malformed record is skipped, reported to onMalformed and logged; an instance whose
 * record becomes malformed is dropped. onChange gets the first read's list, then every
 * list that differs from the last one.
 */
export class ServiceWatch {
  readonly service: string;
  /** Keys of this service start with this (trailing `/` included). */
  readonly prefix: string;
  readonly ready: Promise<void>;

  private readonly etcd: Etcd3;
  private readonly layout: RegistryLayout;
  private readonly log: Logger;
  private readonly onChange: (instances: readonly Instance[]) => void;
  private readonly onMalformed: (key: string, reason: MalformedReason) => void;
  private readonly byKey = new Map<string, Instance>();
  /** Malformed keys and the mod_revision seen, so a re-read does not count them again. */
  private readonly malformedAt = new Map<string, string>();
  private list: readonly Instance[] = [];
  private isReady = false;
  private resolveReady: () => void = () => {};
  private state: 'new' | 'running' | 'stopped' = 'new';
  private watcher: Watcher | null = null;
  /** Bumped by every read-then-watch cycle; events of an older cycle are ignored. */
  private cycle = 0;
  private retryTimer: NodeJS.Timeout | null = null;

  constructor(options: ServiceWatchOptions) {
    this.etcd = options.etcd;
    this.layout = options.registry.layout;
    this.service = options.service;
    this.prefix = servicePrefix(options.registry.layout, options.registry.prefix, options.service);
    this.log = options.log;
    this.onChange = options.onChange ?? (() => {});
    this.onMalformed = options.onMalformed ?? (() => {});
    this.ready = new Promise((resolve) => {
      this.resolveReady = resolve;
    });
  }

  /** The current instances, sorted by id; the same array until the list changes. */
  get instances(): readonly Instance[] {
    return this.list;
  }

  /** True once the prefix has been read once (what /readyz waits for). */
  get hasRead(): boolean {
    return this.isReady;
  }

  start(): void {
    if (this.state !== 'new') return;
    this.state = 'running';
    void this.readThenWatch(1);
  }

  stop(): void {
    if (this.state === 'stopped') return;
    this.state = 'stopped';
    this.cycle++;
    if (this.retryTimer !== null) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.dropWatcher();
  }

  private async readThenWatch(attempt: number): Promise<void> {
    if (this.state !== 'running') return;
    const cycle = ++this.cycle;
    this.dropWatcher();
    let revision: string;
    try {
      const res = await this.etcd.getAll().prefix(this.prefix).exec();
      if (cycle !== this.cycle) return;
      revision = res.header.revision;
      this.replaceAll(res.kvs);
    } catch (err) {
      if (cycle !== this.cycle) return;
      const delayMs = Math.min(READ_RETRY_MIN_MS * 2 ** (attempt - 1), READ_RETRY_MAX_MS);
      this.log[attempt === 1 ? 'warn' : 'debug'](
        {
          service: this.service,
          err: (err as Error).message,
          attempt,
          retryMs: delayMs,
          kept: this.list.length,
        },
        'registry: cannot read the service from etcd, keeping the last known instances',
      );
      this.retryTimer = setTimeout(() => {
        this.retryTimer = null;
        void this.readThenWatch(attempt + 1);
      }, delayMs);
      return;
    }
    if (attempt > 1) this.log.info({ service: this.service, attempt }, 'registry: service read again');
    if (!this.isReady) {
      this.isReady = true;
      this.resolveReady();
    }
    this.watchFrom(cycle, (BigInt(revision) + 1n).toString());
  }

  private watchFrom(cycle: number, revision: string): void {
    // watcher() attaches at once; create() would only add a wait for its 'connected'.
    const watcher = this.etcd.watch().prefix(this.prefix).startRevision(revision).watcher();
    this.watcher = watcher;
    watcher.on('data', (res) => {
      if (cycle !== this.cycle) return;
      for (const event of res.events) {
        if (event.type === 'Put') this.apply(event.kv);
        else this.remove(event.kv.key.toString());
      }
      this.publish();
    });
    // A lost watch stream: read again and watch anew rather than wait for etcd3 to
    // reconnect this watcher. The read retries with backoff while etcd is down, and, being
    // a unary call, renews an expired auth token that a stream reconnect would keep using.
    watcher.on('disconnected', (err: Error) => {
      if (cycle !== this.cycle) return;
      this.log.warn(
        { service: this.service, err: err.message, kept: this.list.length },
        'registry: watch disconnected, keeping the last known instances',
      );
      void this.readThenWatch(1);
    });
    // A canceled watch (e.g. its revision was compacted): start over from a fresh read.
    watcher.on('error', (err: Error) => {
      if (cycle !== this.cycle) return;
      this.log.warn({ service: this.service, err: err.message }, 'registry: watch canceled, reading again');
      void this.readThenWatch(1);
    });
  }

  /**
   * Cancels the current watcher without waiting (a cancel sent on a live stream waits for
   * etcd's answer, and a re-read must not). Its late events belong to an old cycle and
   * are ignored.
   */
  private dropWatcher(): void {
    const watcher = this.watcher;
    this.watcher = null;
    watcher?.cancel().catch(() => {});
  }

  private replaceAll(kvs: readonly IKeyValue[]): void {
    const seen = new Set<string>();
    for (const kv of kvs) {
      seen.add(kv.key.toString());
      this.apply(kv);
    }
    for (const key of [...this.byKey.keys()]) if (!seen.has(key)) this.byKey.delete(key);
    for (const key of [...this.malformedAt.keys()]) if (!seen.has(key)) this.malformedAt.delete(key);
    this.publish();
  }

  private apply(kv: IKeyValue): void {
    const key = kv.key.toString();
    const decoded = decodeRecord(this.layout, this.prefix, key, kv.value.toString());
    if (decoded.ok) {
      this.byKey.set(key, decoded.instance);
      this.malformedAt.delete(key);
      return;
    }
    this.byKey.delete(key);
    if (this.malformedAt.get(key) === kv.mod_revision) return;
    this.malformedAt.set(key, kv.mod_revision);
    this.onMalformed(key, decoded.reason);
    this.log.warn(
      { service: this.service, key, reason: decoded.reason, detail: decoded.detail },
      'registry: malformed record skipped',
    );
  }

  private remove(key: string): void {
    this.byKey.delete(key);
    this.malformedAt.delete(key);
  }

  /** Calls onChange when the sorted list differs from the last one published. */
  private publish(): void {
    const next = [...this.byKey.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    const same =
      next.length === this.list.length &&
      next.every((inst, i) => inst.id === this.list[i]!.id && inst.baseUrl === this.list[i]!.baseUrl);
    if (same && this.isReady) return;
    this.list = Object.freeze(next);
    if (!same) this.log.info({ service: this.service, instances: next }, 'registry: instances changed');
    this.onChange(this.list);
  }
}
