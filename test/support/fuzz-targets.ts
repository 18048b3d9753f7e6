/**
 * The fuzz targets shared by `npm run fuzz` (scripts/fuzz.ts, a million streams and more)
 * and the CI replay of saved failures (test/unit/fuzz-regressions.test.ts). Each target
 * takes a JSON-able case, runs it through the real code and throws when the outcome
 * differs from an independent reference; a crash (any exception) is a failure too.
 *
 *   decoder  a TCP byte stream, cut into chunks, through FrameDecoder: the frames and
 *            the error must be those of a plain reference parse of the whole stream,
 *            whatever the chunking.
 *   session  the same stream through a real Session on an in-memory connection: the
 *            requests handed on, the PONGs and the KICK must be the reference's.
 *   api      a request (method, path, content type, body in chunks) through the push
 *            API's real dispatch (routes, readBody, JSON.parse, the zod schemas, the
 *            octet-stream query) with a recording engine: the status must be the
 *            reference's, nothing may reach the engine from a refused request, and what
 *            reaches it must be exactly what the request said.
 */
import { PassThrough } from 'node:stream';
import fc from 'fast-check';
import { ApiServer } from '../../src/api/api-server.js';
import { buildConfig } from '../../src/config/load.js';
import { parseAddress } from '../../src/config/schema.js';
import { createLogger } from '../../src/logger.js';
import { GatewayMetrics } from '../../src/metrics/metrics.js';
import type { PushResult } from '../../src/players/engine.js';
import { groupNameProblem, playerIdProblem } from '../../src/players/names.js';
import type { PlayerService } from '../../src/players/player-service.js';
import type { Frame } from '../../src/protocol/frame.js';
import { FrameDecoder } from '../../src/protocol/frame-decoder.js';
import { Session, type SessionHost } from '../../src/session/session.js';
import { MemoryConnection } from './engine-harness.js';

// ---- byte streams -------------------------------------------------------------------------

export interface StreamCase {
  maxFrameBytes: number;
  /** The stream as the reads that carry it, each in hex. */
  chunks: string[];
}

interface RefFrame {
  type: number;
  status: number;
  cmd: number;
  seq: number;
  body: string; // hex
}

/** The SPEC §3 stream parsed in one piece, the plainest way: frames until the first error. */
export function referenceParse(
  bytes: Buffer,
  maxFrameBytes: number,
): { frames: RefFrame[]; error: number | null } {
  const frames: RefFrame[] = [];
  let off = 0;
  while (bytes.length - off >= 4) {
    const length = bytes.readUInt32BE(off);
    if (length < 12) return { frames, error: 100 };
    if (length > maxFrameBytes) return { frames, error: 101 };
    if (bytes.length - off < 4 + length) break;
    if (bytes[off + 5] !== 0) return { frames, error: 306 };
    frames.push({
      type: bytes[off + 4],
      status: bytes.readUInt16BE(off + 6),
      cmd: bytes.readUInt32BE(off + 8),
      seq: bytes.readUInt32BE(off + 12),
      body: bytes.subarray(off + 16, off + 4 + length).toString('hex'),
    });
    off += 4 + length;
  }
  return { frames, error: null };
}

function fail(what: string, expected: unknown, actual: unknown): never {
  throw new Error(`${what}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`);
}

function same(what: string, expected: unknown, actual: unknown): void {
  const e = JSON.stringify(expected);
  const a = JSON.stringify(actual);
  if (e !== a) fail(what, expected, actual);
}

