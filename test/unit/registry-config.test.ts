// The registry keys of the config (SPEC §11): defaults, the url-or-discover rule, and
// errors that name the key, as config-cli.test.ts does for the rest of the config.

import { describe, expect, it } from 'vitest';
import { buildConfig, ConfigError, loadConfigFile } from '../../src/config/load.js';

const etcd = { endpoints: ['http://127.0.0.1:2379'] };

describe('registry config', () => {
  it('is off by default, with the SPEC §11 defaults', () => {
    expect(buildConfig({}).registry).toEqual({
      etcd: null,
      layout: 'kratos',
      prefix: '/microservices',
      ttlSeconds: 10,
      service: 'game-gateway',
      advertise: '',
    });
  });

  it('the prefix defaults per layout: "/microservices" for kratos, "" for go-zero; an explicit one stays', () => {
    expect(buildConfig({ registry: { etcd, layout: 'go-zero' } }).registry.prefix).toBe('');
    expect(buildConfig({ registry: { etcd, layout: 'go-zero', prefix: 'prod.' } }).registry.prefix).toBe(
      'prod.',
    );
    expect(buildConfig({ registry: { etcd, prefix: '/ms' } }).registry.prefix).toBe('/ms');
  });

  it('a discovered target: path and balance defaults, player-hash on request', () => {
    const c = buildConfig({
      registry: { etcd },
      targets: {
        map: { discover: 'map_service', path: '/game/{cmd}', balance: 'player-hash' },
        chat: { discover: 'chat' },
        login: { url: 'http://127.0.0.1:8000/login' },
      },
    });
    expect(c.targets.map).toMatchObject({
      discover: 'map_service',
      path: '/game/{cmd}',
      balance: 'player-hash',
    });
    expect(c.targets.chat).toMatchObject({
      discover: 'chat',
      path: '',
      balance: 'round-robin',
      timeoutMs: 3_000,
    });
    expect(c.targets.login!.url).toBe('http://127.0.0.1:8000/login');
    expect(c.targets.login!.discover).toBeUndefined();
  });

  it.each([
    [{ targets: { map: { discover: 'map' } } }, /^targets\.map\.discover: needs registry\.etcd\.endpoints/],
    [
      { registry: { etcd }, targets: { map: {} } },
      /^targets\.map\.url: expected exactly one of url or discover/,
    ],
    [
      { registry: { etcd }, targets: { map: { url: 'http://a:1', discover: 'map' } } },
      /^targets\.map\.discover: expected exactly one of url or discover/,
    ],
    [
      { registry: { etcd }, targets: { map: { url: 'http://a:1', path: '/x' } } },
      /^targets\.map\.path: only with discover/,
    ],
    [{ registry: { etcd }, targets: { map: { discover: 'map', path: 'x' } } }, /^targets\.map\.path: /],
    [
      { registry: { etcd }, targets: { map: { discover: 'map', balance: 'random' } } },
      /^targets\.map\.balance: /,
    ],
    [{ registry: { etcd: { endpoints: [] } } }, /^registry\.etcd\.endpoints: /],
    [{ registry: { etcd: { endpoints: ['127.0.0.1:2379'] } } }, /^registry\.etcd\.endpoints\.0: /],
    [
      { registry: { etcd: { endpoints: ['https://etcd:2379'] } } },
      /^registry\.etcd\.endpoints\.0: expected http:\/\/host:port \(no TLS to etcd yet\)/,
    ],
    [
      { registry: { etcd: { ...etcd, username: 'gw' } } },
      /^registry\.etcd\.password: required with username/,
    ],
    [{ registry: { layout: 'consul' } }, /^registry\.layout: /],
    [{ registry: { ttlSeconds: 1 } }, /^registry\.ttlSeconds: /],
    [{ registry: { service: 'a/b' } }, /^registry\.service: /],
    [{ registry: { advertise: '10.0.0.1/24' } }, /^registry\.advertise: /],
    [{ registry: { etcd: { ...etcd, tls: true } } }, /registry\.etcd\.tls: unknown key/],
  ])('%j is refused naming the key', (raw, message) => {
    expect(() => buildConfig(raw)).toThrow(ConfigError);
    expect(() => buildConfig(raw)).toThrow(message);
  });

  it('examples/gateway-discovery.yaml is a valid config', () => {
    const { config } = loadConfigFile('examples/gateway-discovery.yaml', {});
    expect(config.registry.etcd).not.toBeNull();
    expect(Object.values(config.targets).some((t) => t.discover !== undefined)).toBe(true);
  });
});
