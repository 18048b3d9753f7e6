/**
 * Redis chaos under a stream of pushes (docs/cluster.md, "Failure modes"): two gateway
 * processes share a private redis-server while pushes flow through both nodes to players
 * online on either node and to known offline players, and Redis is
 *
 *   - paused (CLIENT PAUSE) for longer than cluster.redis.commandTimeoutMs,
 *   - restarted with an empty dataset,
 *   - made to drop one node's connections (CLIENT KILL).
 *
 * Each time: every push is answered, within a bound; once Redis is back every player
 * logs in afresh and the answers are checked against what the clients received, over
 * every connection they had: `delivered` and `cached` arrived (cached ones accepted while
 * Redis kept its data), nothing arrived that was answered `dropped` (under the pause this
 * found a push answered dropped on a command timeout that Redis still ran when the pause
 * ended, fixed in 9f90a89), and the dropped answers are the ones counted in
 * gateway_push_total{kind="direct",result="dropped"}.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FrameType } from '../../src/protocol/frame.js';
import { Cmd } from '../support/cmds.js';
import { GatewayProcess } from '../support/gateway-process.js';
import { startBackend, type TestBackend } from '../support/processes.js';
import { RawClient } from '../support/raw-client.js';
import { RedisServer } from '../support/redis-server.js';
import { sleep } from '../support/wait.js';

/**
 * cluster.redis.commandTimeoutMs of both nodes. Not smaller: a reply that arrives after
 * the timeout although its script ran in time (a starved event loop on a busy machine)
 * is still answered dropped while the push took effect — the one case the script deadline
 * cannot cover; at 400 ms it happened about once in ten runs here, outside any chaos.
 */
const TIMEOUT_MS = 800;
/**
 * The longest a push may take: a routed push is one script, an ack wait, a retry past a
 * stale binding (script and ack again) and a store (a script): five Redis-bounded steps,
 * and a second for two processes on a shared machine.
 */
const BOUND_MS = 5 * TIMEOUT_MS + 1_000;

let backend: TestBackend;
const servers: RedisServer[] = [];
const nodes: GatewayProcess[] = [];
const clients: RawClient[] = [];

beforeAll(async () => {
  backend = await startBackend();
});
afterAll(async () => {
  for (const c of clients) c.close();
  await Promise.all(nodes.map((n) => n.stop('SIGKILL')));
  await Promise.all(servers.map((s) => s.stop()));
  await backend?.stop();
});

/** waitFor() that takes a failing check (Redis down, say) as not yet. */
async function eventually(check: () => Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check().catch(() => false))) {
    if (Date.now() > end) throw new Error(`${what} not within ${timeoutMs} ms`);
    await sleep(50);
  }
}

/** Two gateway processes on a new redis-server; `link`: with node links (cluster.link). */
async function cluster(prefix: string, link = false): Promise<[RedisServer, GatewayProcess, GatewayProcess]> {
  const redis = await RedisServer.start();
  servers.push(redis);
  const extra = {
    cluster: {
      engine: 'redis',
      redis: { url: redis.url, keyPrefix: prefix, commandTimeoutMs: TIMEOUT_MS },
      link: { listen: link ? '127.0.0.1:0' : null },
    },
  };
  const [a, b] = await Promise.all(
    ['a', 'b'].map((id) =>
      GatewayProcess.start({
        nodeId: `${prefix}${id}`,
        redisUrl: redis.url,
        keyPrefix: prefix,
        backendUrl: backend.url,
        extra,
      }),
    ),
  );
  nodes.push(a, b);
  return [redis, a, b];
}

/** One player's connections over the test, each with every PUSH it received. */
class Player {
  readonly connections: RawClient[] = [];
  constructor(readonly name: string) {}

  get current(): RawClient | undefined {
    return this.connections.at(-1);
  }

  /** Logs in on `node` and waits until Redis shows this binding. */
  async login(node: GatewayProcess): Promise<void> {
    const c = await RawClient.connect(node.tcpPort);
    clients.push(c);
    this.connections.push(c);
    expect((await c.login(this.name)).status).toBe(0);
    await eventually(async () => {
      const info = await node.api('GET', `/v1/players/${this.name}`);
      return info.status === 200 && info.body.sessionId === c.hello.sessionId;
    }, `${this.name} bound`);
  }