export function checkDecoder(c: StreamCase): void {
  const chunks = c.chunks.map((h) => Buffer.from(h, 'hex'));
  const whole = Buffer.concat(chunks);
  const ref = referenceParse(whole, c.maxFrameBytes);
  const got: RefFrame[] = [];
  const decoder = new FrameDecoder(c.maxFrameBytes, (type, status, cmd, seq, body) =>
    got.push({ type, status, cmd, seq, body: Buffer.from(body).toString('hex') }),
  );
  let error: number | null = null;
  let fed = 0;
  for (const chunk of chunks) {
    const e = decoder.push(chunk);
    fed += chunk.length;
    if (error !== null && e !== error) fail('a failed decoder must keep its error', error, e);
    error ??= e;
    if (error === null && decoder.buffered > fed)
      fail('buffered bytes bounded by bytes fed', fed, decoder.buffered);
  }
  same('frames', ref.frames, got);
  same('error', ref.error, error);
  same('decoder.error', ref.error, decoder.error);
  if (error === null) {
    const consumed = ref.frames.reduce((n, f) => n + 16 + f.body.length / 2, 0);
    same('bytes held for the next frame', whole.length - consumed, decoder.buffered);
    same('idle', whole.length === consumed, decoder.idle);
  }
}

/** The metrics every fuzzed session counts into (one registry: building one per case is slow). */
let sessionMetrics: GatewayMetrics | null = null;
let sessionIds = 0;

/** A host of one fuzzed session: records the requests it hands on and its closes. */
function recordingHost(maxFrameBytes: number) {
  sessionMetrics ??= new GatewayMetrics({ defaultMetrics: false });
  const host = {
    limits: { maxFrameBytes, maxWriteBufferBytes: 64 * 1024 * 1024 },
    metrics: sessionMetrics,
    requests: [] as RefFrame[],
    closed: 0,
    onRequest(_s: Session, type: number, cmd: number, seq: number, body: Buffer): void {
      host.requests.push({ type, status: 0, cmd, seq, body: Buffer.from(body).toString('hex') });
    },
    onClosed(): void {
      host.closed++;
    },
  } satisfies SessionHost & Record<string, unknown>;
  return host;
}

const turn = () => new Promise<void>((r) => setImmediate(r));

/** What a session must do with a client stream: requests, PONGs, then at most one KICK. */
function referenceSession(whole: Buffer, maxFrameBytes: number) {
  const { frames, error } = referenceParse(whole, maxFrameBytes);
  const requests: RefFrame[] = [];
  const out: Array<{ type: number; status: number; cmd: number; seq: number; body?: string }> = [];
  let kick: number | null = null;
  for (const f of frames) {
    // The status field of a client frame means nothing and is not handed on.
    if (f.type === 2 || f.type === 4) requests.push({ ...f, status: 0 });
    else if (f.type === 6 && f.body.length / 2 <= 64)
      out.push({ type: 7, status: 0, cmd: f.cmd, seq: f.seq, body: f.body });
    else {
      kick = f.type === 6 ? 100 : 306;
      break;
    }
  }
  kick ??= error;
  if (kick !== null) out.push({ type: 8, status: kick, cmd: 0, seq: 0 });
  return { requests, out, kick };
}

export async function checkSession(c: StreamCase): Promise<void> {
  const host = recordingHost(c.maxFrameBytes);
  const conn = new MemoryConnection();
  const session = new Session(`fz${(sessionIds++).toString(36)}`, conn, host);
  conn.events = { data: session.onData, close: session.onClose };
  try {
    checkSessionOutput(c, host, conn, session);
  } finally {
    // Whatever the outcome, the connection is closed and its close event run here, so
    // nothing of this case reaches the next one.
    conn.close();
    await turn();
  }
  same('onClosed calls', 1, host.closed);
}

