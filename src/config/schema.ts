import { BlockList, isIP } from 'node:net';
import { hostname } from 'node:os';
import { z } from 'zod';
import { MAX_FRAME_BYTES } from '../protocol/frame-decoder.js';
import { CmdSet, type CmdSpec } from './cmd-set.js';

/** `host:port`; port 0 picks a free port. IPv6 hosts go in brackets: `[::1]:7000`. */
const address = z.string().refine((s) => parseAddress(s) !== null, {
  message: 'expected "host:port" with a port from 0 to 65535',
});
const ms = z.number().int().nonnegative();
const positive = z.number().int().positive();

const cmdSpec = z
  .union([z.number(), z.string(), z.array(z.union([z.number(), z.string()])).min(1)])
  .superRefine((spec, ctx) => {
    try {
      CmdSet.parse(spec as CmdSpec);
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: (err as Error).message });
    }
  });

const target = z.strictObject({
  /** Base URL; `{cmd}` is replaced by the decimal cmd. */
  url: z.url({ protocol: /^https?$/, error: 'expected http(s)://host:port/path' }),
  /** No answer within this many ms → BACKEND_TIMEOUT. */
  timeoutMs: positive.default(3_000),
  /** Most connections the target's pool opens. */
  connections: positive.default(64),
  /** Idle keep-alive of pooled connections; keep it below the backend's idle timeout. */
  keepAliveMs: positive.default(4_000),
  /** Connect errors in a row that open the circuit (0: never), and how long it stays open. */
  circuitBreaker: z.strictObject({ failures: ms.default(5), openMs: positive.default(1_000) }).prefault({}),
});

/**
 * A target is either a fixed `url` or the instances registered in etcd under the service
 * name `discover` (SPEC §11), exactly one of them.
 */
const discoverableTarget = target
  .extend({
    /** Service name in the registry: its instances serve this target (needs registry.etcd). */
    discover: z.string().min(1).optional(),
    /** Appended to each discovered instance's base address; `{cmd}` is replaced by the decimal cmd. */
    path: z
      .string()
      .regex(/^(\/.*)?$/, 'expected a path starting with "/"')
      .default(''),
    /** How a request picks a discovered instance: in turn, or by rendezvous hash of its player (session when unbound). */
    balance: z.enum(['round-robin', 'player-hash']).default('round-robin'),
  })
  .partial({ url: true })
  .superRefine((t, ctx) => {
    if ((t.url === undefined) === (t.discover === undefined)) {
      const key = t.url === undefined ? 'url' : 'discover';
      ctx.addIssue({ code: 'custom', path: [key], message: 'expected exactly one of url or discover' });
    } else if (t.url !== undefined && t.path !== '') {
      ctx.addIssue({
        code: 'custom',
        path: ['path'],
        message: 'only with discover; a url carries its own path',
      });
    }
  });

/** The etcd record layouts of SPEC §11 (src/registry/records.ts). */
export const REGISTRY_LAYOUTS = ['kratos', 'go-zero'] as const;

/** The default key prefix of each layout (what kratos and go-zero use out of the box). */
export const DEFAULT_PREFIX: Record<(typeof REGISTRY_LAYOUTS)[number], string> = {
  kratos: '/microservices',
  'go-zero': '',
};

/** The etcd service registry (SPEC §11): off while registry.etcd is null. */
const registry = z
  .strictObject({
    etcd: z
      .strictObject({
        // Plain http only: the client speaks gRPC without TLS to etcd (no CA / cert keys yet).
        endpoints: z
          .array(z.url({ protocol: /^http$/, error: 'expected http://host:port (no TLS to etcd yet)' }))
          .min(1),
        username: z.string().min(1).optional(),
        password: z.string().optional(),
      })
      .refine((e) => e.username === undefined || e.password !== undefined, {
        path: ['password'],
        message: 'required with username',
      })
      .nullable()
      .default(null),
    /** How records are keyed and encoded: kratos (JSON) or go-zero (host:port). */
    layout: z.enum(REGISTRY_LAYOUTS).default('kratos'),
    /** Key prefix; null: the layout's default (kratos "/microservices", go-zero ""). */
    prefix: z.string().nullable().default(null),
    /** Lease TTL, kept alive while the gateway runs; etcd grants no lease under 2 s. */
    ttlSeconds: z.number().int().min(2).default(10),
    /** The service name this gateway registers under. */
    service: z
      .string()
      .regex(/^[A-Za-z0-9_.-]+$/, 'letters, digits, _ . -')
      .default('game-gateway'),
    /** Host published for listeners on 0.0.0.0 / ::; "" = the first non-internal IPv4. */
    advertise: z
      .string()
      .regex(/^[^\s/]*$/, 'expected a host name or IP address')
      .default(''),
  })
  .transform((r) => ({ ...r, prefix: r.prefix ?? DEFAULT_PREFIX[r.layout] }))
  .prefault({});