  async logoutByClose(node: GatewayProcess): Promise<void> {
    this.current?.close();
    await eventually(
      async () => (await node.api('GET', `/v1/players/${this.name}`)).body.online === false,
      `${this.name} offline`,
    );
  }

  /** Bodies received as PUSH on every connection, with their seqs and arrival times. */
  received(): Array<[string, number, number]> {
    return this.connections.flatMap((c) =>
      c.frames
        .filter((f) => f.type === FrameType.PUSH)
        .map((f) => [f.body.toString(), f.seq, c.arrivedAt.get(f)!] as [string, number, number]),
    );
  }
}

interface Answer {
  player: string;
  body: string;
  result: string;
  ms: number;
  phase: 'before' | 'during' | 'after';
  /** For a ghost (answered dropped, yet received): when the client got it. */
  arrivedAt?: number;
}

/** Pushes one at a time per worker, through both nodes, until stopped. */
class Flow {
  readonly answers: Answer[] = [];
  phase: Answer['phase'] = 'before';
  private running = true;
  private readonly workers: Array<Promise<void>> = [];
  private n = 0;

  constructor(
    private readonly via: GatewayProcess[],
    private readonly players: Player[],
    workers = 3,
  ) {
    for (let w = 0; w < workers; w++) this.workers.push(this.work());
  }

  private async work(): Promise<void> {
    while (this.running) {
      const player = this.players[this.n % this.players.length];
      const node = this.via[Math.floor(this.n / this.players.length) % this.via.length];
      const body = `m${++this.n}`;
      const phase = this.phase;
      const t0 = performance.now();
      const results = await node.push([player.name], body);
      this.answers.push({
        player: player.name,
        body,
        result: results[player.name],
        ms: performance.now() - t0,
        phase,
      });
      await sleep(20);
    }
  }

  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.workers);
  }
}

/** Pushes `data` to `player` through `from` while `stalled` is stopped (SIGSTOP), then resumes it. */
async function pushWhileStopped(
  stalled: GatewayProcess,
  from: GatewayProcess,
  player: string,
  data: string,
): Promise<Record<string, string>> {
  stalled.child!.kill('SIGSTOP');
  try {
    return await from.push([player], data);
  } finally {
    stalled.child!.kill('SIGCONT');
  }
}

/** gateway_cluster_link_messages_total{direction="out"}, summed over the nodes. */
async function linkMessagesOut(nodesOf: GatewayProcess[]): Promise<number> {
  let sum = 0;
  for (const n of nodesOf) {
    const text = await (await fetch(`${n.apiUrl}/metrics`)).text();
    sum += Number(/gateway_cluster_link_messages_total\{direction="out"\} (\d+)/.exec(text)?.[1] ?? 0);
  }
  return sum;
}

async function droppedCount(nodesOf: GatewayProcess[]): Promise<number> {
  let sum = 0;
  for (const n of nodesOf) {
    const text = await (await fetch(`${n.apiUrl}/metrics`)).text();
    const m = /gateway_push_total\{kind="direct",result="dropped"\} (\d+)/.exec(text);
    sum += m ? Number(m[1]) : 0;
  }
  return sum;
}

/**
 * Every player logs in afresh (so what is queued for it is replayed), then the answers
 * are compared with what arrived. Returns the lists a test may allow to be non-empty.
 */