function checkSessionOutput(
  c: StreamCase,
  host: ReturnType<typeof recordingHost>,
  conn: MemoryConnection,
  session: Session,
): void {
  const chunks = c.chunks.map((h) => Buffer.from(h, 'hex'));
  for (const chunk of chunks) conn.events!.data(chunk);
  const ref = referenceSession(Buffer.concat(chunks), c.maxFrameBytes);
  same('requests handed on', ref.requests, host.requests);
  const out = conn.frames.map((f: Frame) =>
    f.type === 8
      ? { type: f.type, status: f.status, cmd: f.cmd, seq: f.seq }
      : { type: f.type, status: f.status, cmd: f.cmd, seq: f.seq, body: f.body.toString('hex') },
  );
  same('frames written', ref.out, out);
  if (ref.kick !== null) {
    const kick = conn.frames.at(-1)!;
    const body = JSON.parse(kick.body.toString()) as { error?: unknown; message?: unknown };
    if (typeof body.error !== 'string' || typeof body.message !== 'string')
      fail('KICK body', '{error, message}', body);
    if (!session.closing) fail('kicked session closing', true, session.closing);
    same('connection ended after the KICK', true, conn.closed);
  } else {
    same('connection open', false, conn.closed);
  }
}

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

function frameBytes(f: {
  type: number;
  flags: number;
  status: number;
  cmd: number;
  seq: number;
  body: Uint8Array;
  lengthDelta: number;
}): Uint8Array {
  const out = Buffer.alloc(16 + f.body.length);
  out.writeUInt32BE((12 + f.body.length + f.lengthDelta) >>> 0, 0);
  out[4] = f.type;
  out[5] = f.flags;
  out.writeUInt16BE(f.status, 6);
  out.writeUInt32BE(f.cmd, 8);
  out.writeUInt32BE(f.seq, 12);
  out.set(f.body, 16);
  return out;
}

const mostly = <T>(usual: T, other: fc.Arbitrary<T>) =>
  fc.oneof({ arbitrary: fc.constant(usual), weight: 8 }, { arbitrary: other, weight: 1 });

/** Streams of mostly well-formed frames, with wrong lengths, types, flags and raw bytes mixed in. */
export function streamCase(): fc.Arbitrary<StreamCase> {
  const frame = fc
    .record({
      type: fc.oneof(fc.constantFrom(2, 4, 6, 6), fc.integer({ min: 0, max: 255 })),
      flags: mostly(0, fc.integer({ min: 1, max: 255 })),
      status: mostly(0, fc.integer({ min: 0, max: 0xffff })),
      cmd: fc.oneof(fc.integer({ min: 0, max: 20 }), fc.constant(0xffffffff), fc.nat()),
      seq: fc.oneof(fc.integer({ min: 0, max: 20 }), fc.constant(0xffffffff), fc.nat()),
      body: fc.oneof(
        { arbitrary: fc.uint8Array({ maxLength: 24 }), weight: 6 },
        { arbitrary: fc.uint8Array({ minLength: 60, maxLength: 130 }), weight: 1 },
      ),
      lengthDelta: mostly(
        0,
        fc.oneof(fc.integer({ min: -16, max: 16 }), fc.constantFrom(-12, 0x7fffffff, 0xfffffff0, 65_536)),
      ),
    })
    .map(frameBytes);
  const segment = fc.oneof(
    { arbitrary: frame, weight: 5 },
    { arbitrary: fc.uint8Array({ maxLength: 20 }), weight: 1 },
  );
  return fc
    .record({
      maxFrameBytes: fc.constantFrom(12, 13, 16, 28, 40, 76, 100, 65_536),
      segments: fc.array(segment, { maxLength: 8 }),
      cuts: fc.array(fc.integer({ min: 1, max: 48 }), { minLength: 1, maxLength: 8 }),
    })
    .map(({ maxFrameBytes, segments, cuts }) => {
      const whole = Buffer.concat(segments);
      const chunks: string[] = [];
      let at = 0;
      let i = 0;
      while (at < whole.length) {
        const size = cuts[i++ % cuts.length];
        chunks.push(hex(whole.subarray(at, at + size)));
        at += size;
      }
      return { maxFrameBytes, chunks };
    });
}

// ---- API requests ------------------------------------------------------------------------

export interface ApiCase {
  method: string;
  /** The request target as sent (path and query). */
  target: string;
  contentType: string | null;
  /** The body as the reads that carry it, each in hex. */
  chunks: string[];
  /** Send content-length (else the body is "chunked"). */
  contentLength: boolean;
}

