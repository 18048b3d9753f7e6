import { z } from 'zod';
import { CmdSet, type CmdSpec } from '../../config/cmd-set.js';
import { cmdRanges, firstOverlap } from '../cmd-ranges.js';
import { definePlugin, type LocalReply, type PluginApi, type PluginSession } from '../plugin.js';

/**
 * map-ownership: each map is owned by one target (one map server instance); requests about
 * the player's map go to the target that owns it, and the player is a member of group
 * `map:<id>` while on it, so a backend can push to everyone on a map (docs/plugins.md).
 *
 * Where the current map lives: in the session (`session.state`), so it holds for the
 * session's life, across a logout and a login on the same connection, and is gone with
 * the connection. A player who reconnects starts on no map and must send ENTER_MAP again.
 */
export interface MapOwnershipOptions {
  /** Body: the map id in decimal ASCII. Forwarded to the map's owner; a 2xx answer moves the player. */
  enterMapCmd: number;
  /** Routed to the owner of the player's current map (ROUTE_NOT_FOUND before ENTER_MAP). */
  mapCmds: CmdSpec;
  /** Answered locally: body = current map id, or ROUTE_NOT_FOUND when on no map. Optional. */
  whereAmICmd?: number | null;
  owners: Array<{ maps: CmdSpec; target: string }>;
}

const u32 = z.number().int().min(0).max(0xffffffff);
const idSpec = z
  .union([u32, z.string(), z.array(z.union([u32, z.string()])).min(1)])
  .superRefine((spec, ctx) => {
    try {
      CmdSet.parse(spec);
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: (err as Error).message });
    }
  });
const optionsSchema = z.strictObject({
  enterMapCmd: u32,
  mapCmds: idSpec,
  whereAmICmd: u32.nullable().default(null),
  owners: z.array(z.strictObject({ maps: idSpec, target: z.string().min(1) })).min(1),
});

const STATE_KEY = 'map-ownership';
const GROUP_PREFIX = 'map:';

/** The map state of one session. `member` is the player this session put in `map:<map>`, if any. */
interface MapState {
  map: number | null;
  member: string | null;
}

export default definePlugin<MapOwnershipOptions>({
  name: 'map-ownership',
  setup(gw, raw) {
    const options = validate(gw, raw);
    const owners = options.owners.map((o) => ({ maps: CmdSet.parse(o.maps), target: o.target }));
    const mapCmds = CmdSet.parse(options.mapCmds);
    const { enterMapCmd, whereAmICmd } = options;
    const moves = gw.metrics.counter({
      name: 'gateway_map_ownership_moves_total',
      help: 'Players moved to a map: via "enter" (ENTER_MAP answered 2xx) or "header" (x-gateway-map).',
      labelNames: ['via'],
    });
    const groups = new GroupOps(gw);
    /** Which session's state holds each player's map membership on this node. */
    const members = new Map<string, MapState>();

    const ownerOf = (map: number): string | null => {
      for (const o of owners) if (o.maps.has(map)) return o.target;
      return null;
    };

    /** Moves the session to `to`: leaves the old map's group, joins the new one (when bound). */
    const move = (session: PluginSession, to: number): Promise<void> => {
      let st = session.state.get(STATE_KEY) as MapState | undefined;
      if (st === undefined) {
        st = { map: null, member: null };
        session.state.set(STATE_KEY, st);
      }
      const player = session.playerId;
      if (st.map === to && st.member === player) return Promise.resolve();
      const ops: Array<Promise<void>> = [];
      if (st.map !== null && st.member !== null) ops.push(release(st));
      st.map = to;
      if (player !== null) ops.push(enlist(st, player));
      return all(ops);
    };

    /** The player `st.member` leaves `map:<st.map>`. State changes now; the engine call is queued per player. */
    const release = (st: MapState): Promise<void> => {
      const player = st.member!;
      st.member = null;
      if (members.get(player) === st) members.delete(player);
      return groups.leave(GROUP_PREFIX + st.map, player);
    };

    /** `player` joins `map:<st.map>`, leaving the map another of its sessions held (replaced, logged out). */
    const enlist = (st: MapState, player: string): Promise<void> => {
      const ops: Array<Promise<void>> = [];
      const other = members.get(player);
      if (other !== undefined && other !== st && other.map !== null) ops.push(release(other));
      st.member = player;
      members.set(player, st);
      ops.push(groups.join(GROUP_PREFIX + st.map, player));
      return all(ops);
    };

    gw.addHook('onRequest', (ctx) => {
      const cmd = ctx.cmd;
      if (cmd === enterMapCmd) {
        const map = parseMapId(ctx.body.toString('latin1'));
        if (map === null) return notFound('the ENTER_MAP body must be a map id in decimal ASCII');
        const owner = ownerOf(map);
        if (owner === null) return notFound(`no target owns map ${map}`);
        ctx.target = owner;
        return;
      }
      if (cmd === whereAmICmd || !mapCmds.has(cmd)) return;
      const map = currentMap(ctx.session);
      if (map === null) return notFound('not on a map: send ENTER_MAP first');
      const owner = ownerOf(map);
      if (owner === null) return notFound(`no target owns map ${map}`);
      ctx.target = owner;
    });

    gw.addHook('onResponse', async (ctx) => {
      if (!ctx.ok) return;
      const header = ctx.header('x-gateway-map');
      if (header !== undefined) {
        const map = parseMapId(header);
        if (map !== null && ownerOf(map) !== null) {
          await move(ctx.request.session, map);
          moves.inc({ via: 'header' });
          return;
        }
        gw.log.warn(
          { requestId: ctx.request.requestId, target: ctx.target, header },
          'x-gateway-map names no owned map; ignored',
        );
      }
      if (ctx.request.cmd === enterMapCmd) {
        // Checked at onRequest: the body is a map id that has an owner.
        await move(ctx.request.session, parseMapId(ctx.request.body.toString('latin1'))!);
        moves.inc({ via: 'enter' });
      }
    });

    gw.addHook('onBind', ({ session, playerId }) => {
      const st = session.state.get(STATE_KEY) as MapState | undefined;
      if (st !== undefined && st.map !== null && st.member !== playerId) {
        // Entered a map before this login, or a logout and a login as someone else.
        return all([st.member !== null ? release(st) : Promise.resolve(), enlist(st, playerId)]);
      }
      const other = members.get(playerId);
      // The player's older session (replaced, or logged out but open) no longer holds it on a map.
      if (other !== undefined && other !== st) return release(other);
    });

    gw.addHook('onSessionClose', ({ session }) => {
      const st = session.state.get(STATE_KEY) as MapState | undefined;
      if (st !== undefined && st.member !== null && members.get(st.member) === st) return release(st);
    });

    if (whereAmICmd !== null) {
      gw.handle(whereAmICmd, (ctx) => {
        const map = currentMap(ctx.session);
        return map === null ? notFound('not on a map') : { body: String(map) };
      });
    }
  },
});

