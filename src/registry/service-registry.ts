import type { Etcd3 } from 'etcd3';
import type { GatewayConfig } from '../config/schema.js';
import type { Logger } from '../logger.js';
import { createEtcdClient } from './etcd-client.js';
import { gatewayRecord, type ListenerAddresses } from './gateway-record.js';
import type { Instance } from './records.js';
import { SelfRegistration } from './self-registration.js';
import { ServiceWatch } from './service-watch.js';

/** The two registry gauges; GatewayMetrics has both methods. */
export interface RegistryMetrics {
  setRegistryUp(up: boolean): void;
  setTargetInstances(target: string, count: number): void;
}

export interface ServiceRegistryOptions {
  readonly config: GatewayConfig;
  readonly log: Logger;
  readonly metrics?: RegistryMetrics;
  /** Every change of a discovered target's instances (sorted by id), the first read included. */
  readonly onInstances?: (target: string, instances: readonly Instance[]) => void;
  /** A client to use instead of one built from registry.etcd (the caller then closes it). */
  readonly etcd?: Etcd3;
}

/**
 * The gateway's part in the etcd registry (SPEC §11), built from the config: one etcd
 * client, the gateway's own SelfRegistration and one ServiceWatch per discovered target.
 *
 * Order the composition root keeps: startDiscovery() before the listeners (so /readyz can
 * wait for `ready`), register() once every listener is bound, deregister() first thing
 * on shutdown (before /readyz turns 503 and the drain), close() last.
 */
export class ServiceRegistry {
  readonly etcd: Etcd3;
  /** Discovered targets by target name. */
  readonly watches: ReadonlyMap<string, ServiceWatch>;
  /** Resolves once every discovered target has been read once. */
  readonly allRead: Promise<void>;

  private readonly ownsClient: boolean;
  private registration: SelfRegistration | null = null;
  private malformedCount = 0;

  private constructor(private readonly options: ServiceRegistryOptions) {
    const { config, log, metrics } = options;
    const etcd = config.registry.etcd;
    if (etcd === null && options.etcd === undefined) throw new Error('registry.etcd is not set');
    this.ownsClient = options.etcd === undefined;
    this.etcd = options.etcd ?? createEtcdClient(etcd!);
    const watches = new Map<string, ServiceWatch>();
    for (const [name, target] of Object.entries(config.targets)) {
      if (target.discover === undefined) continue;
      watches.set(
        name,
        new ServiceWatch({
          etcd: this.etcd,
          registry: config.registry,
          service: target.discover,
          log,
          onChange: (instances) => {
            metrics?.setTargetInstances(name, instances.length);
            options.onInstances?.(name, instances);
          },
          onMalformed: () => {
            this.malformedCount++;
          },
        }),
      );
    }
    this.watches = watches;
    this.allRead = Promise.all([...watches.values()].map((w) => w.ready)).then(() => {});
  }

  /** Null when registry.etcd is not set (and no client is given): the registry is off. */
  static fromConfig(options: ServiceRegistryOptions): ServiceRegistry | null {
    if (options.config.registry.etcd === null && options.etcd === undefined) return null;
    return new ServiceRegistry(options);
  }

  /** True once every discovered target has been read once (none: true). For /readyz. */
  get ready(): boolean {
    for (const w of this.watches.values()) if (!w.hasRead) return false;
    return true;
  }

  /** True while the gateway's record is in etcd. */
  get registered(): boolean {
    return this.registration?.up ?? false;
  }

  /** Records skipped as malformed so far, over every discovered target. */
  get malformedRecords(): number {
    return this.malformedCount;
  }

  /** The current instances of a discovered target; empty for unknown names. */
  instances(target: string): readonly Instance[] {
    return this.watches.get(target)?.instances ?? [];
  }

  /** For GET /v1/stats: each discovered target's service name, whether it was read, its instances. */
  stats(): Record<string, { service: string; read: boolean; instances: readonly Instance[] }> {
    const out: Record<string, { service: string; read: boolean; instances: readonly Instance[] }> = {};
    for (const [name, w] of this.watches)
      out[name] = { service: w.service, read: w.hasRead, instances: w.instances };
    return out;
  }

  /** Starts every watch (initial read, then watch); see `ready` and `allRead`. */
  startDiscovery(): void {
    for (const w of this.watches.values()) w.start();
  }

  /**
   * Puts the gateway's record once its listeners are bound (`addresses`: what the
   * gateway bound). Resolves true once the record is in etcd, false if deregister()
   * came first; meanwhile it keeps retrying, so awaiting it is the caller's choice.
   */
  register(addresses: ListenerAddresses): Promise<boolean> {
    if (this.registration === null) {
      const { config, log, metrics } = this.options;
      this.registration = new SelfRegistration({
        etcd: this.etcd,
        registry: config.registry,
        record: gatewayRecord({
          nodeId: config.node.id,
          service: config.registry.service,
          addresses,
          advertise: config.registry.advertise,
        }),
        log,
        onChange: (up) => metrics?.setRegistryUp(up),
      });
    }
    return this.registration.start();
  }

  /** Revokes the gateway's lease (its record goes with it); logged. */
  async deregister(): Promise<void> {
    await this.registration?.stop();
  }

  /** Deregisters if still registered, stops every watch, closes the client if it is ours. */
  async close(): Promise<void> {
    await this.deregister();
    for (const w of this.watches.values()) w.stop();
    if (this.ownsClient) this.etcd.close();
  }
}

/** The URL a discovered instance serves a target at: its base address and the target's path ({cmd} kept). */
export function instanceUrl(instance: Instance, path: string): string {
  return instance.baseUrl + path;
}