async function account(flow: Flow, players: Player[], a: GatewayProcess, b: GatewayProcess) {
  for (const p of players) {
    if (p.current && !p.current.closed) await p.logoutByClose(a);
    await p.login(b);
    // The replay is written before the answer to a later request.
    await p.current!.request(Cmd.ECHO, 'sentinel');
  }
  const byPlayer = new Map(players.map((p) => [p.name, p.received()]));
  const lost: Answer[] = [];
  const ghosts: Answer[] = [];
  const duplicates: string[] = [];
  for (const ans of flow.answers) {
    const got = byPlayer.get(ans.player)!.filter(([body]) => body === ans.body);
    if (ans.result === 'dropped' && got.length > 0) ghosts.push({ ...ans, arrivedAt: got[0][2] });
    if (ans.result !== 'dropped' && got.length === 0) lost.push(ans);
    // At least once (docs/cluster.md): a repeat should carry the same seq. Repeats under
    // another seq are the KNOWN BUG test's (an ack too late); listed, not asserted here.
    if (new Set(got.map(([, seq]) => seq)).size > 1) {
      const where = players
        .find((p) => p.name === ans.player)!
        .connections.map((c) =>
          c.frames
            .filter((f) => f.type === FrameType.PUSH)
            .map((f) => `${f.seq}:${f.body}`)
            .join(' '),
        );
      duplicates.push(
        `${ans.player} ${ans.body} answered ${ans.result} in ${Math.round(ans.ms)} ms (${ans.phase}): ` +
          `seqs ${got.map(([, s]) => s)}; connections: ${where.join(' | ')}`,
      );
    }
  }
  for (const p of players) {
    // On each connection the seq only grows.
    for (const c of p.connections) {
      const seqs = c.frames.filter((f) => f.type === FrameType.PUSH).map((f) => f.seq);
      const unique = [...new Set(seqs)];
      expect(unique, `${p.name}: seqs on one connection grow`).toEqual([...unique].sort((x, y) => x - y));
    }
  }
  return { lost, ghosts, duplicates };
}

function summary(flow: Flow) {
  const count = (phase: Answer['phase'], result: string) =>
    flow.answers.filter((x) => x.phase === phase && x.result === result).length;
  const out: Record<string, Record<string, number>> = {};
  for (const phase of ['before', 'during', 'after'] as const) {
    out[phase] = Object.fromEntries(['delivered', 'cached', 'dropped'].map((r) => [r, count(phase, r)]));
  }
  return out;
}

function debug(flow: Flow, ghosts: Answer[], duplicates: string[]): void {
  if (!process.env.CHAOS_DEBUG) return;
  const maxMs = Math.max(...flow.answers.map((x) => x.ms));
  console.log(JSON.stringify({ summary: summary(flow), ghosts, duplicates, maxMs }));
}

