import { type NetworkInterfaceInfo, networkInterfaces } from 'node:os';
import { isLoopback } from '../config/schema.js';

/** What os.networkInterfaces() returns; a parameter so tests can give their own. */
export type Interfaces = NodeJS.Dict<NetworkInterfaceInfo[]>;

const WILDCARD_HOSTS = new Set(['0.0.0.0', '::', '[::]', '']);

/**
 * The host a backend can dial for a listener bound to `boundHost` (SPEC §11): a listener
 * on a wildcard address (0.0.0.0, ::) is published as `advertise` when set, else as the
 * first non-internal IPv4 address of this machine (127.0.0.1 when it has none); a
 * listener on a specific address is published as that address.
 */
export function advertisedHost(
  boundHost: string,
  advertise: string,
  interfaces: Interfaces = networkInterfaces(),
): string {
  if (!WILDCARD_HOSTS.has(boundHost)) return boundHost;
  if (advertise !== '') return advertise;
  return firstExternalIPv4(interfaces) ?? '127.0.0.1';
}

/**
 * `host:port` as the gateway logs a bound listener (`[v6]:port` for IPv6) → the
 * `host:port` to publish for it. Null in, null out (a listener that is off).
 */
export function advertisedAddress(
  bound: string | null,
  advertise: string,
  interfaces: Interfaces = networkInterfaces(),
): string | null {
  if (bound === null) return null;
  const at = bound.lastIndexOf(':');
  const host = bound.slice(0, at).replace(/^\[(.*)\]$/, '$1');
  const published = advertisedHost(host, advertise, interfaces);
  const shown = published.includes(':') && !published.startsWith('[') ? `[${published}]` : published;
  return `${shown}:${bound.slice(at + 1)}`;
}

/** True for addresses only this machine can reach; a backend elsewhere cannot dial them. */
export function isLoopbackHost(host: string): boolean {
  // Judged on the parsed address, as the API token rule is: `127.example.com` is a name, not 127/8.
  return isLoopback(host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host);
}

function firstExternalIPv4(interfaces: Interfaces): string | null {
  for (const list of Object.values(interfaces)) {
    for (const info of list ?? []) {
      if (info.family === 'IPv4' && !info.internal) return info.address;
    }
  }
  return null;
}