type EngineCall = [string, ...unknown[]];

/** An engine that records calls and checks their arguments are what the API promises. */
class RecordingEngine implements PlayerService {
  calls: EngineCall[] = [];
  private players(players: readonly string[]): void {
    if (!Array.isArray(players) || players.length < 1 || players.length > 100_000)
      fail('engine players', '1–100 000 ids', players);
    for (const p of players) if (playerIdProblem(p) !== undefined) fail('engine player id', 'a valid id', p);
  }
  private cmd(cmd: number): void {
    if (!Number.isInteger(cmd) || cmd < 0 || cmd > 0xffffffff) fail('engine cmd', 'a u32', cmd);
  }
  private group(g: string): void {
    if (groupNameProblem(g) !== undefined) fail('engine group', 'a valid group name', g);
  }
  async push(players: readonly string[], cmd: number, body: Buffer, offline: boolean): Promise<PushResult[]> {
    this.players(players);
    this.cmd(cmd);
    if (!Buffer.isBuffer(body) || typeof offline !== 'boolean')
      fail('engine push', 'Buffer, boolean', [body, offline]);
    this.calls.push(['push', [...players], cmd, body.toString('hex'), offline]);
    return players.map(() => 'dropped' as PushResult);
  }
  async broadcast(cmd: number, body: Buffer): Promise<number> {
    this.cmd(cmd);
    this.calls.push(['broadcast', cmd, body.toString('hex')]);
    return 0;
  }
  async groupPush(group: string, cmd: number, body: Buffer): Promise<number> {
    this.group(group);
    this.cmd(cmd);
    this.calls.push(['groupPush', group, cmd, body.toString('hex')]);
    return 0;
  }
  async join(group: string, players: readonly string[]): Promise<number> {
    this.group(group);
    this.players(players);
    this.calls.push(['join', group, [...players]]);
    return 0;
  }
  async leave(group: string, players: readonly string[]): Promise<number> {
    this.group(group);
    this.players(players);
    this.calls.push(['leave', group, [...players]]);
    return 0;
  }
  async members(group: string): Promise<string[]> {
    this.group(group);
    return [];
  }
  async kick(players: readonly string[], reason: string): Promise<number> {
    this.players(players);
    if (typeof reason !== 'string' || reason.length > 1024)
      fail('engine kick reason', '≤ 1024 chars', reason);
    this.calls.push(['kick', [...players], reason]);
    return 0;
  }
  async player(id: string): Promise<null> {
    // A lookup changes nothing, so it is checked but not recorded as a call.
    if (playerIdProblem(id) !== undefined) fail('engine player lookup', 'a valid id', id);
    return null;
  }
}

/** The API under fuzz: a small body limit, so 413 is reached too. */
export const FUZZ_MAX_BODY_BYTES = 2_048;
let apiUnderTest: { server: ApiServer; engine: RecordingEngine } | null = null;

function api(): { server: ApiServer; engine: RecordingEngine } {
  if (apiUnderTest !== null) return apiUnderTest;
  const engine = new RecordingEngine();
  const config = buildConfig({
    listen: { tcp: '127.0.0.1:0', api: '127.0.0.1:0' },
    api: { maxBodyBytes: FUZZ_MAX_BODY_BYTES },
  });
  const server = new ApiServer(parseAddress(config.listen.api)!, {
    config,
    engine,
    metrics: new GatewayMetrics({ defaultMetrics: false }),
    log: createLogger('silent'),
    ready: () => true,
    stats: () => ({}),
  });
  apiUnderTest = { server, engine };
  return apiUnderTest;
}

interface Answer {
  status: number;
  body: string;
}

