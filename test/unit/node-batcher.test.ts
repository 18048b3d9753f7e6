import { describe, expect, it } from 'vitest';
import { NODE_HOLD_MS, NodeBatcher } from '../../src/players/redis/node-batcher.js';
import { sleep } from '../support/wait.js';

interface Item {
  name: string;
  entries: number;
  bytes: number;
}

/** A batcher whose messages are answered when the test says so. */
function batcher(maxEntries = 1_000, maxBytes = 1 << 20) {
  const sent: Array<{ node: string; names: string[]; answer: () => void }> = [];
  const b = new NodeBatcher<Item>(
    (node, batch) =>
      new Promise<void>((answer) => sent.push({ node, names: batch.map((i) => i.name), answer })),
    maxEntries,
    maxBytes,
  );
  const add = (node: string, name: string, entries = 1, bytes = 10) => b.add(node, { name, entries, bytes });
  return { sent, add };
}

const turn = () => new Promise((r) => setImmediate(r));

describe('NodeBatcher', () => {
  it('sends what one turn added as one message per node, at once when nothing is unanswered', async () => {
    const { sent, add } = batcher();
    add('b', '1');
    add('c', '2');
    add('b', '3');
    expect(sent).toEqual([]);
    await turn();
    expect(sent.map((m) => [m.node, m.names])).toEqual([
      ['b', ['1', '3']],
      ['c', ['2']],
    ]);
  });

  it('holds later turns for a node with an unanswered message and sends them together on its answer', async () => {
    const { sent, add } = batcher();
    add('b', '1');
    await turn();
    add('b', '2');
    await turn();
    add('b', '3');
    await turn();
    expect(sent.map((m) => m.names)).toEqual([['1']]);
    sent[0].answer();
    await sleep(0);
    await turn();
    expect(sent.map((m) => m.names)).toEqual([['1'], ['2', '3']]);
  });

  it('a node that does not answer holds the next items NODE_HOLD_MS at most', async () => {
    const { sent, add } = batcher();
    add('b', '1');
    await turn();
    const at = performance.now();
    add('b', '2');
    while (sent.length < 2) await sleep(1);
    expect(performance.now() - at).toBeGreaterThanOrEqual(NODE_HOLD_MS - 1);
    expect(sent.map((m) => m.names)).toEqual([['1'], ['2']]);
  });

  it('splits at the entry and byte bounds, and sends a lane at its bound without waiting for the window', async () => {
    const { sent, add } = batcher(10, 100);
    add('b', 'x');
    await turn();
    for (let i = 0; i < 4; i++) add('b', `e${i}`, 4);
    add('b', 'big', 1, 150);
    await turn();
    expect(sent.map((m) => m.names)).toEqual([['x'], ['e0', 'e1'], ['e2', 'e3'], ['big']]);
  });
});
