/**
 * The delivery model (docs/push-api.md, "Delivery guarantees"): fast-check command
 * sequences over real sockets — logins (a second one on another session replaces the
 * first), logouts, disconnects, kicks, pushes to online, offline and unknown players
 * (with and without caching), broadcasts, group pushes, group joins and offline queues
 * expiring by a short players.offline.ttlMs — checked after every command against a
 * small model of what each player must receive: every API answer is the model's, every
 * `delivered` push arrives once with the seq the model gave it, every `cached` one is
 * replayed right after the next login's RESPONSE (oldest first) unless it overflowed or
 * expired, nothing arrives twice or on a session no longer bound to the player.
 *
 * Run on the local engine (one gateway) and on the Redis engine (two gateways sharing a
 * private redis-server: logins, API calls and replays land on either node).
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GatewayConfigInput } from '../../src/config/schema.js';
import { type Frame, FrameType } from '../../src/protocol/frame.js';
import { Status } from '../../src/protocol/status.js';
import { Cmd } from '../support/cmds.js';
import { type Running, startGateway } from '../support/gateway-fixture.js';
import { startBackend, type TestBackend } from '../support/processes.js';
import { api, b64, sleep, waitFor } from '../support/push-api.js';
import { RawClient } from '../support/raw-client.js';
import { RedisServer } from '../support/redis-server.js';

/** Short enough to expire within a run, long enough that a login a moment later replays. */
const TTL_MS = 400;
const MAX_QUEUED = 3;
const PLAYERS = 2;
const GHOST = PLAYERS; // index of a player nobody ever logs in as
const PUSH_CMD = 7;

// ---- the model ---------------------------------------------------------------------------

/**
 * Where the Redis engine may jump a player's seq (docs/cluster.md: a login that replaces
 * a session starts above the old holder's reserved block): the first seq seen after it
 * fixes `base`, and every later one of that stretch is exact again.
 */
interface Jump {
  /** The seq must be above every seq given out before. */
  floor: number;
  base: number | null;
}
/** A seq the model knows exactly, or the k-th after a jump. */
type Seq = number | { jump: Jump; k: number };

/** A frame as the model predicts it. */
type Expected =
  | { t: 'response'; seq: number; status: number }
  | { t: 'push'; seq: Seq; body: string }
  | { t: 'kick'; status: number };

interface Queued {
  seq: Seq;
  body: string;
  /** When the caching push was sent and answered: the gateway cached it in between. */
  sentAt: number;
  answeredAt: number;
}

interface PlayerModel {
  known: boolean;
  /** The client (index) bound to this player, or null while offline. */
  online: number | null;
  lastSeq: number;
  /** The stretch of seqs after the last jump, or null while the seqs are exact. */
  jump: Jump | null;
  /** The next k in that stretch. */
  k: number;
  queue: Queued[];
  inGroup: boolean;
}

interface ClientModel {
  open: boolean;
  /** Frames the client must receive next, in order. */
  pending: Expected[];
}

interface Model {
  engine: 'local' | 'redis';
  players: PlayerModel[];
  clients: ClientModel[];
}

interface Real {
  nodes: Running[];
  /** Player names are unique per run, so one gateway serves every run. */
  names: string[];
  /** The group of this run (membership outlives a run's sessions). */
  group: string;
  clients: RawClient[];
  nextReq: Map<RawClient, number>;
  pushes: number;
}

type Command = fc.AsyncCommand<Model, Real>;

function simplify(f: Frame): { t: string; seq?: number; body?: string; status?: number; type?: number } {
  if (f.type === FrameType.PUSH) return { t: 'push', seq: f.seq, body: f.body.toString() };
  if (f.type === FrameType.RESPONSE) return { t: 'response', seq: f.seq, status: f.status };
  if (f.type === FrameType.KICK) return { t: 'kick', status: f.status };
  return { t: 'other', type: f.type };
}

function requestOn(r: Real, c: RawClient, cmd: number, body: string): number {
  const seq = r.nextReq.get(c) ?? 1;
  r.nextReq.set(c, seq + 1);
  c.send(FrameType.REQUEST, cmd, seq, body);
  return seq;
}