/** A request as Node's http server hands it to the API: a readable body with a head. */
function fakeRequest(c: ApiCase, body: Buffer[]) {
  const req = new PassThrough();
  const size = body.reduce((n, b) => n + b.length, 0);
  const headers: Record<string, string> = {};
  if (c.contentType !== null) headers['content-type'] = c.contentType;
  if (c.contentLength) headers['content-length'] = String(size);
  else headers['transfer-encoding'] = 'chunked';
  Object.assign(req, { method: c.method, url: c.target, headers, socket: {}, complete: false });
  req.on('end', () => Object.assign(req, { complete: true }));
  for (const b of body) req.write(b);
  req.end();
  return req;
}

function fakeResponse(done: (a: Answer) => void) {
  const headers: Record<string, string> = {};
  const res = {
    headersSent: false,
    statusCode: 200,
    setHeader: (k: string, v: string) => {
      headers[k] = v;
    },
    writeHead(status: number) {
      res.statusCode = status;
      res.headersSent = true;
      return res;
    },
    end(text?: string) {
      done({ status: res.statusCode, body: text ?? '' });
    },
    destroy() {
      done({ status: -1, body: 'destroyed' });
    },
  };
  return res;
}

const BASE64_CORE = /^[A-Za-z0-9+/]*$/;
function base64Valid(s: unknown): boolean {
  if (typeof s !== 'string') return false;
  const core = s.replace(/={1,2}$/, '');
  if (!BASE64_CORE.test(core)) return false;
  const pad = s.length - core.length;
  const r = core.length % 4;
  if (r === 1) return false;
  return pad === 0 || (r === 2 && pad === 2) || (r === 3 && pad === 1);
}
const isU32 = (n: unknown) => typeof n === 'number' && Number.isInteger(n) && n >= 0 && n <= 0xffffffff;
const idsValid = (p: unknown) =>
  Array.isArray(p) &&
  p.length >= 1 &&
  p.length <= 100_000 &&
  p.every((x) => typeof x === 'string' && playerIdProblem(x) === undefined);

/** Which JSON bodies each route accepts, written apart from the zod schemas. */
const BODY_RULES: Record<string, { keys: string[]; valid: (b: Record<string, unknown>) => boolean }> = {
  push: {
    keys: ['players', 'cmd', 'data', 'offline'],
    valid: (b) =>
      idsValid(b.players) &&
      isU32(b.cmd) &&
      (b.data === undefined || base64Valid(b.data)) &&
      (b.offline === undefined || typeof b.offline === 'boolean'),
  },
  message: {
    keys: ['cmd', 'data'],
    valid: (b) => isU32(b.cmd) && (b.data === undefined || base64Valid(b.data)),
  },
  members: { keys: ['players'], valid: (b) => idsValid(b.players) },
  kick: {
    keys: ['players', 'reason'],
    valid: (b) =>
      idsValid(b.players) &&
      (b.reason === undefined || (typeof b.reason === 'string' && b.reason.length <= 1024)),
  },
};

