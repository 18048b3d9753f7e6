// Which per-instance pools to open and close when a discovered target's instances change.

import { describe, expect, it } from 'vitest';
import { diffInstances } from '../../src/registry/instance-diff.js';

const a = { id: 'a', baseUrl: 'http://10.0.0.1:8000' };
const b = { id: 'b', baseUrl: 'http://10.0.0.2:8000' };
const c = { id: 'c', baseUrl: 'http://10.0.0.3:8000' };

describe('diffInstances', () => {
  it('joins and leaves', () => {
    expect(diffInstances([], [a, b])).toEqual({ added: [a, b], removed: [] });
    expect(diffInstances([a, b], [b, c])).toEqual({ added: [c], removed: [a] });
    expect(diffInstances([a, b], [a, b])).toEqual({ added: [], removed: [] });
    expect(diffInstances([a], [])).toEqual({ added: [], removed: [a] });
  });

  it('an id at a new address is the old one removed and the new one added', () => {
    const moved = { id: 'a', baseUrl: 'http://10.0.0.9:8000' };
    expect(diffInstances([a, b], [moved, b])).toEqual({ added: [moved], removed: [a] });
  });
});
