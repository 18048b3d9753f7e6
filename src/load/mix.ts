/** One cmd of the request mix and its weight. */
export interface MixEntry {
  cmd: number;
  weight: number;
}

/** A weighted random choice of cmd, by cumulative weights. */
export function picker(mix: MixEntry[]): () => number {
  if (mix.length === 1) return () => mix[0].cmd;
  const cumulative: number[] = [];
  let sum = 0;
  for (const m of mix) {
    sum += m.weight;
    cumulative.push(sum);
  }
  return () => {
    const x = Math.random() * sum;
    for (let i = 0; i < cumulative.length; i++) if (x < cumulative[i]) return mix[i].cmd;
    return mix[mix.length - 1].cmd;
  };
}

/** Parses `10:80,11:20` (cmd:weight; a bare cmd has weight 1). */
export function parseMix(text: string): MixEntry[] {
  const mix = text.split(',').map((part) => {
    const [cmdText, weightText = '1'] = part.trim().split(':');
    const cmd = Number(cmdText);
    const weight = Number(weightText);
    if (!Number.isInteger(cmd) || cmd < 0 || cmd > 0xffff_ffff)
      throw new Error(`bad cmd in --mix: "${part}"`);
    if (!Number.isFinite(weight) || weight <= 0) throw new Error(`bad weight in --mix: "${part}"`);
    return { cmd, weight };
  });
  if (mix.length === 0) throw new Error('--mix is empty');
  return mix;
}