/** The answer and engine call the docs (push-api.md) give for a request. */
function referenceApi(c: ApiCase, body: Buffer): { status: number; call: EngineCall | null } | null {
  let url: URL;
  try {
    url = new URL(c.target, 'http://gateway');
  } catch {
    return { status: 400, call: null };
  }
  if (!c.target.startsWith('/')) return null; // absolute forms etc.: invariants only
  const path = url.pathname;
  const routes: Array<[RegExp, string[], string]> = [
    [/^\/v1\/push$/, ['POST'], 'push'],
    [/^\/v1\/broadcast$/, ['POST'], 'broadcast'],
    [/^\/v1\/groups\/([^/]+)\/push$/, ['POST'], 'groupPush'],
    [/^\/v1\/groups\/([^/]+)\/members$/, ['GET', 'PUT', 'DELETE'], 'members'],
    [/^\/v1\/kick$/, ['POST'], 'kick'],
  ];
  const route = routes.find(([re]) => re.test(path));
  if (route === undefined) return null; // other routes: invariants only
  if (!route[1].includes(c.method)) return { status: 405, call: null };
  let group: string | null = null;
  const m = route[0].exec(path)!;
  if (m[1] !== undefined) {
    try {
      group = decodeURIComponent(m[1]);
    } catch {
      return { status: 400, call: null };
    }
  }
  const tooBig = body.length > FUZZ_MAX_BODY_BYTES;
  const bad = { status: 400, call: null };
  if (route[2] === 'push' && (c.contentType ?? '').startsWith('application/octet-stream')) {
    const players = (url.searchParams.get('players') ?? '').split(',').filter((p) => p.length > 0);
    if (!idsValid(players)) return bad;
    const cmdText = url.searchParams.get('cmd');
    if (cmdText === null || !/^\d+$/.test(cmdText) || Number(cmdText) > 0xffffffff) return bad;
    const off = url.searchParams.get('offline');
    if (off !== null && off !== 'true' && off !== 'false') return bad;
    if (tooBig) return { status: 413, call: null };
    return { status: 200, call: ['push', players, Number(cmdText), body.toString('hex'), off !== 'false'] };
  }
  if (group !== null && groupNameProblem(group) !== undefined) return bad;
  // A member list is read, not a body: nothing reaches the engine's writes.
  if (c.method === 'GET') return { status: 200, call: null };
  if (tooBig) return { status: 413, call: null };
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    return bad;
  }
  const kind =
    route[2] === 'push'
      ? 'push'
      : route[2] === 'kick'
        ? 'kick'
        : route[2] === 'members'
          ? 'members'
          : 'message';
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return bad;
  const b = parsed as Record<string, unknown>;
  const rule = BODY_RULES[kind];
  if (Object.keys(b).some((k) => !rule.keys.includes(k)) || !rule.valid(b)) return bad;
  const data = Buffer.from((b.data as string | undefined) ?? '', 'base64').toString('hex');
  switch (route[2]) {
    case 'push':
      return { status: 200, call: ['push', b.players, b.cmd, data, b.offline ?? true] };
    case 'broadcast':
      return { status: 200, call: ['broadcast', b.cmd, data] };
    case 'groupPush':
      return { status: 200, call: ['groupPush', group, b.cmd, data] };
    case 'members':
      return { status: 200, call: [c.method === 'PUT' ? 'join' : 'leave', group, b.players] };
    default:
      return { status: 200, call: ['kick', b.players, b.reason ?? 'kicked by the API'] };
  }
}

const ANSWERS = new Set([200, 400, 404, 405, 413]);

export async function checkApi(c: ApiCase): Promise<void> {
  const { server, engine } = api();
  engine.calls = [];
  const body = c.chunks.map((h) => Buffer.from(h, 'hex'));
  const whole = Buffer.concat(body);
  const answer = await new Promise<Answer>((resolve, reject) => {
    const res = fakeResponse(resolve);
    const dispatch = (server as unknown as { dispatch(req: unknown, res: unknown): Promise<void> }).dispatch;
    dispatch.call(server, fakeRequest(c, body), res).catch(reject);
  });
  if (!ANSWERS.has(answer.status)) fail(`status of ${c.method} ${c.target}`, [...ANSWERS], answer);
  const parsed = JSON.parse(answer.body) as Record<string, unknown>;
  if (answer.status !== 200) {
    if (typeof parsed.error !== 'string' || typeof parsed.message !== 'string')
      fail('error body', '{error, message}', parsed);
    same('engine calls after a refusal', [], engine.calls);
  }
  const ref = referenceApi(c, whole);
  if (ref === null) return;
  same(`status of ${c.method} ${c.target} (answer ${answer.body})`, ref.status, answer.status);
  same('engine calls', ref.call === null ? [] : [ref.call], engine.calls);
}

// ---- API request arbitraries -------------------------------------------------------------