function validate(gw: PluginApi, raw: unknown): z.output<typeof optionsSchema> {
  const parsed = optionsSchema.safeParse(raw ?? {});
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const key = ['options', ...issue.path].join('.');
    if (issue.code === 'unrecognized_keys')
      throw new Error(`${issue.keys.map((k) => `${key}.${k}`).join(', ')}: unknown key`);
    throw new Error(`${key}: ${issue.message}`);
  }
  const options = parsed.data;
  const ranges = options.owners.map((o) => cmdRanges(o.maps));
  options.owners.forEach((owner, i) => {
    if (!gw.targets.has(owner.target)) {
      throw new Error(`options.owners.${i}.target: no target named "${owner.target}" under targets`);
    }
    for (let j = 0; j < i; j++) {
      const at = firstOverlap(ranges[i], ranges[j]);
      if (at !== null) throw new Error(`options.owners.${i}.maps: map ${at} is already owned by owners.${j}`);
    }
  });
  if (options.whereAmICmd === options.enterMapCmd) {
    throw new Error('options.whereAmICmd: must differ from enterMapCmd');
  }
  return options;
}

/**
 * Group joins and leaves through the engine, queued per player so they reach it in the
 * order they were decided even when the engine is asynchronous (Redis): a leave of
 * `map:42` decided before a join of `map:42` can never land after it.
 */
class GroupOps {
  private readonly queues = new Map<string, Promise<void>>();
  constructor(private readonly gw: PluginApi) {}

  join(group: string, player: string): Promise<void> {
    return this.enqueue(player, () => this.gw.join(group, player));
  }

  leave(group: string, player: string): Promise<void> {
    return this.enqueue(player, () => this.gw.leave(group, player));
  }

  private enqueue(player: string, op: () => Promise<unknown>): Promise<void> {
    const run = (this.queues.get(player) ?? Promise.resolve()).then(op).then(noop);
    const tail = run.then(noop, noop);
    this.queues.set(player, tail);
    tail.then(() => {
      if (this.queues.get(player) === tail) this.queues.delete(player);
    });
    return run;
  }
}

function currentMap(session: PluginSession): number | null {
  return (session.state.get(STATE_KEY) as MapState | undefined)?.map ?? null;
}

/** A map id in decimal ASCII (surrounding spaces allowed), 0 to 2^32-1; null otherwise. */
function parseMapId(text: string): number | null {
  const m = /^\s*(\d{1,10})\s*$/.exec(text);
  if (m === null) return null;
  const id = Number(m[1]);
  return id <= 0xffffffff ? id : null;
}

function notFound(message: string): LocalReply {
  return { status: 'ROUTE_NOT_FOUND', message };
}

function all(ops: Array<Promise<void>>): Promise<void> {
  return ops.length === 1 ? ops[0] : Promise.all(ops).then(noop);
}

function noop(): void {}
