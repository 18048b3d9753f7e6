// The §11 record layouts (src/registry/records.ts) and the gateway's own record
// (src/registry/gateway-record.ts), without etcd.

import { describe, expect, it } from 'vitest';
import { DEFAULT_PREFIX } from '../../src/config/schema.js';
import { gatewayRecord } from '../../src/registry/gateway-record.js';
import {
  decodeRecord,
  encodeRecord,
  recordKey,
  type ServiceRecord,
  servicePrefix,
} from '../../src/registry/records.js';
import { VERSION } from '../../src/version.js';

const record: ServiceRecord = {
  id: 'gw-1',
  name: 'game-gateway',
  version: '1.2.3',
  metadata: { node: 'gw-1' },
  endpoints: ['grpc://10.0.0.1:9000', 'http://10.0.0.1:7002', 'tcp://10.0.0.1:7000'],
};

describe('record keys', () => {
  it('kratos: <prefix>/<service>/<id>, go-zero: <prefix><service>/<id>', () => {
    expect(recordKey('kratos', DEFAULT_PREFIX.kratos, 'map', 'a1')).toBe('/microservices/map/a1');
    expect(recordKey('kratos', '/ms/', 'map', 'a1')).toBe('/ms/map/a1');
    expect(recordKey('go-zero', DEFAULT_PREFIX['go-zero'], 'map', '7587')).toBe('map/7587');
    expect(recordKey('go-zero', 'prod.', 'map', '7587')).toBe('prod.map/7587');
  });

  it('a service prefix ends with "/", so "map" never matches "map_v2"', () => {
    expect(servicePrefix('kratos', '/microservices', 'map')).toBe('/microservices/map/');
    expect(
      recordKey('kratos', '/microservices', 'map_v2', 'x').startsWith(
        servicePrefix('kratos', '/microservices', 'map'),
      ),
    ).toBe(false);
  });
});

describe('encodeRecord', () => {
  it('kratos: the JSON record; go-zero: host:port of the first http endpoint', () => {
    expect(JSON.parse(encodeRecord('kratos', record))).toEqual(record);
    expect(encodeRecord('go-zero', record)).toBe('10.0.0.1:7002');
    expect(encodeRecord('go-zero', { ...record, endpoints: ['http://h'] })).toBe('h:80');
  });
});

describe('decodeRecord', () => {
  const prefix = '/microservices/map/';

  it('kratos: the first http(s) endpoint, query dropped', () => {
    const value = JSON.stringify({
      ...record,
      endpoints: ['grpc://a:1', 'http://10.0.0.9:8000?isSecure=false'],
    });
    expect(decodeRecord('kratos', prefix, `${prefix}a1`, value)).toEqual({
      ok: true,
      instance: { id: 'a1', baseUrl: 'http://10.0.0.9:8000' },
    });
    const https = JSON.stringify({ endpoints: ['https://svc.internal:8443/api/'] });
    expect(decodeRecord('kratos', prefix, `${prefix}b`, https)).toMatchObject({
      instance: { baseUrl: 'https://svc.internal:8443/api' },
    });
  });

  it('go-zero: plain host:port', () => {
    expect(decodeRecord('go-zero', 'map/', 'map/7587', '10.0.0.9:8080')).toEqual({
      ok: true,
      instance: { id: '7587', baseUrl: 'http://10.0.0.9:8080' },
    });
    expect(decodeRecord('go-zero', 'map/', 'map/1', '[::1]:8080')).toMatchObject({
      instance: { baseUrl: 'http://[::1]:8080' },
    });
  });

  it.each([
    ['kratos', '', 'empty_value'],
    ['go-zero', '  ', 'empty_value'],
    ['kratos', '{not json', 'not_json'],
    ['kratos', '10.0.0.1:8080', 'not_json'],
    ['kratos', 'null', 'no_http_endpoint'],
    ['kratos', '{"endpoints": ["grpc://a:1"]}', 'no_http_endpoint'],
    ['kratos', '{"endpoints": "http://a:1"}', 'no_http_endpoint'],
    ['kratos', '{"endpoints": [1, "http://"]}', 'no_http_endpoint'],
    ['go-zero', '{"endpoints": ["http://a:1"]}', 'bad_address'],
    ['go-zero', 'a:99999', 'bad_address'],
    ['go-zero', 'no-port', 'bad_address'],
  ] as const)('%s %j is malformed: %s (never a throw)', (layout, value, reason) => {
    const decoded = decodeRecord(layout, 'p/', 'p/x', value);
    expect(decoded.ok).toBe(false);
    if (!decoded.ok) {
      expect(decoded.reason).toBe(reason);
      expect(decoded.detail).toBeTruthy();
    }
  });
});

describe('gatewayRecord', () => {
  const interfaces = {
    lo: [{ address: '127.0.0.1', family: 'IPv4', internal: true }],
    eth0: [
      { address: 'fe80::1', family: 'IPv6', internal: false },
      { address: '10.1.2.3', family: 'IPv4', internal: false },
    ],
  } as never;

  it('publishes dialable addresses, the API first; off listeners are "" in metadata', () => {
    const r = gatewayRecord({
      nodeId: 'gw-7',
      service: 'game-gateway',
      addresses: { api: '0.0.0.0:7002', tcp: '[::]:7000', ws: null, metrics: '127.0.0.1:9100' },
      advertise: '',
      interfaces,
    });
    expect(r).toEqual({
      id: 'gw-7',
      name: 'game-gateway',
      version: VERSION,
      metadata: {
        node: 'gw-7',
        api: '10.1.2.3:7002',
        tcp: '10.1.2.3:7000',
        ws: '',
        metrics: '127.0.0.1:9100',
      },
      endpoints: ['http://10.1.2.3:7002', 'tcp://10.1.2.3:7000'],
    });
    expect(encodeRecord('go-zero', r)).toBe('10.1.2.3:7002');
  });

  it('registry.advertise replaces wildcard hosts', () => {
    const r = gatewayRecord({
      nodeId: 'gw-7',
      service: 'gw',
      addresses: { api: '0.0.0.0:7002', tcp: '0.0.0.0:7000', ws: '10.9.9.9:7001', metrics: null },
      advertise: 'gw-7.game.svc',
      interfaces,
    });
    expect(r.endpoints).toEqual([
      'http://gw-7.game.svc:7002',
      'tcp://gw-7.game.svc:7000',
      'ws://10.9.9.9:7001',
    ]);
  });
});
