/**
 * The two etcd record layouts of SPEC §11, as pure functions: where an instance's key
 * lives and what its value says. Nothing here talks to etcd.
 *
 * | layout  | key                           | value                                          |
 * | ------- | ----------------------------- | ---------------------------------------------- |
 * | kratos  | `<prefix>/<service>/<id>`     | JSON {id, name, version, metadata, endpoints}  |
 * | go-zero | `<prefix><service>/<id>`      | the instance's HTTP `host:port`, plain text    |
 */

export const RegistryLayout = { kratos: 'kratos', goZero: 'go-zero' } as const;
export type RegistryLayout = (typeof RegistryLayout)[keyof typeof RegistryLayout];

/** A service instance as kratos describes it; go-zero keeps only the HTTP address. */
export interface ServiceRecord {
  id: string;
  name: string;
  version: string;
  metadata: Record<string, string>;
  /** `scheme://host:port`; the first `http://` or `https://` one is where requests go. */
  endpoints: string[];
}

/** One instance of a discovered service: what the forwarder needs to reach it. */
export interface Instance {
  /** The key's last segment (kratos: the instance id; go-zero: usually its lease id). */
  readonly id: string;
  /** `http(s)://host:port` (plus the endpoint's path, if it has one), no trailing slash. */
  readonly baseUrl: string;
}

/** Why a record in a service's prefix was skipped. */
export const MalformedReason = {
  emptyValue: 'empty_value',
  notJson: 'not_json',
  noHttpEndpoint: 'no_http_endpoint',
  badAddress: 'bad_address',
} as const;
export type MalformedReason = (typeof MalformedReason)[keyof typeof MalformedReason];

export type DecodedRecord =
  | { readonly ok: true; readonly instance: Instance }
  | { readonly ok: false; readonly reason: MalformedReason; readonly detail: string };

/**
 * The prefix every key of `service` starts with, trailing `/` included, so watching
 * `map` never sees `map_v2`. A kratos prefix is joined with `/`; a go-zero one is
 * prepended as is (go-zero's default is the empty string).
 */
export function servicePrefix(layout: RegistryLayout, prefix: string, service: string): string {
  return layout === RegistryLayout.kratos
    ? `${prefix.replace(/\/+$/, '')}/${service}/`
    : `${prefix}${service}/`;
}

/** The key of one instance: the service prefix and the instance id. */
export function recordKey(layout: RegistryLayout, prefix: string, service: string, id: string): string {
  return servicePrefix(layout, prefix, service) + id;
}

/**
 * The value to store for `record`: kratos gets the JSON record, go-zero the `host:port`
 * of its first HTTP endpoint. Throws when the record has no HTTP endpoint (a bug of the
 * caller: the gateway's own record always has its API address first).
 */
export function encodeRecord(layout: RegistryLayout, record: ServiceRecord): string {
  if (layout === RegistryLayout.kratos) {
    const { id, name, version, metadata, endpoints } = record;
    return JSON.stringify({ id, name, version, metadata, endpoints });
  }
  const http = firstHttpEndpoint(record.endpoints);
  if (http === null) throw new Error(`record ${record.id} has no http:// endpoint`);
  // URL drops a default port (http://h:80 → "h"); go-zero's value always has one.
  return `${http.hostname}:${http.port || (http.protocol === 'https:' ? 443 : 80)}`;
}

/**
 * Reads one record found under `prefix` (the service prefix of servicePrefix()). Never
 * throws: a record another service wrote badly is that service's bug, not ours, so it
 * comes back as a reason the watcher can count and log.
 */
export function decodeRecord(
  layout: RegistryLayout,
  prefix: string,
  key: string,
  value: string,
): DecodedRecord {
  const id = key.startsWith(prefix) ? key.slice(prefix.length) : key;
  if (value.trim() === '') return malformed(MalformedReason.emptyValue, 'the value is empty');
  return layout === RegistryLayout.kratos ? decodeKratos(id, value) : decodeGoZero(id, value);
}

function decodeKratos(id: string, value: string): DecodedRecord {
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    return malformed(MalformedReason.notJson, `not JSON: ${excerpt(value)}`);
  }
  const endpoints = (parsed as { endpoints?: unknown } | null)?.endpoints;
  const http = Array.isArray(endpoints) ? firstHttpEndpoint(endpoints) : null;
  if (http === null) {
    return malformed(MalformedReason.noHttpEndpoint, `no http:// or https:// endpoint in ${excerpt(value)}`);
  }
  return { ok: true, instance: { id, baseUrl: baseUrlOf(http) } };
}

function decodeGoZero(id: string, value: string): DecodedRecord {
  const text = value.trim();
  // Plain host:port (IPv6 in brackets); go-zero writes nothing else for HTTP services.
  if (!/^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/.test(text) || Number(text.split(':').pop()) > 65_535) {
    return malformed(MalformedReason.badAddress, `not host:port: ${excerpt(value)}`);
  }
  return { ok: true, instance: { id, baseUrl: `http://${text}` } };
}

function firstHttpEndpoint(endpoints: readonly unknown[]): URL | null {
  for (const e of endpoints) {
    if (typeof e !== 'string' || !/^https?:\/\//i.test(e)) continue;
    try {
      const url = new URL(e);
      if (url.hostname !== '') return url;
    } catch {
      // Not a URL after all: try the next endpoint.
    }
  }
  return null;
}

/** Origin plus path; kratos' `?isSecure=false` and the like are dropped. */
function baseUrlOf(url: URL): string {
  return url.origin + url.pathname.replace(/\/+$/, '');
}

function malformed(reason: MalformedReason, detail: string): DecodedRecord {
  return { ok: false, reason, detail };
}

function excerpt(value: string): string {
  return JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}…` : value);
}
