// The address published for a bound listener (src/registry/advertise.ts).

import { describe, expect, it } from 'vitest';
import { advertisedAddress, advertisedHost, isLoopbackHost } from '../../src/registry/advertise.js';

const lan = {
  lo: [{ address: '127.0.0.1', family: 'IPv4', internal: true }],
  docker0: [{ address: '172.17.0.1', family: 'IPv4', internal: false }],
  eth0: [{ address: '10.0.0.5', family: 'IPv4', internal: false }],
} as never;
const loopbackOnly = { lo: [{ address: '127.0.0.1', family: 'IPv4', internal: true }] } as never;

describe('advertised addresses', () => {
  it('a wildcard listener: registry.advertise, else the first non-internal IPv4, else 127.0.0.1', () => {
    expect(advertisedHost('0.0.0.0', 'gw.example', lan)).toBe('gw.example');
    expect(advertisedHost('0.0.0.0', '', lan)).toBe('172.17.0.1');
    expect(advertisedHost('::', '', lan)).toBe('172.17.0.1');
    expect(advertisedHost('0.0.0.0', '', loopbackOnly)).toBe('127.0.0.1');
  });

  it('a listener on a specific address is published as bound', () => {
    expect(advertisedHost('127.0.0.1', 'gw.example', lan)).toBe('127.0.0.1');
    expect(advertisedHost('10.0.0.5', '', lan)).toBe('10.0.0.5');
  });

  it('works on host:port as the gateway logs it, IPv6 in brackets', () => {
    expect(advertisedAddress('0.0.0.0:7000', '', lan)).toBe('172.17.0.1:7000');
    expect(advertisedAddress('[::]:7000', '', lan)).toBe('172.17.0.1:7000');
    expect(advertisedAddress('[::1]:7002', '', lan)).toBe('[::1]:7002');
    expect(advertisedAddress('[::]:7000', 'fd00::5', lan)).toBe('[fd00::5]:7000');
    expect(advertisedAddress(null, '', lan)).toBeNull();
  });

  it('reads os.networkInterfaces() by default', () => {
    expect(advertisedHost('0.0.0.0', '')).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
  });

  it('judges loopback on the parsed address, never on a prefix', () => {
    for (const host of ['localhost', '127.0.0.1', '127.3.4.5', '::1', '[::1]'])
      expect(isLoopbackHost(host), host).toBe(true);
    for (const host of ['127.example.com', '127.0.0.1.nip.io', '10.0.0.5', '[fd00::5]'])
      expect(isLoopbackHost(host), host).toBe(false);
  });
});