/** Echo round trip on an open client: whatever the gateway wrote it before is in by then. */
async function sentinel(r: Real, c: RawClient): Promise<void> {
  const seq = requestOn(r, c, Cmd.ECHO, 'sentinel');
  await waitFor(() => c.frames.some((f) => f.type === FrameType.RESPONSE && f.seq === seq), 3_000, 'echo');
  const i = c.frames.findIndex((f) => f.type === FrameType.RESPONSE && f.seq === seq);
  c.frames.splice(i, 1);
}

/**
 * Every client has received exactly what the model says so far, nothing more: waits for
 * the pending frames, compares, consumes. A frame nobody expected fails here or at the
 * sentinel check at the end of the run.
 */
async function settle(m: Model, r: Real): Promise<void> {
  for (let i = 0; i < m.clients.length; i++) {
    const want = m.clients[i].pending;
    const c = r.clients[i];
    if (want.length > 0)
      await waitFor(() => c.frames.length >= want.length, 3_000, `${want.length} frames on client ${i}`);
    const got = c.frames.map(simplify);
    expect(got, `frames of client ${i}`).toEqual(concrete(want, got, `client ${i}`));
    c.frames.length = 0;
    m.clients[i].pending = [];
  }
}

/** The player's next seq, for a push accepted for it (delivered or cached). */
function nextSeq(p: PlayerModel): Seq {
  if (p.jump === null) return ++p.lastSeq;
  return { jump: p.jump, k: p.k++ };
}

/** From here the player's seqs may continue anywhere above those given out so far. */
function allowJump(p: PlayerModel): void {
  const floor = p.jump === null ? p.lastSeq : Math.max(p.jump.floor, (p.jump.base ?? p.jump.floor) + p.k);
  p.jump = { floor, base: null };
  p.k = 0;
}

/** The seq `actual` against the model's: exact, or fixing the base of a jump. */
function matchSeq(expected: Seq, actual: number, what: string): number {
  if (typeof expected === 'number') return expected;
  const { jump, k } = expected;
  if (jump.base === null) {
    expect(actual - k, `${what}: a jumped seq is above every earlier one`).toBeGreaterThan(jump.floor);
    jump.base = actual - k;
  }
  return jump.base + k;
}

/** Expected frames with every seq made concrete by the frames received. */
function concrete(want: Expected[], got: Array<{ t: string; seq?: number }>, what: string): Expected[] {
  return want.map((e, i) =>
    e.t === 'push' ? { ...e, seq: matchSeq(e.seq, got[i]?.t === 'push' ? got[i].seq! : -1, what) } : e,
  );
}

async function waitOffline(r: Real, name: string): Promise<void> {
  await waitFor(
    async () => {
      const a = await api(r.nodes[0], 'GET', `/v1/players/${encodeURIComponent(name)}`);
      return a.status === 200 && a.body.online === false;
    },
    5_000,
    `${name} offline`,
  );
}

// ---- commands ----------------------------------------------------------------------------

