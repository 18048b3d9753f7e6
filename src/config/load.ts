import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import type { z } from 'zod';
import { apiTokens, configSchema, type GatewayConfig, isLoopback, parseAddress } from './schema.js';

/** A config that cannot start the gateway; the message names the key at fault. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Environment variables that override config keys (applied after the file). */
export const ENV_OVERRIDES: Record<string, string> = {
  GATEWAY_NODE_ID: 'node.id',
  GATEWAY_LISTEN_TCP: 'listen.tcp',
  GATEWAY_LISTEN_WS: 'listen.ws',
  GATEWAY_LISTEN_API: 'listen.api',
  GATEWAY_LISTEN_METRICS: 'listen.metrics',
  GATEWAY_API_TOKEN: 'api.token',
  GATEWAY_CLUSTER_ENGINE: 'cluster.engine',
  GATEWAY_REDIS_URL: 'cluster.redis.url',
  GATEWAY_CLUSTER_LINK_LISTEN: 'cluster.link.listen',
  GATEWAY_LOG_LEVEL: 'log.level',
};

export interface LoadedConfig {
  config: GatewayConfig;
  /** Directory of the config file, for resolving plugin paths; cwd without a file. */
  baseDir: string;
}

/** Reads a YAML file (or none: the embedded default), applies env overrides, validates. */
export function loadConfigFile(path: string | null, env: NodeJS.ProcessEnv = process.env): LoadedConfig {
  let raw: unknown = {};
  if (path !== null) {
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (err) {
      throw new ConfigError(`cannot read config file ${path}: ${(err as Error).message}`);
    }
    try {
      raw = parseYaml(text) ?? {};
    } catch (err) {
      throw new ConfigError(`${path} is not valid YAML: ${(err as Error).message}`);
    }
  }
  const baseDir = path === null ? process.cwd() : new URL('.', `file://${resolvePath(path)}`).pathname;
  return { config: buildConfig(raw, env), baseDir };
}

/** Validates a config object (file contents or code), with env overrides applied on top. */
export function buildConfig(raw: unknown, env: NodeJS.ProcessEnv = {}): GatewayConfig {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new ConfigError('the config must be a mapping of keys');
  }
  const withEnv = structuredClone(raw) as Record<string, unknown>;
  for (const [name, key] of Object.entries(ENV_OVERRIDES)) {
    const value = env[name];
    if (value !== undefined && value !== '') setPath(withEnv, key, value === 'off' ? null : value);
  }
  const parsed = configSchema.safeParse(withEnv);
  if (!parsed.success) throw new ConfigError(describe(parsed.error));
  const config = parsed.data;
  checkReferences(config);
  return deepFreeze(config);
}

function checkReferences(config: GatewayConfig): void {
  config.routes.forEach((route, i) => {
    if (!(route.target in config.targets)) {
      throw new ConfigError(`routes.${i}.target: no target named "${route.target}" under targets`);
    }
  });
  if (config.events.target !== null && !(config.events.target in config.targets)) {
    throw new ConfigError(`events.target: no target named "${config.events.target}" under targets`);
  }
  for (const [name, target] of Object.entries(config.targets)) {
    if (target.discover !== undefined && config.registry.etcd === null) {
      throw new ConfigError(
        `targets.${name}.discover: needs registry.etcd.endpoints, the etcd to find "${target.discover}" in`,
      );
    }
  }
  const api = parseAddress(config.listen.api);
  if (api && !isLoopback(api.host) && apiTokens(config.api).length === 0) {
    throw new ConfigError(
      `api.token: must be set when listen.api (${config.listen.api}) is not a loopback address — anyone could push or kick`,
    );
  }
  if (config.api.headersTimeoutMs > config.api.requestTimeoutMs) {
    throw new ConfigError('api.headersTimeoutMs: must not be longer than api.requestTimeoutMs');
  }
  for (const [name, target] of Object.entries(config.targets) as Array<[string, { url?: string }]>) {
    // Refused rather than sent as basic auth: a password in the file ends up in logs and dumps.
    if (typeof target.url === 'string' && /^[a-z][a-z0-9+.-]*:\/\/[^/?#]*@/i.test(target.url)) {
      throw new ConfigError(
        `targets.${name}.url: must not carry credentials (user:pass@); protect the backend by network or its own auth`,
      );
    }
  }
  checkListeners(config);
  if (config.heartbeat.timeoutMs <= config.heartbeat.intervalMs) {
    throw new ConfigError('heartbeat.timeoutMs: must be longer than heartbeat.intervalMs');
  }
}

/** At least one client listener, and no two listeners on one port. */
function checkListeners(config: GatewayConfig): void {
  const { listen } = config;
  if (listen.tcp === null && listen.ws === null) {
    throw new ConfigError('listen.tcp: no client listener; set listen.tcp or listen.ws (or both)');
  }
  const bound: Array<{ key: string; host: string; port: number }> = [];
  for (const name of ['tcp', 'ws', 'api', 'metrics'] as const) {
    const text = listen[name];
    const at = text === null ? null : parseAddress(text);
    if (at === null || at.port === 0) continue;
    const key = `listen.${name}`;
    const clash = bound.find((b) => b.port === at.port && overlaps(b.host, at.host));
    if (clash !== undefined) {
      throw new ConfigError(`${key}: port ${at.port} is already taken by ${clash.key}`);
    }
    bound.push({ key, ...at });
  }
}

/** Two hosts collide on a port when they are the same or either is a wildcard. */
function overlaps(a: string, b: string): boolean {
  const wildcard = (h: string) => h === '0.0.0.0' || h === '::' || h === '';
  return a === b || wildcard(a) || wildcard(b);
}

function describe(error: z.ZodError): string {
  return error.issues
    .map((issue) => {
      const key = issue.path.join('.') || '(root)';
      if (issue.code === 'unrecognized_keys') {
        const prefix = issue.path.length ? `${key}.` : '';
        return `${issue.keys.map((k) => prefix + k).join(', ')}: unknown key`;
      }
      return `${key}: ${issue.message}`;
    })
    .join('; ');
}

function setPath(obj: Record<string, unknown>, key: string, value: unknown): void {
  const parts = key.split('.');
  let node = obj;
  for (const part of parts.slice(0, -1)) {
    const next = node[part];
    if (typeof next !== 'object' || next === null) node[part] = {};
    node = node[part] as Record<string, unknown>;
  }
  node[parts[parts.length - 1]] = value;
}

function resolvePath(p: string): string {
  return p.startsWith('/') ? p : `${process.cwd()}/${p}`;
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}
