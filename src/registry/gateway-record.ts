import { VERSION } from '../version.js';
import { advertisedAddress, type Interfaces } from './advertise.js';
import type { ServiceRecord } from './records.js';

/** The listeners as the gateway bound them (`host:port`, null when off): Gateway.addresses. */
export interface ListenerAddresses {
  readonly tcp: string | null;
  readonly ws: string | null;
  readonly api: string;
  readonly metrics: string | null;
}

export interface GatewayRecordInput {
  /** node.id: the record's id, and the last segment of its key. */
  readonly nodeId: string;
  /** registry.service */
  readonly service: string;
  readonly addresses: ListenerAddresses;
  /** registry.advertise: the host published for wildcard listeners ('' = first non-internal IPv4). */
  readonly advertise: string;
  readonly interfaces?: Interfaces;
}

/**
 * The gateway's own record (SPEC §11): every address one a backend can dial, the API
 * (push) endpoint first, so a go-zero value and a kratos client that takes the first
 * http endpoint both land on the push API. Off listeners are '' in metadata (Go reads
 * metadata as map[string]string) and absent from endpoints.
 */
export function gatewayRecord(input: GatewayRecordInput): ServiceRecord {
  const publish = (bound: string | null) => advertisedAddress(bound, input.advertise, input.interfaces);
  const api = publish(input.addresses.api)!;
  const tcp = publish(input.addresses.tcp);
  const ws = publish(input.addresses.ws);
  const metrics = publish(input.addresses.metrics);
  const endpoints = [`http://${api}`];
  if (tcp !== null) endpoints.push(`tcp://${tcp}`);
  if (ws !== null) endpoints.push(`ws://${ws}`);
  return {
    id: input.nodeId,
    name: input.service,
    version: VERSION,
    metadata: { node: input.nodeId, api, tcp: tcp ?? '', ws: ws ?? '', metrics: metrics ?? '' },
    endpoints,
  };
}