class Login implements Command {
  constructor(
    readonly p: number,
    readonly node: number,
  ) {}
  check = () => true;
  async run(m: Model, r: Real): Promise<void> {
    const player = m.players[this.p];
    const name = r.names[this.p];
    const c = await RawClient.connect(r.nodes[this.node % r.nodes.length].tcpPort);
    const index = r.clients.push(c) - 1;
    m.clients.push({ open: true, pending: [] });
    const sentAt = Date.now();
    const seq = requestOn(r, c, Cmd.LOGIN, name);
    await waitFor(() => c.frames.some((f) => f.type === FrameType.RESPONSE && f.seq === seq), 5_000, 'login');
    const answeredAt = Date.now();
    // Everything replayed at the login is written before an answer to a later request.
    await sentinel(r, c);
    const got = c.frames.map(simplify);
    c.frames.length = 0;
    expect(got[0], 'the login RESPONSE comes first').toEqual({ t: 'response', seq, status: 0 });
    const replayed = got.slice(1);
    // A cached message is replayed unless it expired: surely live if the whole login
    // happened within the TTL of its caching, surely gone if it started after; either
    // way in between.
    const must = player.queue.filter((q) => answeredAt - q.sentAt < TTL_MS - 20);
    const may = player.queue.filter((q) => !(sentAt - q.answeredAt > TTL_MS + 20));
    let last = -1;
    for (const f of replayed) {
      expect(f.t, 'only PUSHes follow the login RESPONSE').toBe('push');
      const push = f as { t: 'push'; seq: number; body: string };
      const at = may.findIndex((q) => q.body === push.body);
      expect(at, `${push.body} replayed: cached and not expired`).toBeGreaterThanOrEqual(0);
      expect(at, 'replayed oldest first, each once').toBeGreaterThan(last);
      last = at;
      expect(push.seq, `seq of ${push.body}`).toBe(matchSeq(may[at].seq, push.seq, push.body));
    }
    const bodies = replayed.map((f) => (f as { body: string }).body);
    coverage.replayed += replayed.length;
    coverage.expired += player.queue.length - replayed.length;
    for (const q of must) expect(bodies, `cached ${q.body} replayed`).toContain(q.body);
    player.queue = [];
    // A second login of the same player replaces the first session.
    if (player.online !== null) {
      const old = player.online;
      if (m.engine === 'redis') allowJump(player);
      coverage.replaced++;
      m.clients[old].pending.push({ t: 'kick', status: Status.REPLACED });
      m.clients[old].open = false;
      await settle(m, r);
      await r.clients[old].waitClosed();
    }
    player.online = index;
    player.known = true;
    await settle(m, r);
  }
  toString = () => `login(p${this.p}@${this.node})`;
}

class Logout implements Command {
  constructor(readonly p: number) {}
  check = (m: Readonly<Model>) => m.players[this.p].online !== null;
  async run(m: Model, r: Real): Promise<void> {
    const player = m.players[this.p];
    const index = player.online!;
    const c = r.clients[index];
    const seq = requestOn(r, c, Cmd.LOGOUT, '');
    m.clients[index].pending.push({ t: 'response', seq, status: 0 });
    await settle(m, r);
    player.online = null;
    await waitOffline(r, r.names[this.p]);
  }
  toString = () => `logout(p${this.p})`;
}

class Disconnect implements Command {
  constructor(readonly p: number) {}
  check = (m: Readonly<Model>) => m.players[this.p].online !== null;
  async run(m: Model, r: Real): Promise<void> {
    const player = m.players[this.p];
    const index = player.online!;
    r.clients[index].close();
    m.clients[index].open = false;
    player.online = null;
    await waitOffline(r, r.names[this.p]);
  }
  toString = () => `disconnect(p${this.p})`;
}

class Kick implements Command {
  constructor(
    readonly p: number,
    readonly node: number,
  ) {}
  check = () => true;
  async run(m: Model, r: Real): Promise<void> {
    const player = m.players[this.p];
    const a = await api(r.nodes[this.node % r.nodes.length], 'POST', '/v1/kick', {
      players: [r.names[this.p]],
    });
    expect(a.body).toEqual({ kicked: player.online === null ? 0 : 1 });
    if (player.online === null) return;
    const index = player.online;
    m.clients[index].pending.push({ t: 'kick', status: Status.KICKED });
    m.clients[index].open = false;
    await settle(m, r);
    await r.clients[index].waitClosed();
    player.online = null;
    await waitOffline(r, r.names[this.p]);
  }
  toString = () => `kick(p${this.p})`;
}

