import { existsSync, writeFileSync } from 'node:fs';
import { z } from 'zod';
import { ConfigError } from '../config/load.js';
import { configSchema } from '../config/schema.js';

/**
 * `game-gateway init [FILE]`: a commented starter config. The keys, their nesting and
 * their defaults are read from the config schema (src/config/schema.ts, as JSON Schema),
 * so they cannot drift from what the gateway runs; the notes (meaning and unit) are
 * below, one per key, and a test fails when a schema key has none or a note names a key
 * the schema lacks. Loading the written file gives exactly the embedded default.
 */

interface Note {
  /** Meaning and unit, as docs/configuration.md gives them. */
  note: string;
  /** A value for a key without a default, written in the commented examples. */
  example?: unknown;
  /** The default is computed at start: the key is written commented out. */
  computed?: string;
}

/** Paths: `a.b`; a record's entries `targets.*.url`; a list's items `routes[].cmds`. */
export const NOTES: Record<string, Note> = {
  node: { note: 'This gateway.' },
  'node.id': {
    note: "This gateway's name: HELLO, x-gateway-node, /v1/players.",
    computed: '<hostname>-<pid>',
  },
  listen: { note: 'Listen addresses are "host:port" ("[::1]:7000" for IPv6); port 0 picks a free port.' },
  'listen.tcp': { note: 'TCP clients; address or null (tcp and ws may not both be null).' },
  'listen.ws': { note: 'WebSocket clients; address or null (off).' },
  'listen.api': { note: 'Push/admin API, /healthz, /readyz, /metrics; a token is required off loopback.' },
  'listen.metrics': { note: 'A second, token-free listener serving only /metrics; address or null (off).' },
  'listen.tls': { note: 'TLS on the client and API listeners (docs/tls.md); null: off.' },
  'listen.tls.cert': { note: 'PEM certificate file path; re-read on SIGHUP.', example: 'gateway.crt' },
  'listen.tls.key': { note: 'PEM private key file path; re-read on SIGHUP.', example: 'gateway.key' },
  'listen.tls.ca': {
    note: 'PEM CA file path: clients must present a certificate it signed; null: none asked.',
  },
  'listen.tls.handshakeTimeoutMs': { note: 'ms: a TLS handshake not finished by then is closed.' },
  'listen.tls.plain': { note: 'listeners kept plain (tcp, ws, api, metrics), e.g. ["api", "metrics"].' },
  targets: {
    note: 'Backends by name (letters, digits, _ . -). None by default: every REQUEST gets ROUTE_NOT_FOUND.',
  },
  'targets.*.url': {
    note: 'Backend base URL, http(s); {cmd} is replaced by the decimal cmd. Either url or discover.',
    example: 'http://127.0.0.1:8081/game/{cmd}',
  },
  'targets.*.discover': {
    note: 'Instead of url: the service name whose etcd instances serve this target (needs registry.etcd).',
  },
  'targets.*.path': { note: 'With discover: appended to each instance\'s http://host:port; "/..." or "".' },
  'targets.*.balance': { note: 'With discover: round-robin, or player-hash (one instance per player).' },
  'targets.*.timeoutMs': { note: 'ms: no answer within this (pool queueing included) -> BACKEND_TIMEOUT.' },
  'targets.*.connections': { note: "count: most connections in the target's pool." },
  'targets.*.keepAliveMs': { note: "ms: idle keep-alive; keep it below the backend's idle timeout." },
  'targets.*.circuitBreaker': { note: 'Opens after connect errors in a row: calls fail at once.' },
  'targets.*.circuitBreaker.failures': { note: 'connect errors in a row that open the circuit; 0: never.' },
  'targets.*.circuitBreaker.openMs': { note: 'ms an open circuit refuses calls before one probe.' },
  routes: { note: 'cmd -> target; the first matching route wins. None by default.' },
  'routes[].cmds': { note: 'A number, a list, or a range string "1000-1999".', example: '1000-2999' },
  'routes[].target': { note: 'A target name from targets.', example: 'game' },
  auth: { note: 'The login gate.' },
  'auth.required': { note: 'bool: only auth.anonymousCmds are forwarded before login.' },
  'auth.anonymousCmds': {
    note: 'cmds forwarded before login (as routes[].cmds), e.g. the login cmd; none by default.',
  },
  'auth.timeoutMs': { note: 'ms: not bound by then -> KICK AUTH_TIMEOUT (with auth.required).' },
  heartbeat: { note: 'Client liveness.' },
  'heartbeat.intervalMs': { note: 'ms: announced in HELLO; clients PING this often when idle.' },
  'heartbeat.timeoutMs': { note: 'ms: no frame for this long -> KICK IDLE_TIMEOUT; more than intervalMs.' },
  players: { note: 'Players and their offline queues.' },
  'players.retainMs': { note: 'ms a player stays known (offline) after its session ends.' },
  'players.offline': { note: 'Per-player offline queue; the oldest messages are dropped first.' },
  'players.offline.maxMessages': { note: 'messages per player.' },
  'players.offline.maxBytes': { note: 'bytes per player (bodies only).' },
  'players.offline.ttlMs': { note: 'ms: a queued message expires after this.' },
  limits: { note: 'Per connection and per session.' },
  'limits.maxFrameBytes': { note: 'bytes, 12 to 16777216: largest frame length a client may send.' },
  'limits.maxConnections': { note: 'count: connections beyond are closed at accept.' },
  'limits.maxInFlightPerSession': { note: 'requests: more -> TOO_MANY_IN_FLIGHT.' },
  'limits.requestsPerSecond': { note: 'requests/s per session (token-bucket refill); 0: off.' },
  'limits.requestBurst': { note: 'requests: bucket size; null: twice requestsPerSecond.' },
  'limits.maxWriteBufferBytes': { note: 'bytes of unsent output per session; more -> KICK SLOW_CONSUMER.' },
  'limits.maxResponseBytes': { note: 'bytes: largest backend answer body read; null: maxWriteBufferBytes.' },
  api: { note: 'The push/admin API (docs/push-api.md).' },
  'api.token': { note: 'Bearer token for every route but /healthz and /readyz; null: none.' },
  'api.tokens': { note: 'Every accepted bearer token (rotation: re-read on SIGHUP).' },
  'api.maxBodyBytes': { note: 'bytes: larger request bodies -> 413.' },
  'api.maxConnections': { note: 'connections open at once.' },
  'api.headersTimeoutMs': { note: 'ms, at most 10000: headers not all in by then -> 408.' },
  'api.requestTimeoutMs': { note: 'ms: a whole request not in by then -> 408.' },
  'api.lingerMs': {
    note: 'ms, at most 10000: after a refusal (401, 413), discard what still comes this long...',
  },
  'api.lingerBytes': { note: '...and at most this many bytes, then close.' },
  metrics: { note: 'Prometheus metrics (docs/metrics.md).' },
  'metrics.enabled': { note: 'bool: false drops the process/runtime default metrics.' },
  'metrics.playerIdLabel': {
    note: 'suspects, all or none: what player_id of gateway_requests_total carries.',
  },
  'metrics.suspectRequestsPerMinute': { note: 'requests/min: the suspects threshold.' },
  cluster: { note: 'Where players live (docs/cluster.md).' },
  'cluster.engine': { note: 'local (in memory) or redis (shared by many gateways).' },
  'cluster.redis': { note: 'With cluster.engine: redis.' },
  'cluster.redis.url': { note: 'redis:// or rediss:// URL.' },
  'cluster.redis.keyPrefix': { note: 'prefix of every Redis key.' },
  'cluster.redis.commandTimeoutMs': { note: 'ms: bound on every Redis command.' },
  'cluster.link': { note: 'Node links (docs/cluster.md): DIRECT pushes between nodes over TCP, not Redis.' },
  'cluster.link.listen': { note: 'host:port this node takes them on; null: off.', example: '0.0.0.0:7400' },
  'cluster.link.tls': { note: 'TLS both ways on node links; null: plain TCP. Files re-read on SIGHUP.' },
  'cluster.link.tls.cert': { note: "PEM: this node's certificate (server and client).", example: 'node.crt' },
  'cluster.link.tls.key': { note: 'PEM: its private key.', example: 'node.key' },
  'cluster.link.tls.ca': {
    note: "PEM: the CA a peer's certificate must chain to.",
    example: 'cluster-ca.crt',
  },
  events: { note: 'Lifecycle events.' },
  'events.target': { note: 'target name receiving online/offline POSTs; null: none.' },
  plugins: { note: 'Business logic in the gateway (docs/plugins.md). None by default.' },
  'plugins[].module': { note: 'Path or package name of the plugin module.', example: './my-plugin.js' },
  'plugins[].options': { note: "Anything; passed to the plugin's setup." },
  registry: { note: 'The etcd service registry (docs/registry.md).' },
  'registry.etcd': { note: 'null: registry off.' },
  'registry.etcd.endpoints': {
    note: 'list of http://host:port (no TLS to etcd yet).',
    example: ['http://127.0.0.1:2379'],
  },
  'registry.etcd.username': { note: 'etcd authentication (with password).' },
  'registry.etcd.password': { note: 'etcd password (with username).' },
  'registry.layout': { note: 'kratos (JSON records) or go-zero (host:port).' },
  'registry.prefix': { note: 'key prefix; null: the layout\'s ("/microservices" kratos, "" go-zero).' },
  'registry.ttlSeconds': { note: "s, at least 2: lease TTL of this gateway's record." },
  'registry.service': { note: 'the service name this gateway registers under.' },
  'registry.advertise': {
    note: 'host published for listeners on 0.0.0.0 / ::; "": the first non-internal IPv4.',
  },
  shutdown: { note: 'SIGTERM / SIGINT.' },
  'shutdown.drainMs': { note: 'ms requests in flight may finish.' },
  log: { note: 'Logging (pino, JSON lines on stdout).' },
  'log.level': { note: 'fatal, error, warn, info, debug, trace or silent.' },
};

