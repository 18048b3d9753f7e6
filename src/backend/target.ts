import type { TargetConfig } from '../config/schema.js';
import { type Balancer, createBalancer } from '../registry/balancer.js';
import type { Instance } from '../registry/records.js';
import { BackendTarget } from './backend-target.js';

/**
 * A named backend service as the request path sees it: where one request goes. A fixed
 * target has one endpoint (its `url`); a discovered one has an endpoint per instance
 * registered under its service name, and a balancer that picks one per request.
 */
export interface Target {
  readonly name: string;
  /** The endpoint for a request of `key` (player id, or session id when unbound); undefined: no instance. */
  pick(key: string): BackendTarget | undefined;
  /** Every endpoint in use (for pool gauges, stats and closing). */
  endpoints(): readonly BackendTarget[];
}

export class FixedTarget implements Target {
  private readonly only: readonly BackendTarget[];

  constructor(
    readonly name: string,
    readonly endpoint: BackendTarget,
  ) {
    this.only = [endpoint];
  }

  pick(): BackendTarget {
    return this.endpoint;
  }

  endpoints(): readonly BackendTarget[] {
    return this.only;
  }
}

/**
 * `targets.<name>.discover`: one endpoint per instance (own pool, timeout and circuit
 * breaker), replaced as the registry reports changes. An instance that leaves gets no new
 * request at once; its pool closes once the requests already sent to it finish.
 */
export class DiscoveredTarget implements Target {
  private current: BackendTarget[] = [];
  private readonly balancer: Balancer;

  constructor(
    readonly name: string,
    private readonly config: TargetConfig,
  ) {
    this.balancer = createBalancer(config.balance ?? 'round-robin');
  }

  pick(key: string): BackendTarget | undefined {
    return this.balancer.pick(this.current, key);
  }

  endpoints(): readonly BackendTarget[] {
    return this.current;
  }

  /** The registry's new instance list (sorted by id); returns the endpoints that left, to be closed. */
  update(instances: readonly Instance[]): BackendTarget[] {
    const kept = new Map(this.current.map((e) => [e.instance!, e]));
    const next: BackendTarget[] = [];
    for (const inst of instances) {
      const url = inst.baseUrl + (this.config.path ?? '');
      const known = kept.get(inst.id);
      if (known !== undefined && known.url === url) {
        next.push(known);
        kept.delete(inst.id);
      } else next.push(new BackendTarget(this.name, { ...this.config, url }, inst.id));
    }
    this.current = next;
    return [...kept.values()];
  }
}