class Push implements Command {
  constructor(
    readonly targets: number[],
    readonly offline: boolean,
    readonly node: number,
  ) {}
  check = () => true;
  async run(m: Model, r: Real): Promise<void> {
    const body = `d${++r.pushes}`;
    const names = this.targets.map((t) => (t === GHOST ? `${r.names[0]}-ghost` : r.names[t]));
    const sentAt = Date.now();
    const a = await api(r.nodes[this.node % r.nodes.length], 'POST', '/v1/push', {
      players: names,
      cmd: PUSH_CMD,
      data: b64(body),
      offline: this.offline,
    });
    const answeredAt = Date.now();
    expect(a.status).toBe(200);
    const results: Record<string, string> = {};
    for (const t of this.targets) {
      const player = m.players[t];
      if (t === GHOST || !player.known) results[names[this.targets.indexOf(t)]] = 'dropped';
      else if (player.online !== null) {
        results[r.names[t]] = 'delivered';
        coverage.delivered++;
        m.clients[player.online].pending.push({ t: 'push', seq: nextSeq(player), body });
      } else if (!this.offline) results[r.names[t]] = 'dropped';
      else {
        results[r.names[t]] = 'cached';
        coverage.cached++;
        player.queue.push({ seq: nextSeq(player), body, sentAt, answeredAt });
        // The oldest are dropped when a new message does not fit.
        while (player.queue.length > MAX_QUEUED) player.queue.shift();
      }
    }
    expect(a.body.results).toEqual(results);
    await settle(m, r);
  }
  toString = () => `push([${this.targets.join(',')}], offline=${this.offline})`;
}

class Broadcast implements Command {
  constructor(
    readonly group: boolean,
    readonly node: number,
  ) {}
  check = () => true;
  async run(m: Model, r: Real): Promise<void> {
    const body = `${this.group ? 'g' : 'b'}${++r.pushes}`;
    const path = this.group ? `/v1/groups/${r.group}/push` : '/v1/broadcast';
    const a = await api(r.nodes[this.node % r.nodes.length], 'POST', path, {
      cmd: PUSH_CMD,
      data: b64(body),
    });
    let delivered = 0;
    for (const player of m.players) {
      if (player.online === null || (this.group && !player.inGroup)) continue;
      delivered++;
      m.clients[player.online].pending.push({ t: 'push', seq: nextSeq(player), body });
    }
    // Every earlier run's sessions are gone: a broadcast reaches this run's players only.
    expect(a.body).toEqual({ delivered });
    await settle(m, r);
  }
  toString = () => (this.group ? 'groupPush' : 'broadcast');
}

class Join implements Command {
  constructor(
    readonly p: number,
    readonly node: number,
  ) {}
  check = () => true;
  async run(m: Model, r: Real): Promise<void> {
    const player = m.players[this.p];
    const a = await api(r.nodes[this.node % r.nodes.length], 'PUT', `/v1/groups/${r.group}/members`, {
      players: [r.names[this.p]],
    });
    // Only known players can join; unknown ids are skipped.
    if (player.known) player.inGroup = true;
    expect(a.body).toEqual({ members: m.players.filter((p) => p.inGroup).length });
  }
  toString = () => `join(p${this.p})`;
}

class Expire implements Command {
  check = (m: Readonly<Model>) => m.players.some((p) => p.queue.length > 0);
  async run(m: Model, r: Real): Promise<void> {
    await sleep(TTL_MS + 100);
    // Every message queued so far is past its TTL now: no login may replay it.
    void m;
    void r;
  }
  toString = () => 'expire';
}

const player = fc.integer({ min: 0, max: PLAYERS - 1 });
const node = fc.integer({ min: 0, max: 1 });
const targets = fc.uniqueArray(fc.integer({ min: 0, max: GHOST }), { minLength: 1, maxLength: 3 });
const known = fc.uniqueArray(player, { minLength: 1, maxLength: PLAYERS });
/** Weighted so that players often go offline, get pushes cached and come back. */
const command = fc.oneof(
  { weight: 5, arbitrary: fc.tuple(player, node).map(([p, n]) => new Login(p, n) as Command) },
  { weight: 2, arbitrary: player.map((p) => new Logout(p)) },
  { weight: 2, arbitrary: player.map((p) => new Disconnect(p)) },
  { weight: 2, arbitrary: fc.tuple(player, node).map(([p, n]) => new Kick(p, n)) },
  { weight: 3, arbitrary: fc.tuple(targets, fc.boolean(), node).map(([ts, off, n]) => new Push(ts, off, n)) },
  { weight: 5, arbitrary: fc.tuple(known, node).map(([ts, n]) => new Push(ts, true, n)) },
  { weight: 1, arbitrary: node.map((n) => new Broadcast(false, n)) },
  { weight: 1, arbitrary: node.map((n) => new Broadcast(true, n)) },
  { weight: 1, arbitrary: fc.tuple(player, node).map(([p, n]) => new Join(p, n)) },
  { weight: 1, arbitrary: fc.constant(new Expire()) },
);
const commands = fc.commands([command], { maxCommands: 30, size: 'large' });

