import type { ReplayMessage } from '../local-hub.js';

/**
 * Parses the elements of a player's queue as a bind or re-registration takes them out of
 * Redis (`<expiresAt>,<seq>,<cmd>|<body>`), oldest first by seq; a malformed element is skipped.
 */
export function decodeQueued(elements: readonly Buffer[]): ReplayMessage[] {
  const out: ReplayMessage[] = [];
  for (const m of elements) {
    const bar = m.indexOf(0x7c);
    if (bar < 0) continue;
    const [, seq, cmd] = m.toString('latin1', 0, bar).split(',');
    out.push({ cmd: Number(cmd), seq: Number(seq), body: m.subarray(bar + 1) });
  }
  return out.sort((x, y) => x.seq - y.seq);
}
