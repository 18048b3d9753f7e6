import { CmdCache, firstMatch } from '../config/cmd-cache.js';
import { CmdSet } from '../config/cmd-set.js';
import type { GatewayConfig } from '../config/schema.js';

/** Where a cmd goes: the target of its route (null: none), and the route_target label it is counted under. */
export interface Route {
  readonly target: string | null;
  readonly label: string;
}

/** Cmds something inside the gateway answers itself (a plugin's local handler), labelled by its owner. */
export interface LocalCmds {
  readonly cmds: CmdSet;
  readonly owner: string;
}

/**
 * Maps a cmd to its Route. The first matching route wins, in config order; the label is
 * the local owner's name when the gateway answers the cmd itself, else the target's.
 */
export class RouteTable {
  private readonly routes: Array<{ cmds: CmdSet; target: string }>;
  private readonly shared = new Map<string, Route>();
  private readonly cache: CmdCache<Route>;

  constructor(
    routes: GatewayConfig['routes'],
    private readonly local: readonly LocalCmds[] = [],
  ) {
    this.routes = routes.map((r) => ({ cmds: CmdSet.parse(r.cmds), target: r.target }));
    this.cache = new CmdCache((cmd) => this.resolve(cmd));
  }

  /** The route of `cmd`. */
  lookup(cmd: number): Route {
    return this.cache.get(cmd);
  }

  private resolve(cmd: number): Route {
    const target = firstMatch(this.routes, cmd)?.target ?? null;
    const label = firstMatch(this.local, cmd)?.owner ?? target ?? '';
    // One object per (target, label) pair, however many cmds share it.
    const key = `${target ?? ''}\u0000${label}`;
    let route = this.shared.get(key);
    if (route === undefined) {
      route = { target, label };
      this.shared.set(key, route);
    }
    return route;
  }
}