let runs = 0;
/** What the runs exercised, printed with DM_DEBUG=1 (a model that never replays proves little). */
const coverage = { delivered: 0, cached: 0, replayed: 0, expired: 0, replaced: 0 };

async function runModel(engine: Model['engine'], nodes: Running[], numRuns: number): Promise<void> {
  await fc.assert(
    fc.asyncProperty(commands, async (cmds) => {
      const run = `r${++runs}`;
      const real: Real = {
        nodes,
        names: Array.from({ length: PLAYERS }, (_, i) => `${run}-p${i}`),
        group: `${run}-guild`,
        clients: [],
        nextReq: new Map(),
        pushes: 0,
      };
      const model: Model = {
        engine,
        players: Array.from({ length: PLAYERS }, () => ({
          known: false,
          online: null,
          lastSeq: 0,
          jump: null,
          k: 0,
          queue: [],
          inGroup: false,
        })),
        clients: [],
      };
      try {
        await fc.asyncModelRun(() => ({ model, real }), cmds);
        // Every player with cached messages comes back: each must be replayed or expired.
        for (let p = 0; p < PLAYERS; p++) {
          if (model.players[p].online === null && model.players[p].queue.length > 0) {
            await new Login(p, p).run(model, real);
          }
        }
        if (process.env.DM_DEBUG) console.log(`${run}: ${String(cmds)} ${JSON.stringify(coverage)}`);
        // Nothing late: every open client's next answer comes with no frame before it.
        for (let i = 0; i < real.clients.length; i++) {
          if (!model.clients[i].open) continue;
          await sentinel(real, real.clients[i]);
          expect(real.clients[i].frames.map(simplify), `late frames on client ${i}`).toEqual([]);
        }
      } finally {
        for (const c of real.clients) c.close();
        // Their offline handling must be done before the next run counts broadcasts.
        for (let p = 0; p < PLAYERS; p++) {
          if (model.players[p].online !== null) await waitOffline(real, real.names[p]);
        }
      }
    }),
    { numRuns, endOnFailure: true },
  );
}

function config(extra: Partial<GatewayConfigInput> = {}): Partial<GatewayConfigInput> {
  return {
    players: { retainMs: 120_000, offline: { ttlMs: TTL_MS, maxMessages: MAX_QUEUED } },
    auth: { required: true, anonymousCmds: [Cmd.LOGIN, Cmd.ECHO] },
    ...extra,
  };
}

let backend: TestBackend;
beforeAll(async () => {
  backend = await startBackend();
});
afterAll(() => backend.stop());

describe('delivery model', () => {
  it('local engine', { timeout: 60_000 }, async () => {
    const gw = await startGateway(backend.url, config(), 'silent');
    try {
      await runModel('local', [gw], 30);
    } finally {
      await gw.gateway.stop();
    }
  });

  it('Redis engine, two nodes', { timeout: 60_000 }, async () => {
    const redis = await RedisServer.start();
    const cluster = (id: string) =>
      config({
        node: { id },
        cluster: { engine: 'redis', redis: { url: redis.url, keyPrefix: 'dm:', commandTimeoutMs: 2_000 } },
      });
    const a = await startGateway(backend.url, cluster('dm-a'), 'silent');
    const b = await startGateway(backend.url, cluster('dm-b'), 'silent');
    try {
      await runModel('redis', [a, b], 20);
    } finally {
      await a.gateway.stop();
      await b.gateway.stop();
      await redis.stop();
    }
  });
});
