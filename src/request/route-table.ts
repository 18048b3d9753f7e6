import { CmdSet } from '../config/cmd-set.js';
import type { GatewayConfig } from '../config/schema.js';

/**
 * Maps a cmd to the name of the target that owns it. The first matching route wins, in
 * config order. Lookups are cached per cmd (bounded), so a range-heavy table costs one
 * Map lookup per request after warm-up.
 */
export class RouteTable {
  private readonly routes: Array<{ cmds: CmdSet; target: string }>;
  private readonly cache = new Map<number, string | null>();
  private static readonly MAX_CACHED = 65_536;

  constructor(routes: GatewayConfig['routes']) {
    this.routes = routes.map((r) => ({ cmds: CmdSet.parse(r.cmds), target: r.target }));
  }

  /** The target name for `cmd`, or null when no route covers it. */
  lookup(cmd: number): string | null {
    const hit = this.cache.get(cmd);
    if (hit !== undefined) return hit;
    let found: string | null = null;
    for (const route of this.routes) {
      if (route.cmds.has(cmd)) {
        found = route.target;
        break;
      }
    }
    if (this.cache.size < RouteTable.MAX_CACHED) this.cache.set(cmd, found);
    return found;
  }
}
