/**
 * The Redis URL forms of docs/cluster.md ("The Redis URL") against a real redis-server: an
 * ACL user with a password and a database number are used as written, and the start log
 * names the target with the password masked.
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Running, startGateway } from '../support/gateway-fixture.js';
import { startBackend, type TestBackend } from '../support/processes.js';
import { RawClient } from '../support/raw-client.js';
import { RedisServer } from '../support/redis-server.js';

const PASSWORD = 's3cret-p@ss';

let redis: RedisServer;
let admin: Redis;
let backend: TestBackend;
let gw: Running | undefined;
beforeAll(async () => {
  [redis, backend] = await Promise.all([RedisServer.start(), startBackend()]);
  admin = new Redis(redis.url);
  // A user of its own (Redis ≥ 6 ACL), so the URL's user and password are what lets it in.
  await admin.call('ACL', 'SETUSER', 'gw', 'on', `>${PASSWORD}`, '~*', '&*', '+@all');
  await admin.call('ACL', 'SETUSER', 'default', 'off');
});
afterAll(async () => {
  await gw?.gateway.stop();
  admin.disconnect();
  await Promise.all([redis.stop(), backend.stop()]);
});

describe('cluster.redis.url', () => {
  it('uses the ACL user, the password and the db number, and logs the target without the password', async () => {
    const url = `redis://gw:${encodeURIComponent(PASSWORD)}@127.0.0.1:${redis.port}/3`;
    gw = await startGateway(
      backend.url,
      { cluster: { engine: 'redis', redis: { url, keyPrefix: 'urltest:' } } },
      'info',
    );
    const line = gw.logs.lines.find((l) => l.msg === 'cluster engine connecting to Redis');
    expect(line?.redis).toBe(`redis://gw:***@127.0.0.1:${redis.port}/3`);
    expect(JSON.stringify(gw.logs.lines)).not.toContain(encodeURIComponent(PASSWORD));
    expect(JSON.stringify(gw.logs.lines)).not.toContain(PASSWORD);

    const c = await RawClient.connect(gw.tcpPort);
    expect((await c.login('url-alice')).status).toBe(0);
    // The player's key is in database 3, and nowhere in database 0.
    const user = new Redis({ port: redis.port, host: '127.0.0.1', username: 'gw', password: PASSWORD });
    try {
      expect(await user.keys('urltest:*')).toEqual([]);
      await user.select(3);
      expect(await user.keys('urltest:*')).toContain('urltest:p:url-alice');
    } finally {
      user.disconnect();
      c.close();
    }
  });
});