type Json = {
  type?: string | string[];
  properties?: Record<string, Json>;
  additionalProperties?: Json | boolean;
  items?: Json;
  anyOf?: Json[];
  default?: unknown;
};

/** The config schema's input side: what a file may say, with the defaults. */
function schemaJson(): Json {
  return z.toJSONSchema(configSchema, { io: 'input', unrepresentable: 'any' }) as Json;
}

/** The object member of `X | null`, or the schema itself. */
function objectOf(s: Json): Json | undefined {
  const member = s.anyOf?.find((m) => m.type === 'object') ?? s;
  return member.type === 'object' ? member : undefined;
}

interface Line {
  depth: number;
  text: string;
  /** A key's note (not its value, nor a commented-out key). */
  note?: boolean;
}

/** The lines for the keys of one object schema; `example` renders values for keys without a default. */
function keys(obj: Json, path: string, depth: number, paths: string[]): Line[] {
  const lines: Line[] = [];
  for (const [key, prop] of Object.entries(obj.properties ?? {})) {
    const p = path === '' ? key : `${path}.${key}`;
    paths.push(p);
    const note = NOTES[p];
    if (note !== undefined) lines.push({ depth, text: `# ${note.note}`, note: true });
    const inner = objectOf(prop);
    const entry = typeof inner?.additionalProperties === 'object' ? inner.additionalProperties : undefined;
    const item = prop.type === 'array' && prop.items?.type === 'object' ? prop.items : undefined;
    if (note?.computed !== undefined) {
      lines.push({ depth, text: `# ${key}: ${note.computed}` });
    } else if (inner?.properties !== undefined && prop.default !== null) {
      const children = keys(inner, p, depth + 1, paths);
      // `key:` with only comments under it would be null, which the schema refuses.
      const live = children.some((l) => !l.text.startsWith('#'));
      lines.push({ depth, text: live ? `${key}:` : `${key}: {}` }, ...children);
    } else if (inner?.properties !== undefined) {
      // Off by default (null): its keys as a commented example.
      lines.push({ depth, text: `${key}: null` });
      lines.push(...commented(depth, [{ depth, text: `${key}:` }, ...keys(inner, p, depth + 1, paths)]));
    } else if (entry !== undefined) {
      lines.push({ depth, text: `${key}: {}` });
      const example = [{ depth: depth + 1, text: 'game:' }, ...keys(entry, `${p}.*`, depth + 2, paths)];
      lines.push(...commented(depth, [{ depth, text: `${key}:` }, ...example]));
    } else if (item !== undefined) {
      // One list item: the fields' notes first, then `- first: …` and the other fields under it.
      lines.push({ depth, text: `${key}: []` });
      const fields = keys(item, `${p}[]`, depth + 2, paths);
      const notes = Object.keys(item.properties ?? {}).flatMap((name) => {
        const n = NOTES[`${p}[].${name}`];
        return n === undefined ? [] : [{ depth: depth + 1, text: `# ${name}: ${n.note}` }];
      });
      const values = fields.filter((l) => !(l.note && l.depth === depth + 2));
      const example = [
        { depth, text: `${key}:` },
        ...notes,
        ...values.map((l, i) => (i === 0 ? { depth: depth + 1, text: `- ${l.text}` } : l)),
      ];
      lines.push(...commented(depth, example));
    } else if ('default' in prop) {
      lines.push({ depth, text: `${key}: ${JSON.stringify(prop.default)}` });
    } else if (note?.example !== undefined) {
      lines.push({ depth, text: `${key}: ${JSON.stringify(note.example)}` });
    } else {
      lines.push({ depth, text: `# ${key}:` });
    }
  }
  return lines;
}

