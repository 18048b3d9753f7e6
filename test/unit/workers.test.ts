import { describe, expect, it } from 'vitest';
import { buildConfig } from '../../src/config/load.js';
import { checkWorkers, workerLinkListen } from '../../src/process/workers.js';

describe('--workers and node links', () => {
  it('gives worker i the link port + i, or a free port of its own for port 0', () => {
    expect(workerLinkListen('0.0.0.0:7400', 0)).toBe('0.0.0.0:7400');
    expect(workerLinkListen('0.0.0.0:7400', 3)).toBe('0.0.0.0:7403');
    expect(workerLinkListen('[::1]:7400', 1)).toBe('[::1]:7401');
    expect(workerLinkListen('127.0.0.1:0', 5)).toBe('127.0.0.1:0');
  });

  it('refuses a worker count whose link ports would pass 65535, naming the key', () => {
    const config = buildConfig({ cluster: { engine: 'redis', link: { listen: '0.0.0.0:65534' } } });
    expect(checkWorkers('2', config)).toBe(2);
    expect(() => checkWorkers('3', config)).toThrow(/cluster\.link\.listen 0\.0\.0\.0:65534/);
  });
});
