/**
 * A set of command numbers written as a number, a list, or a range string
 * ("1000-1999"); lists may mix numbers and ranges. Membership is O(1) for singles and
 * O(ranges) for ranges, which stay few in any real config.
 */
export class CmdSet {
  private readonly singles = new Set<number>();
  private readonly ranges: Array<readonly [number, number]> = [];

  static parse(spec: CmdSpec): CmdSet {
    const set = new CmdSet();
    for (const part of Array.isArray(spec) ? spec : [spec]) set.add(part);
    return set;
  }

  private add(part: number | string): void {
    if (typeof part === 'number') {
      this.singles.add(checkCmd(part, String(part)));
      return;
    }
    const m = /^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$/.exec(part);
    if (!m) throw new Error(`"${part}" is not a cmd, a list of cmds, or a range like "1000-1999"`);
    const lo = checkCmd(Number(m[1]), part);
    const hi = m[2] === undefined ? lo : checkCmd(Number(m[2]), part);
    if (hi < lo) throw new Error(`range "${part}" ends before it starts`);
    if (lo === hi) this.singles.add(lo);
    else this.ranges.push([lo, hi]);
  }

  has(cmd: number): boolean {
    if (this.singles.has(cmd)) return true;
    for (const [lo, hi] of this.ranges) if (cmd >= lo && cmd <= hi) return true;
    return false;
  }

  get empty(): boolean {
    return this.singles.size === 0 && this.ranges.length === 0;
  }
}

export type CmdSpec = number | string | Array<number | string>;

function checkCmd(n: number, text: string): number {
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new Error(`"${text}" is not a u32 cmd`);
  return n;
}