/** Listeners that TLS covers unless `listen.tls.plain` names them. */
export const TLS_LISTENERS = ['tcp', 'ws', 'api', 'metrics'] as const;
export type TlsListener = (typeof TLS_LISTENERS)[number];

/** TLS on the listeners (docs/tls.md): off while listen.tls is null. */
const listenTls = z
  .strictObject({
    /** PEM file paths; re-read on SIGHUP. */
    cert: z.string().min(1),
    key: z.string().min(1),
    /** PEM CA file: clients must present a certificate it signed. */
    ca: z.string().min(1).nullable().default(null),
    /** A connection that has not finished the TLS handshake by then is closed (and counted). */
    handshakeTimeoutMs: positive.default(10_000),
    /** Listeners kept plain, e.g. [api, metrics] for an API and scrapes on loopback. */
    plain: z.array(z.enum(TLS_LISTENERS)).default([]),
  })
  .nullable()
  .default(null);

/**
 * TLS on node links (docs/cluster.md, "Node links"): off while null. Both ends present
 * `cert` and accept only a peer whose certificate `ca` signed; files re-read on SIGHUP.
 */
const linkTls = z
  .strictObject({ cert: z.string().min(1), key: z.string().min(1), ca: z.string().min(1) })
  .nullable()
  .default(null);

