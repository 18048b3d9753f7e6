import type { CmdSpec } from '../config/cmd-set.js';
import { loadConfigFile } from '../config/load.js';
import type { GatewayConfig } from '../config/schema.js';
import { readTlsFiles } from '../config/tls-files.js';
import { createLogger } from '../logger.js';
import { cmdRanges } from '../plugins/cmd-ranges.js';
import { formatRanges, intersect, normalize, type Range, subtract } from './cmd-ranges.js';
import { type ProbedPlugin, probePlugins } from './plugin-probe.js';

/** One row of the routing table check-config prints. */
export interface RouteRow {
  cmds: string;
  /** A target name, or `plugin <name>`. */
  to: string;
  detail: string;
}

export interface ConfigReport {
  /** The config as the gateway runs it: computed defaults filled in, secrets masked. */
  effective: Record<string, unknown>;
  routes: RouteRow[];
  anonymousCmds: string;
  plugins: ProbedPlugin[];
  warnings: string[];
}

export interface Output {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
}

/**
 * `game-gateway check-config FILE`: validates FILE as the gateway's start does (schema,
 * references, env overrides, and every plugin loaded and set up against a stand-in),
 * prints the effective config as JSON on stdout, and on stderr the routing table, the
 * warnings, and a last line `config OK`. Throws ConfigError / PluginError (exit 2) for a
 * config the gateway would refuse. Returns the exit code: 0, or 1 with `strict` and
 * warnings.
 */
export async function checkConfig(
  path: string,
  out: Output,
  options: { env?: NodeJS.ProcessEnv; strict?: boolean } = {},
): Promise<number> {
  const { config, baseDir } = loadConfigFile(path, options.env ?? process.env);
  // The gateway reads them before it listens; a bad one is the same exit 2 here.
  if (config.listen.tls !== null) readTlsFiles(config.listen.tls);
  if (config.cluster.link.tls !== null) readTlsFiles(config.cluster.link.tls, 'cluster.link.tls');
  // Plugin logs during setup are diagnostics: warnings and up, to stderr.
  const plugins = await probePlugins(config, baseDir, createLogger('warn', process.stderr));
  const report = analyze(config, plugins);
  out.stdout(`${JSON.stringify(report.effective, null, 2)}\n`);
  out.stderr(formatReport(path, report));
  return options.strict && report.warnings.length > 0 ? 1 : 0;
}

/** The routing table and the warnings for a validated config and its probed plugins. */
export function analyze(config: GatewayConfig, plugins: readonly ProbedPlugin[]): ConfigReport {
  const warnings: string[] = [];
  const routes: RouteRow[] = [];
  const handled = plugins.flatMap((p) => p.handles);
  const hookers = plugins.filter((p) => p.hooks.includes('onRequest')).map((p) => p.name);

  // Local handlers answer before any route: they come first in the table.
  for (const p of plugins) {
    if (p.handles.length > 0) {
      routes.push({
        cmds: formatRanges(p.handles),
        to: `plugin ${p.name}`,
        detail: 'answered in the gateway',
      });
    }
  }
  const earlier: Array<{ where: string; target: string; ranges: Range[] }> = [];
  config.routes.forEach((route, i) => {
    const where = `routes.${i}`;
    const ranges = normalize(cmdRanges(route.cmds as CmdSpec));
    const shown = `${where} (${cmds(ranges)} → ${route.target})`;
    routes.push({
      cmds: formatRanges(ranges),
      to: route.target,
      detail: describeTarget(config, route.target),
    });
    const duplicate = earlier.find((e) => e.target === route.target && same(e.ranges, ranges));
    const before = earlier.flatMap((e) => e.ranges);
    if (duplicate !== undefined) {
      warnings.push(`${shown} duplicates ${duplicate.where}; remove one`);
      return;
    }
    if (subtract(ranges, before).length === 0) {
      warnings.push(`${shown} is never used: every one of its cmds is matched by an earlier route first`);
      return;
    }
    for (const e of earlier) {
      const both = intersect(ranges, e.ranges);
      if (both.length > 0) {
        warnings.push(
          `${shown} overlaps ${e.where} at ${cmds(both)}: the first match wins, so those go to ${e.target}`,
        );
      }
    }
    const byPlugin = intersect(ranges, handled);
    if (byPlugin.length > 0) {
      warnings.push(`${shown}: ${cmds(byPlugin, 'is')} answered by a plugin handler, never by this route`);
    }
    earlier.push({ where, target: route.target, ranges });
  });
  for (const name of hookers) {
    routes.push({
      cmds: 'any',
      to: `plugin ${name}`,
      detail: 'onRequest hook: may answer or pick the target',
    });
  }

  const routed = [...earlier.flatMap((e) => e.ranges), ...handled];
  const anonymous = config.auth.anonymousCmds === undefined ? [] : cmdRanges(config.auth.anonymousCmds);
  const unrouted = subtract(anonymous, routed);
  if (unrouted.length > 0) {
    const unless =
      hookers.length > 0 ? ` (unless an onRequest hook of ${hookers.join(', ')} picks a target)` : '';
    warnings.push(
      `auth.anonymousCmds: ${cmds(unrouted, 'has')} no route and no plugin handler: its REQUESTs get ROUTE_NOT_FOUND${unless}`,
    );
  }
  if (config.routes.length === 0 && handled.length === 0 && hookers.length === 0) {
    warnings.push('routes: none, and no plugin answers cmds: every REQUEST gets ROUTE_NOT_FOUND');
  }
  if (config.auth.required && anonymous.length === 0) {
    warnings.push(
      'auth.anonymousCmds: none, so no request can reach a login handler before a session is bound: every REQUEST gets NOT_AUTHENTICATED',
    );
  }
  return {
    effective: effectiveConfig(config),
    routes,
    anonymousCmds: anonymous.length === 0 ? 'none' : formatRanges(anonymous),
    plugins: [...plugins],
    warnings,
  };
}