/** Percent-encodes what can be; a lone surrogate cannot, and is sent as it is. */
function encode(s: string): string {
  try {
    return encodeURIComponent(s);
  } catch {
    return s;
  }
}

/** Names the API accepts, names it refuses, and names at the edges of the rule. */
const name = fc.oneof(
  { arbitrary: fc.constantFrom('alice', 'bob', 'p1', 'red team', 'ünï', '🎮x'), weight: 6 },
  { arbitrary: fc.string({ maxLength: 6 }), weight: 2 },
  { arbitrary: fc.string({ unit: 'binary', maxLength: 6 }), weight: 2 },
  {
    arbitrary: fc.constantFrom(
      '',
      ' a',
      'a ',
      'a,b',
      '\u0000',
      '\u007f',
      '\u0085',
      '\ud800',
      'x\udfff',
      '\u00a0a',
      'x'.repeat(257),
      '🎮'.repeat(256),
      '🎮'.repeat(257),
    ),
    weight: 2,
  },
);
const base64 = fc.oneof(
  { arbitrary: fc.uint8Array({ maxLength: 12 }).map((b) => Buffer.from(b).toString('base64')), weight: 5 },
  {
    arbitrary: fc
      .uint8Array({ maxLength: 12 })
      .map((b) => Buffer.from(b).toString('base64').replace(/=+$/, '')),
    weight: 2,
  },
  {
    arbitrary: fc.string({
      unit: fc.constantFrom('A', 'b', '+', '/', '=', '-', '_', ' ', '9'),
      maxLength: 9,
    }),
    weight: 3,
  },
);
const cmdValue = fc.oneof(
  { arbitrary: fc.integer({ min: 0, max: 10 }), weight: 5 },
  {
    arbitrary: fc.constantFrom<unknown>(
      0xffffffff,
      0x100000000,
      -1,
      -0,
      1.5,
      1e21,
      '5',
      null,
      true,
      [],
      {},
      Number.MAX_SAFE_INTEGER,
    ),
    weight: 3,
  },
);
const anyJson = fc.jsonValue({ maxDepth: 2 });
const field = <T>(arb: fc.Arbitrary<T>) => fc.option(arb, { freq: 4, nil: undefined });
const jsonObject = fc
  .record({
    players: field(
      fc.oneof({ arbitrary: fc.array(name, { maxLength: 4 }), weight: 5 }, { arbitrary: anyJson, weight: 1 }),
    ),
    cmd: field(cmdValue),
    data: field(fc.oneof({ arbitrary: base64, weight: 5 }, { arbitrary: anyJson, weight: 1 })),
    offline: field(fc.oneof(fc.boolean(), anyJson)),
    reason: field(fc.oneof(fc.string({ maxLength: 8 }), fc.constant('r'.repeat(1025)), anyJson)),
    extra: fc.option(fc.constantFrom('ttl', '__proto__', 'constructor', 'toString', ''), {
      freq: 6,
      nil: undefined,
    }),
  })
  .map(({ extra, ...fields }) => {
    const o: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(fields)) if (v !== undefined) o[k] = v;
    let text = JSON.stringify(o);
    if (extra !== undefined)
      text = text.replace(/^\{/, `{${JSON.stringify(extra)}:1${text === '{}' ? '' : ','}`);
    return text;
  });