describe('Redis chaos while pushes flow', () => {
  // Over node links the pause holds the DIRECT messages at the holding node's barrier
  // (its PING), and those past their deadline when it ends are not applied.
  it.each([
    ['over Redis', false],
    ['over node links', true],
  ])(
    'CLIENT PAUSE longer than commandTimeoutMs (%s): every push answered within its bound, answers add up',
    async (_, link) => {
      const [redis, a, b] = await cluster(link ? 'pause-link:' : 'pause:', link);
      const onA = [new Player('pa1'), new Player('pa2')];
      const onB = [new Player('pb1'), new Player('pb2')];
      const away = [new Player('off1'), new Player('off2')];
      for (const p of onA) await p.login(a);
      for (const p of onB) await p.login(b);
      for (const p of away) {
        await p.login(a);
        await p.logoutByClose(a);
      }
      const players = [...onA, ...onB, ...away];
      const dropped0 = await droppedCount([a, b]);
      const flow = new Flow([a, b], players);
      await sleep(300);
      // The route caches' pushes went over the links before the pause.
      if (link) expect(await linkMessagesOut([a, b])).toBeGreaterThan(0);
      flow.phase = 'during';
      const pausedAt = performance.now();
      expect(await redis.command(`CLIENT PAUSE ${3 * TIMEOUT_MS} ALL`)).toMatch(/^\+OK/);
      await sleep(3 * TIMEOUT_MS + 200);
      flow.phase = 'after';
      await eventually(async () => (await a.ready()) === 200 && (await b.ready()) === 200, 'both ready');
      await sleep(300);
      await flow.stop();

      const slow = flow.answers.filter((x) => x.ms > BOUND_MS);
      expect(slow, `answers slower than ${BOUND_MS} ms`).toEqual([]);
      const during = summary(flow).during;
      // The pause was felt: some pushes could not be confirmed in time.
      expect(during.cached + during.dropped, JSON.stringify(summary(flow))).toBeGreaterThan(0);
      const dropped = flow.answers.filter((x) => x.result === 'dropped').length;
      expect((await droppedCount([a, b])) - dropped0, 'dropped answers are counted').toBe(dropped);

      const { lost, ghosts, duplicates } = await account(flow, players, a, b);
      debug(flow, ghosts, duplicates);
      expect(lost, 'answered delivered or cached, never received').toEqual([]);
      // A push answered dropped on a command timeout must not run later (a script past its
      // sender's deadline changes nothing): this failed before commit 9f90a89. Allowed: a push
      // written just before the pause whose acknowledgement the pause held (docs/cluster.md:
      // the accepting node could neither confirm nor queue it); it arrived before the pause.
      const ackHeld = (g: Answer) => g.ms >= TIMEOUT_MS - 5 && g.arrivedAt! < pausedAt + TIMEOUT_MS;
      expect(
        ghosts.filter((g) => !ackHeld(g)),
        'answered dropped, yet received',
      ).toEqual([]);
    },
    60_000,
  );

  it('Redis restarted empty mid-stream: pushes answered within bound, nodes re-register, nothing lost silently', async () => {
    const [redis, a, b] = await cluster('empty:');
    const onA = [new Player('ea1'), new Player('ea2')];
    const onB = [new Player('eb1'), new Player('eb2')];
    for (const p of onA) await p.login(a);
    for (const p of onB) await p.login(b);
    const players = [...onA, ...onB];
    const dropped0 = await droppedCount([a, b]);
    const flow = new Flow([a, b], players);
    await sleep(300);
    flow.phase = 'during';
    await redis.kill();
    await sleep(TIMEOUT_MS);
    await redis.restart();
    await eventually(async () => (await a.ready()) === 200 && (await b.ready()) === 200, 'both ready');
    flow.phase = 'after';
    await sleep(500);
    await flow.stop();

    expect(
      flow.answers.filter((x) => x.ms > BOUND_MS),
      `answers slower than ${BOUND_MS} ms`,
    ).toEqual([]);
    // Re-registered: after the restart, pushes through either node reach the online players.
    const after = flow.answers.filter((x) => x.phase === 'after');
    expect(after.length).toBeGreaterThan(0);
    expect(
      after.filter((x) => x.result !== 'delivered'),
      'after the restart every online player is reached',
    ).toEqual([]);
    const dropped = flow.answers.filter((x) => x.result === 'dropped').length;
    expect((await droppedCount([a, b])) - dropped0, 'dropped answers are counted').toBe(dropped);

    const { lost, ghosts, duplicates } = await account(flow, players, a, b);
    debug(flow, ghosts, duplicates);
    // Everyone was online: nothing was answered cached but lost with Redis' data.
    expect(lost, 'answered delivered or cached, never received').toEqual([]);
    // One ambiguity is left, and allowed here: a push routed to the other node just
    // before the kill is written there, but its ack dies with Redis; after commandTimeoutMs
    // the accepting node would queue it (`cached`, at least once), cannot (Redis is down)
    // and answers `dropped` — though the player got it. Such answers took the whole
    // timeout; any other dropped push that arrived is a failure.
    const ackLost = ghosts.filter((g) => g.ms >= TIMEOUT_MS - 5);
    expect(
      ghosts.filter((g) => !ackLost.includes(g)),
      'answered dropped, yet received',
    ).toEqual([]);
  }, 60_000);

  it("CLIENT KILL of one node's connections: it re-registers its players, pushes through the other node reach them", async () => {
    const [redis, a, b] = await cluster('kill:');
    const onA = [new Player('ka1'), new Player('ka2'), new Player('ka3')];
    const onB = [new Player('kb1')];
    for (const p of onA) await p.login(a);
    for (const p of onB) await p.login(b);
    const players = [...onA, ...onB];
    const dropped0 = await droppedCount([a, b]);
    const flow = new Flow([b, a], players);
    await sleep(300);
    flow.phase = 'during';
    // The ids of node a's connections to Redis (ioredis names them gateway:<node id>).
    const idsOfA = async () =>
      [...(await redis.command('CLIENT LIST')).matchAll(/id=(\d+) [^\n]*name=gateway:kill:a /g)].map(
        (m) => m[1],
      );
    const ids = await idsOfA();
    expect(ids.length, ids.join(',')).toBeGreaterThanOrEqual(2); // commands and subscriber
    for (const id of ids) expect(await redis.command(`CLIENT KILL ID ${id}`)).toMatch(/^:1/);
    // /readyz may still say 200 before a has even seen its sockets close: wait until it has
    // reconnected (new connections under its name, none of the killed ones), then for ready.
    await eventually(async () => {
      const now = await idsOfA();
      return now.length >= ids.length && now.every((id) => !ids.includes(id));
    }, 'a reconnected');
    await eventually(async () => (await a.ready()) === 200, 'a ready again');
    flow.phase = 'after';
    // Pushes sent before `after` may still be waiting out their bound; wait for a few sent after it.
    await eventually(
      async () => flow.answers.filter((x) => x.phase === 'after').length >= 6,
      'answers to pushes sent after the reconnect',
    );
    await flow.stop();

    // Registered again: b sees a's players online on a, and its pushes to them are delivered.
    for (const p of onA) {
      const info = await b.api('GET', `/v1/players/${p.name}`);
      expect(info.body).toMatchObject({
        online: true,
        node: 'kill:a',
        sessionId: p.current!.hello.sessionId,
      });
    }
    const after = flow.answers.filter((x) => x.phase === 'after');
    expect(after.length).toBeGreaterThan(0);
    expect(
      after.filter((x) => x.result !== 'delivered'),
      'after the reconnect every online player is reached',
    ).toEqual([]);
    expect(
      flow.answers.filter((x) => x.ms > BOUND_MS),
      `answers slower than ${BOUND_MS} ms`,
    ).toEqual([]);
    const dropped = flow.answers.filter((x) => x.result === 'dropped').length;
    expect((await droppedCount([a, b])) - dropped0, 'dropped answers are counted').toBe(dropped);

    const { lost, ghosts, duplicates } = await account(flow, players, a, b);
    debug(flow, ghosts, duplicates);
    expect(lost, 'answered delivered or cached, never received').toEqual([]);
    expect(ghosts, 'answered dropped, yet received').toEqual([]);
  }, 60_000);

  /**
   * docs/cluster.md: a push routed to a node that does not acknowledge within
   * commandTimeoutMs is answered `cached` and queued in Redis; at least once: if the node
   * was only slow and did write it, the player gets it again at its next login, under a new
   * seq (the accepting node cannot know the seq the stalled holder used). A node stalled
   * for longer than the timeout (SIGSTOP, well under the 5 s heartbeat) shows it: the
   * sequence still never goes back, and nothing is lost.
   */
  it('a push acknowledged too late is answered cached, delivered by the stalled node, and replayed once more under a higher seq', async () => {
    const [, a, b] = await cluster('stall:');
    const p = new Player('sp1');
    await p.login(a);
    expect(await pushWhileStopped(a, b, p.name, 'late')).toEqual({ [p.name]: 'cached' });
    // The stalled node wrote it when it resumed: delivered at least once.
    const live = await p.current!.nextOfType(FrameType.PUSH, 5_000);
    expect(live.body.toString()).toBe('late');
    await p.logoutByClose(b);
    await p.login(b);
    const replay = await p.current!.nextOfType(FrameType.PUSH, 5_000);
    expect(replay.body.toString()).toBe('late');
    expect(replay.seq, 'the repeat comes under a new, higher seq').toBeGreaterThan(live.seq);
  }, 30_000);

  it('over a node link, a push to a stalled node is answered cached, the link dropped, and not applied after its deadline', async () => {
    const [, a, b] = await cluster('stall-link:', true);
    const p = new Player('sl1');
    await p.login(a);
    // Through the script once, then from b's route cache over the link.
    for (let i = 0; (await linkMessagesOut([b])) === 0; i++) {
      expect(i, 'a push over the link').toBeLessThan(50);
      expect(await b.push([p.name], `warm${i}`)).toEqual({ [p.name]: 'delivered' });
    }
    expect(await pushWhileStopped(a, b, p.name, 'late')).toEqual({ [p.name]: 'cached' });
    await eventually(async () => b.logs.some((l) => l.msg === 'cluster link down'), 'b dropped the link');
    // The stalled node read the message when it resumed, past its deadline: not written.
    await sleep(1_000);
    const late = p.current!.frames.filter((f) => f.type === FrameType.PUSH && f.body.toString() === 'late');
    expect(late).toEqual([]);
    await p.logoutByClose(b);
    await p.login(b);
    const replay = await p.current!.nextOfType(FrameType.PUSH, 5_000);
    expect(replay.body.toString()).toBe('late');
  }, 30_000);
});