/**
 * The config with the defaults the gateway computes at start written out (a null that
 * means "derived from another key" shows the value in use) and secrets masked.
 */
export function effectiveConfig(config: GatewayConfig): Record<string, unknown> {
  const copy = JSON.parse(JSON.stringify(config)) as Record<string, Record<string, unknown>>;
  const limits = copy.limits;
  // The gateway's rate limiter: a bucket of requestBurst (default 2 × requestsPerSecond, at least 1).
  if (limits.requestBurst === null && Number(limits.requestsPerSecond) > 0) {
    limits.requestBurst = Math.max(1, Number(limits.requestsPerSecond) * 2);
  }
  if ('maxResponseBytes' in limits && limits.maxResponseBytes === null) {
    limits.maxResponseBytes = limits.maxWriteBufferBytes;
  }
  const redis = (copy.cluster?.redis ?? null) as { url?: unknown } | null;
  if (redis !== null && typeof redis.url === 'string') redis.url = maskUrlPassword(redis.url);
  return JSON.parse(
    JSON.stringify(copy, (k, v) => {
      if ((k === 'token' || k === 'password') && typeof v === 'string') return '***';
      if (k === 'tokens' && Array.isArray(v)) return v.map(() => '***');
      return v;
    }),
  );
}

/** `redis://user:s3cret@host` → `redis://user:***@host`; other forms unchanged. */
export function maskUrlPassword(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:/@]*:)[^@/]*@/i, '$1***@');
}

function formatReport(path: string, r: ConfigReport): string {
  const lines: string[] = [];
  const width = Math.max(4, ...r.routes.map((row) => row.cmds.length));
  const toWidth = Math.max(6, ...r.routes.map((row) => row.to.length));
  lines.push('routes (plugin handlers first, then the first matching route):');
  if (r.routes.length === 0) lines.push('  (none)');
  lines.push(`  ${'cmds'.padEnd(width)}  ${'target'.padEnd(toWidth)}  url`);
  for (const row of r.routes)
    lines.push(`  ${row.cmds.padEnd(width)}  ${row.to.padEnd(toWidth)}  ${row.detail}`);
  lines.push(`anonymous cmds (forwarded before login): ${r.anonymousCmds}`);
  if (r.plugins.length > 0) {
    lines.push('plugins:');
    for (const p of r.plugins) {
      const hooks = p.hooks.length === 0 ? '' : `, hooks ${p.hooks.join(', ')}`;
      lines.push(`  ${p.where}  ${p.name} (${p.bundled ? 'bundled' : p.module})${hooks}`);
    }
  }
  for (const w of r.warnings) lines.push(`warning: ${w}`);
  const n = r.warnings.length;
  lines.push(`config OK: ${path}${n === 0 ? '' : ` (${n} warning${n === 1 ? '' : 's'})`}`);
  return `${lines.join('\n')}\n`;
}

/** A target's URL, or where its discovered instances come from. */
function describeTarget(config: GatewayConfig, name: string): string {
  const t = config.targets[name] as { url?: string; discover?: string; path?: string; balance?: string };
  if (t.url !== undefined) return t.url;
  return `discovered: service "${t.discover}" in the registry, path "${t.path ?? ''}", ${t.balance ?? 'round-robin'}`;
}

/** `cmd 7` / `cmds 7-9`, with the verb agreeing when one is given (`is` → `cmds 7-9 are`). */
function cmds(ranges: readonly Range[], verb?: 'is' | 'has'): string {
  const one = ranges.length === 1 && ranges[0][0] === ranges[0][1];
  const noun = `${one ? 'cmd' : 'cmds'} ${formatRanges(ranges)}`;
  if (verb === undefined) return noun;
  return `${noun} ${one ? verb : verb === 'is' ? 'are' : 'have'}`;
}

function same(a: readonly Range[], b: readonly Range[]): boolean {
  return a.length === b.length && a.every((x, i) => x[0] === b[i][0] && x[1] === b[i][1]);
}