const jsonText = fc.oneof(
  { arbitrary: jsonObject, weight: 8 },
  { arbitrary: anyJson.map((v) => JSON.stringify(v) ?? ''), weight: 1 },
  { arbitrary: fc.string({ maxLength: 16 }), weight: 1 },
);
const bodyBytes = fc.oneof(
  { arbitrary: jsonText.map((t) => Buffer.from(t)), weight: 8 },
  {
    arbitrary: fc.tuple(jsonText, fc.nat(), fc.integer({ min: 0, max: 255 })).map(([t, at, byte]) => {
      const b = Buffer.from(t);
      if (b.length > 0) b[at % b.length] = byte;
      return b;
    }),
    weight: 2,
  },
  { arbitrary: fc.uint8Array({ maxLength: 32 }).map((b) => Buffer.from(b)), weight: 1 },
  {
    arbitrary: fc
      .integer({ min: FUZZ_MAX_BODY_BYTES - 2, max: FUZZ_MAX_BODY_BYTES + 40 })
      .map((n) => Buffer.alloc(n, 0x61)),
    weight: 1,
  },
);
const segment = fc.oneof(
  { arbitrary: name.map(encode), weight: 6 },
  { arbitrary: fc.constantFrom('%', '%zz', '%E0%A4%A', '%2C', 'a%2Cb', '%20a', '..', '.', ''), weight: 2 },
);
const query = fc
  .record({
    players: field(
      fc.oneof(
        fc.array(name, { maxLength: 3 }).map((ps) => ps.map(encode).join(',')),
        fc.constantFrom(',', ',,a', '%2C', '%'),
      ),
    ),
    cmd: field(
      fc.oneof(
        fc.integer({ min: 0, max: 9 }).map(String),
        fc.constantFrom('4294967295', '4294967296', '-1', '1.0', '1e3', '', ' 1', '０'),
      ),
    ),
    offline: field(fc.constantFrom('true', 'false', 'TRUE', '1', '')),
  })
  .map((q) =>
    Object.entries(q)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => `${k}=${v}`)
      .join('&'),
  );
const target = fc.oneof(
  { arbitrary: query.map((q) => `/v1/push?${q}`), weight: 4 },
  { arbitrary: fc.constant('/v1/push'), weight: 3 },
  { arbitrary: fc.constant('/v1/broadcast'), weight: 2 },
  { arbitrary: segment.map((g) => `/v1/groups/${g}/push`), weight: 2 },
  { arbitrary: segment.map((g) => `/v1/groups/${g}/members`), weight: 2 },
  { arbitrary: fc.constant('/v1/kick'), weight: 2 },
  { arbitrary: segment.map((p) => `/v1/players/${p}`), weight: 1 },
  {
    arbitrary: fc.constantFrom(
      '/',
      '/v1/push/',
      '/v1//push',
      '//v1/push',
      '/v1/push#x',
      'http://h/v1/kick',
      '*',
      'http://[/x',
      '/v1/stats',
      '/healthz',
    ),
    weight: 1,
  },
);

export function apiCase(): fc.Arbitrary<ApiCase> {
  return fc
    .record({
      method: fc.oneof(
        { arbitrary: fc.constant('POST'), weight: 6 },
        { arbitrary: fc.constantFrom('PUT', 'DELETE', 'GET', 'PATCH'), weight: 2 },
      ),
      target,
      contentType: fc.oneof(
        { arbitrary: fc.constant('application/json'), weight: 5 },
        {
          arbitrary: fc.constantFrom(
            'application/octet-stream',
            'application/octet-stream; x=1',
            null,
            'text/plain',
          ),
          weight: 3,
        },
      ),
      body: bodyBytes,
      cut: fc.integer({ min: 1, max: 64 }),
      contentLength: fc.boolean(),
    })
    .map(({ body, cut, ...rest }) => {
      const chunks: string[] = [];
      for (let at = 0; at < body.length; at += cut) chunks.push(body.subarray(at, at + cut).toString('hex'));
      return { ...rest, chunks };
    });
}

// ---- saved failures ----------------------------------------------------------------------

export type FuzzTarget = 'decoder' | 'session' | 'api';

export type Regression =
  | { target: 'decoder' | 'session'; note: string; seed?: number; input: StreamCase }
  | { target: 'api'; note: string; seed?: number; input: ApiCase };

/** Runs one saved case through its target. */
export async function replay(r: Regression): Promise<void> {
  if (r.target === 'api') await checkApi(r.input);
  else if (r.target === 'session') await checkSession(r.input);
  else checkDecoder(r.input);
}