export const configSchema = z.strictObject({
  node: z.strictObject({ id: z.string().min(1).default(`${hostname()}-${process.pid}`) }).prefault({}),
  listen: z
    .strictObject({
      tcp: address.nullable().default('0.0.0.0:7000'),
      ws: address.nullable().default(null),
      api: address.default('127.0.0.1:7002'),
      metrics: address.nullable().default(null),
      tls: listenTls,
    })
    .prefault({}),
  targets: z
    .record(
      z.string().regex(/^[A-Za-z0-9_.-]+$/, 'target names use letters, digits, _ . -'),
      discoverableTarget,
    )
    .default({}),
  routes: z.array(z.strictObject({ cmds: cmdSpec, target: z.string().min(1) })).default([]),
  auth: z
    .strictObject({
      required: z.boolean().default(true),
      anonymousCmds: cmdSpec.optional(),
      timeoutMs: positive.default(60_000),
    })
    .prefault({}),
  heartbeat: z
    .strictObject({ intervalMs: positive.default(10_000), timeoutMs: positive.default(30_000) })
    .prefault({}),
  players: z
    .strictObject({
      retainMs: ms.default(300_000),
      offline: z
        .strictObject({
          maxMessages: ms.default(200),
          maxBytes: ms.default(1_048_576),
          ttlMs: positive.default(300_000),
        })
        .prefault({}),
    })
    .prefault({}),
  limits: z
    .strictObject({
      /** Bounded so a length field can never ask the decoder for more than it may hold. */
      maxFrameBytes: z
        .number()
        .int()
        .min(12)
        .max(MAX_FRAME_BYTES, `at most ${MAX_FRAME_BYTES} (16 MiB)`)
        .default(65_536),
      maxConnections: positive.default(100_000),
      maxInFlightPerSession: positive.default(32),
      /** Token-bucket refill per session; 0 turns the limit off. */
      requestsPerSecond: ms.default(100),
      /** Bucket size; null means twice requestsPerSecond. */
      requestBurst: positive.nullable().default(null),
      maxWriteBufferBytes: positive.default(1_048_576),
      /** Largest backend answer body read; null means limits.maxWriteBufferBytes. */
      maxResponseBytes: positive.nullable().default(null),
    })
    .prefault({}),
  api: z
    .strictObject({
      /** One bearer token; an alias of a one-item `tokens`. Blank counts as none. */
      token: z
        .string()
        .nullable()
        .default(null)
        .transform((t) => (t === null || t.trim() === '' ? null : t.trim())),
      /** Every accepted bearer token (rotation: add the new one, SIGHUP, drop the old one). */
      tokens: z
        .array(z.string())
        .default([])
        .transform((list) => list.map((t) => t.trim()).filter((t) => t !== '')),
      maxBodyBytes: positive.default(1_048_576),
      /** API connections open at once (game listeners have limits.maxConnections). */
      maxConnections: positive.default(1_024),
      /** A request whose headers are not all in by then gets 408 and its connection closed. */
      headersTimeoutMs: positive.max(10_000, 'at most 10000 ms').default(10_000),
      /** A request (headers and body) not all in by then gets 408 and its connection closed. */
      requestTimeoutMs: positive.default(30_000),
      /** After a refusal (401, 413): read and discard what the client still sends, this long at most… */
      lingerMs: ms.max(10_000, 'at most 10000 ms').default(2_000),
      /** …and this many bytes at most, then close. */
      lingerBytes: ms.max(64 * 1_048_576, 'at most 67108864 bytes').default(2 * 1_048_576),
    })
    .prefault({}),
  metrics: z
    .strictObject({
      enabled: z.boolean().default(true),
      playerIdLabel: z.enum(['suspects', 'all', 'none']).default('suspects'),
      suspectRequestsPerMinute: positive.default(1_000),
    })
    .prefault({}),
  cluster: z
    .strictObject({
      engine: z.enum(['local', 'redis']).default('local'),
      redis: z
        .strictObject({
          url: z
            .url({ protocol: /^rediss?$/, error: 'expected a redis:// or rediss:// URL' })
            .default('redis://127.0.0.1:6379'),
          keyPrefix: z.string().default('gw:'),
          commandTimeoutMs: positive.default(1_000),
        })
        .prefault({}),
      /** Node links (docs/cluster.md): where this node takes other nodes' DIRECT pushes; null: off. */
      link: z
        .strictObject({ listen: address.nullable().default(null), tls: linkTls })
        .superRefine((link, ctx) => {
          if (link.tls !== null && link.listen === null)
            ctx.addIssue({
              code: 'custom',
              path: ['tls'],
              message: 'needs cluster.link.listen (links are off)',
            });
        })
        .prefault({}),
    })
    .prefault({}),
  events: z.strictObject({ target: z.string().min(1).nullable().default(null) }).prefault({}),
  plugins: z
    .array(z.strictObject({ module: z.string().min(1), options: z.unknown().optional() }))
    .default([]),
  registry,
  shutdown: z.strictObject({ drainMs: ms.default(10_000) }).prefault({}),
  log: z
    .strictObject({
      level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    })
    .prefault({}),
});

export type GatewayConfig = z.output<typeof configSchema>;
export type GatewayConfigInput = z.input<typeof configSchema>;
export type TargetConfig = GatewayConfig['targets'][string];

export interface Address {
  host: string;
  port: number;
  /** The config key it came from (`listen.api`), for bind errors. */
  key?: string;
}

export function parseAddress(text: string): Address | null {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(text);
  if (!m) return null;
  const port = Number(m[3]);
  if (port > 65_535) return null;
  return { host: m[1] ?? (m[2] || '0.0.0.0'), port };
}

const LOOPBACK = new BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');

/**
 * Judged on the parsed IP (127.0.0.0/8, ::1, their IPv4-mapped forms) or the literal name
 * `localhost`, never on a prefix: `127.example.com` is a name anyone can point anywhere.
 */
export function isLoopback(host: string): boolean {
  if (host === 'localhost') return true;
  const family = isIP(host);
  if (family === 0) return false;
  return LOOPBACK.check(host, family === 6 ? 'ipv6' : 'ipv4');
}

/** The tokens the API accepts: `api.tokens` plus the `api.token` alias, blanks dropped. */
export function apiTokens(api: { token: string | null; tokens: readonly string[] }): string[] {
  return [...new Set([...(api.token === null ? [] : [api.token]), ...api.tokens])];
}