/** The lines as a commented block at `base`: `# ` first, their own indentation after it. */
function commented(base: number, lines: Line[]): Line[] {
  return lines.map((l) => ({ depth: base, text: `# ${'  '.repeat(l.depth - base)}${l.text}` }));
}

/** Every key path the schema has (the same paths NOTES uses). */
export function configPaths(): string[] {
  const paths: string[] = [];
  keys(schemaJson(), '', 0, paths);
  return paths;
}

/** The starter config's text. */
export function starterConfig(): string {
  const lines = keys(schemaJson(), '', 0, []);
  const head = [
    '# game-gateway starter config: every key at its default (docs/configuration.md).',
    '# Validate with `game-gateway check-config FILE`; run with `game-gateway --config FILE`.',
    '# Environment overrides (GATEWAY_LISTEN_TCP, GATEWAY_API_TOKEN, ...) apply on top.',
  ];
  const body = lines.map(({ depth, text }) => `${'  '.repeat(depth)}${text}`);
  return `${[...head, '', ...body].join('\n')}\n`;
}

/**
 * Writes the starter config to FILE (refusing to replace an existing file), or to stdout
 * without one. Returns the exit code.
 */
export function init(
  file: string | undefined,
  out: { stdout: (t: string) => void; stderr: (t: string) => void },
): number {
  const text = starterConfig();
  if (file === undefined) {
    out.stdout(text);
    return 0;
  }
  if (existsSync(file)) throw new ConfigError(`${file} exists; init does not replace a file`);
  writeFileSync(file, text, { flag: 'wx' });
  out.stderr(`wrote ${file}; check it with: game-gateway check-config ${file}\n`);
  return 0;
}
