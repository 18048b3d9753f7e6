// Checks the monitoring deliverables under deploy/ against each other and against the metrics
// the gateway exports:
// - promtool validates the alert rules and the example Prometheus config, and runs the rule unit
//   tests of deploy/prometheus/alerts.test.yml;
// - every query of the Grafana dashboard and of the alert rules names only metrics that a real
//   GatewayMetrics registry exports (src/metrics/metrics.ts), so renaming a metric without
//   updating deploy/ breaks this test;
// - every gateway_* metric of that registry is shown by the dashboard and documented in
//   docs/metrics.md, so adding one without both breaks it too.
//
// promtool comes from the Debian package "prometheus" (apt-get install -y prometheus) or from a
// Prometheus release tarball; set PROMTOOL to use another binary. Without it the promtool tests
// are skipped locally and fail in CI.

import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { GatewayMetrics } from '../../src/metrics/metrics.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '../..');
const file = (p: string) => join(root, p);
const read = (p: string) => readFileSync(file(p), 'utf8');

const DASHBOARD = 'deploy/grafana/gateway-dashboard.json';
const ALERTS = 'deploy/prometheus/alerts.yml';
const ALERT_TESTS = 'deploy/prometheus/alerts.test.yml';
const PROM_CONFIG = 'deploy/prometheus/prometheus.yml';
const DOC = 'docs/metrics.md';
// biome-ignore lint/suspicious/noTemplateCurlyInString: Grafana's variable syntax, not a template literal.
const DS_UID = '${datasource}';

type MetricKind = 'counter' | 'gauge' | 'histogram';

/** The metrics a gateway registers itself (no prom-client default metrics), from a real registry. */
function registeredMetrics() {
  return new GatewayMetrics({ defaultMetrics: false }).registry.getMetricsAsArray();
}

/**
 * What the gateway exports, by name: read from src/metrics/metrics.ts, so a metric added there
 * without dashboard and docs/metrics.md coverage fails this test.
 */
function gatewayMetrics(): Record<string, MetricKind> {
  const out: Record<string, MetricKind> = {};
  for (const m of registeredMetrics()) {
    // prom-client types `type` as a numeric enum; at run time it is the text-format type.
    if (m.name.startsWith('gateway_')) out[m.name] = String(m.type) as MetricKind;
  }
  return out;
}
const GATEWAY_METRICS = gatewayMetrics();

/** prom-client's default metrics (no prefix) that deploy/ uses. */
const RUNTIME_METRICS = [
  'process_resident_memory_bytes',
  'process_cpu_seconds_total',
  'nodejs_eventloop_lag_seconds',
  'nodejs_eventloop_lag_p99_seconds',
  'nodejs_active_handles_total',
  'nodejs_heap_size_used_bytes',
];

/** Series names a query may select: histograms as _bucket, _sum and _count. */
const SERIES = new Set<string>([
  ...RUNTIME_METRICS,
  ...Object.entries(GATEWAY_METRICS).flatMap(([name, type]) =>
    type === 'histogram' ? [`${name}_bucket`, `${name}_sum`, `${name}_count`] : [name],
  ),
]);

// ------------------------------------------------------------------------------- PromQL scanning

/** Aggregators, operators and modifiers that are not metric names when not followed by "(". */
const PROMQL_WORDS = new Set([
  'sum',
  'min',
  'max',
  'avg',
  'group',
  'stddev',
  'stdvar',
  'count',
  'count_values',
  'bottomk',
  'topk',
  'quantile',
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'and',
  'or',
  'unless',
  'offset',
  'bool',
  'atan2',
  'inf',
  'nan',
]);

interface Selector {
  name: string;
  matchers: { label: string; op: string; value: string }[];
}

function skipString(s: string, i: number): number {
  const quote = s[i];
  let j = i + 1;
  while (j < s.length && s[j] !== quote) j += s[j] === '\\' ? 2 : 1;
  return j + 1;
}

function parseMatchers(body: string): Selector['matchers'] {
  const out: Selector['matchers'] = [];
  const re = /([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"/g;
  for (const m of body.matchAll(re)) out.push({ label: m[1]!, op: m[2]!, value: m[3]! });
  return out;
}

/**
 * The series selectors of a PromQL expression: every metric name with its label matchers. A bare
 * `{...}` selector yields name "". Good enough for the queries of this repository, not a parser.
 */
function promqlSelectors(expr: string): Selector[] {
  // Label lists of grouping modifiers are not selectors.
  const s = expr.replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, '$1');
  const out: Selector[] = [];
  let i = 0;
  while (i < s.length) {
    const c = s[i]!;
    if (c === '"' || c === "'" || c === '`') {
      i = skipString(s, i);
    } else if (c === '[') {
      i = s.indexOf(']', i) + 1 || s.length;
    } else if (c === '#') {
      i = s.indexOf('\n', i) + 1 || s.length;
    } else if (/[0-9]/.test(c) || (c === '.' && /[0-9]/.test(s[i + 1] ?? ''))) {
      while (i < s.length && /[0-9A-Za-z._]/.test(s[i]!)) i++;
    } else if (c === '{') {
      const end = selectorEnd(s, i);
      out.push({ name: '', matchers: parseMatchers(s.slice(i + 1, end - 1)) });
      i = end;
    } else if (/[A-Za-z_:]/.test(c)) {
      let j = i;
      while (j < s.length && /[A-Za-z0-9_:]/.test(s[j]!)) j++;
      const word = s.slice(i, j);
      let k = j;
      while (k < s.length && /\s/.test(s[k]!)) k++;
      if (s[k] === '(') {
        i = j; // function or aggregator call
      } else if (PROMQL_WORDS.has(word.toLowerCase())) {
        i = j;
      } else if (s[k] === '{') {
        const end = selectorEnd(s, k);
        out.push({ name: word, matchers: parseMatchers(s.slice(k + 1, end - 1)) });
        i = end;
      } else {
        out.push({ name: word, matchers: [] });
        i = j;
      }
    } else {
      i++;
    }
  }
  return out;
}

function selectorEnd(s: string, open: number): number {
  let i = open + 1;
  while (i < s.length && s[i] !== '}') i = s[i] === '"' || s[i] === "'" ? skipString(s, i) : i + 1;
  return i + 1;
}

describe('promqlSelectors (the scanner this test relies on)', () => {
  it('finds metric names and matchers, ignoring functions, aggregators, label lists and durations', () => {
    const sel = promqlSelectors(
      'histogram_quantile(0.99, sum by (le, instance) (rate(a_bucket{x="1", y=~"$v"}[5m]))) > 1.5 ' +
        'and on (job, instance) b offset 5m / sum without (le) (c{z!="}"}) * 60',
    );
    expect(sel.map((s) => s.name)).toEqual(['a_bucket', 'b', 'c']);
    expect(sel[0]!.matchers).toEqual([
      { label: 'x', op: '=', value: '1' },
      { label: 'y', op: '=~', value: '$v' },
    ]);
    expect(sel[2]!.matchers).toEqual([{ label: 'z', op: '!=', value: '}' }]);
  });
});

describe('gateway metrics (read from src/metrics/metrics.ts)', () => {
  it('come from the registry with a counter, gauge or histogram type, the seed metrics among them', () => {
    const names = Object.keys(GATEWAY_METRICS);
    expect(names.length).toBeGreaterThanOrEqual(25);
    for (const [name, type] of Object.entries(GATEWAY_METRICS)) {
      expect(['counter', 'gauge', 'histogram'], `${name}: type`).toContain(type);
    }
    expect(GATEWAY_METRICS).toMatchObject({
      gateway_requests_total: 'counter',
      gateway_request_duration_seconds: 'histogram',
      gateway_sessions_current: 'gauge',
      gateway_build_info: 'gauge',
    });
  });

  it('all carry the gateway_ prefix, so none escapes the coverage checks below', () => {
    const unprefixed = registeredMetrics()
      .map((m) => m.name)
      .filter((n) => !n.startsWith('gateway_'));
    expect(unprefixed).toEqual([]);
  });
});

// ------------------------------------------------------------------------------------ promtool

function findPromtool(): string | null {
  const bin = process.env.PROMTOOL || 'promtool';
  const r = spawnSync(bin, ['--version'], { encoding: 'utf8' });
  return r.error || r.status !== 0 ? null : bin;
}

const promtool = findPromtool();
const inCI = !!process.env.CI && !['0', 'false'].includes(process.env.CI.toLowerCase());
const itPromtool = promtool || inCI ? it : it.skip;

function runPromtool(...args: string[]) {
  if (!promtool) {
    throw new Error(
      'promtool not found on PATH: install the Debian package "prometheus" ' +
        '(apt-get update && apt-get install -y prometheus) or set PROMTOOL=/path/to/promtool',
    );
  }
  const r = spawnSync(promtool, args, { cwd: root, encoding: 'utf8', timeout: 60_000 });
  const output = `$ promtool ${args.join(' ')}\n${r.stdout ?? ''}${r.stderr ?? ''}${r.error ?? ''}`;
  expect(r.status, output).toBe(0);
  return output;
}

describe(`promtool${promtool ? '' : ' (not installed)'}`, () => {
  itPromtool('check rules accepts deploy/prometheus/alerts.yml', () => {
    expect(runPromtool('check', 'rules', '--lint-fatal', ALERTS)).toMatch(/SUCCESS: \d+ rules found/);
  });

  itPromtool('check config accepts deploy/prometheus/prometheus.yml and the rule file it loads', () => {
    // rule_files are resolved relative to the config file's directory.
    const out = runPromtool('check', 'config', PROM_CONFIG);
    expect(out).toMatch(/SUCCESS: 1 rule files found/);
    expect(out).toMatch(/alerts\.yml/);
  });

  itPromtool('test rules passes deploy/prometheus/alerts.test.yml', () => {
    expect(runPromtool('test', 'rules', ALERT_TESTS)).toMatch(/SUCCESS/);
  });
});

// ----------------------------------------------------------------------------------- dashboard

interface Target {
  expr?: string;
  refId?: string;
  datasource?: { type?: string; uid?: string };
}
interface Panel {
  id: number;
  type: string;
  title: string;
  datasource?: { type?: string; uid?: string };
  targets?: Target[];
  panels?: Panel[];
  gridPos: { h: number; w: number; x: number; y: number };
}

const dashboard = JSON.parse(read(DASHBOARD)) as {
  uid: string;
  title: string;
  schemaVersion: number;
  __inputs?: unknown;
  panels: Panel[];
  templating: { list: Record<string, unknown>[] };
};

function allPanels(panels: Panel[]): Panel[] {
  return panels.flatMap((p) => [p, ...allPanels(p.panels ?? [])]);
}

const panels = allPanels(dashboard.panels);
const queryPanels = panels.filter((p) => p.type !== 'row');
const targets = queryPanels.flatMap((p) => (p.targets ?? []).map((t) => ({ panel: p.title, ...t })));

describe('Grafana dashboard', () => {
  it('is importable as is: uid game-gateway, no __inputs, a current schema', () => {
    expect(dashboard.uid).toBe('game-gateway');
    expect(dashboard.title).toBeTruthy();
    expect(dashboard.__inputs).toBeUndefined();
    expect(dashboard.schemaVersion).toBeGreaterThanOrEqual(36);
    expect(read(DASHBOARD)).not.toMatch(/\$\{DS_/); // no placeholders of an exported dashboard
  });

  it('has the datasource and instance variables', () => {
    const vars = new Map(dashboard.templating.list.map((v) => [v.name as string, v]));
    const ds = vars.get('datasource');
    expect(ds, 'templating variable "datasource"').toBeDefined();
    expect(ds).toMatchObject({ type: 'datasource', query: 'prometheus' });

    const instance = vars.get('instance');
    expect(instance, 'templating variable "instance"').toBeDefined();
    expect(instance).toMatchObject({
      type: 'query',
      multi: true,
      includeAll: true,
      datasource: { uid: DS_UID },
    });
    const q = instance!.query as string | { query: string };
    const query = typeof q === 'string' ? q : q.query;
    expect(query.replace(/\s+/g, '')).toBe('label_values(gateway_build_info,instance)');
  });

  it('has the rows of the seed (overview, per cmd, players, backends, push & sessions, resources) and cluster', () => {
    const rows = panels.filter((p) => p.type === 'row').map((p) => p.title);
    expect(rows).toEqual([
      'Overview',
      'Per cmd',
      'Players',
      'Backends',
      'Push & sessions',
      'Resources',
      'Cluster (Redis)',
    ]);
  });

  it('gives every panel a unique id and a place of its own on the 24-column grid', () => {
    const ids = panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const p of panels) {
      expect(p.gridPos.x + p.gridPos.w, p.title).toBeLessThanOrEqual(24);
      expect(p.gridPos.h, p.title).toBeGreaterThan(0);
    }
    const overlap = (a: Panel['gridPos'], b: Panel['gridPos']) =>
      a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;
    for (const [i, a] of panels.entries()) {
      for (const b of panels.slice(i + 1)) {
        expect(overlap(a.gridPos, b.gridPos), `"${a.title}" overlaps "${b.title}"`).toBe(false);
      }
    }
  });

  it('queries the datasource variable from every panel and target', () => {
    expect(queryPanels.length).toBeGreaterThan(20);
    for (const p of queryPanels) {
      expect(p.datasource?.uid, p.title).toBe(DS_UID);
      expect(p.targets?.length, `${p.title}: targets`).toBeGreaterThan(0);
    }
    for (const t of targets) {
      if (t.datasource) expect(t.datasource.uid, t.panel).toBe(DS_UID);
    }
  });

  it('uses only exported metric names, each selector filtered by instance=~"$instance"', () => {
    for (const t of targets) {
      expect(t.expr, `${t.panel}/${t.refId}: expr`).toBeTruthy();
      const selectors = promqlSelectors(t.expr!);
      expect(selectors.length, `${t.panel}: ${t.expr}`).toBeGreaterThan(0);
      for (const sel of selectors) {
        expect(SERIES.has(sel.name), `${t.panel}: unknown metric "${sel.name}" in ${t.expr}`).toBe(true);
        expect(
          sel.matchers.some((m) => m.label === 'instance' && m.op === '=~' && m.value === '$instance'),
          `${t.panel}: ${sel.name} lacks instance=~"$instance" in ${t.expr}`,
        ).toBe(true);
      }
    }
  });

  itPromtool('has queries Prometheus can parse (promtool check rules on them as recording rules)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'gateway-dashboard-'));
    try {
      const rulesFile = join(dir, 'dashboard-queries.yml');
      const records = targets.map((t, i) => ({
        record: `dashboard:query_${i}`,
        expr: t.expr!.replaceAll('$instance', '.*'),
      }));
      writeFileSync(rulesFile, stringifyYaml({ groups: [{ name: 'dashboard', rules: records }] }));
      expect(runPromtool('check', 'rules', rulesFile)).toContain(`SUCCESS: ${records.length} rules found`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('shows every gateway metric somewhere, and the seed overview queries', () => {
    const used = new Set(targets.flatMap((t) => promqlSelectors(t.expr!).map((s) => s.name)));
    for (const [name, type] of Object.entries(GATEWAY_METRICS)) {
      const series = type === 'histogram' ? `${name}_bucket` : name;
      expect(used.has(series), `dashboard does not show ${series}`).toBe(true);
    }
    for (const name of RUNTIME_METRICS) expect(used.has(name), `dashboard does not show ${name}`).toBe(true);

    const exprs = targets.map((t) => t.expr!.replace(/\s+/g, ''));
    expect(exprs).toContain('sum(rate(gateway_requests_total{instance=~"$instance"}[1m]))');
    expect(exprs).toContain('sum(gateway_sessions_current{instance=~"$instance",status="authed"})');
    expect(exprs.some((e) => e.includes('player_id!=""'))).toBe(true);
  });
});

// -------------------------------------------------------------------------------- alert rules

interface Rule {
  alert?: string;
  record?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

const rules = (parseYaml(read(ALERTS)) as { groups: { name: string; rules: Rule[] }[] }).groups.flatMap(
  (g) => g.rules,
);
const alerts = new Map(rules.filter((r) => r.alert).map((r) => [r.alert!, r]));

describe('alert rules', () => {
  it('has the seed alerts with the seed thresholds', () => {
    const expr = (name: string) => {
      expect(alerts.has(name), `alert ${name}`).toBe(true);
      return alerts.get(name)!.expr.replace(/\s+/g, ' ');
    };
    expect(expr('GatewayErrorSurge')).toMatch(/rate\(gateway_errors_total\[5m\]\)\) > 10$/);
    expect(expr('GatewayHighLatencyP99')).toMatch(
      /^histogram_quantile\(0\.99, .*rate\(gateway_request_duration_seconds_bucket\[5m\]\).* > 1\.5$/,
    );
    const down = expr('GatewayBackendDown');
    expect(down).toMatch(/rate\(gateway_backend_errors_total\{[^}]*\}\[2m\]\)/);
    expect(down).toMatch(/> 5$/);
    const codes = promqlSelectors(down)[0]!.matchers.find((m) => m.label === 'status_code')!;
    expect(new RegExp(`^(?:${codes.value})$`).test('500'), 'GatewayBackendDown still catches 500').toBe(true);
    expect(expr('GatewayAbusivePlayer')).toMatch(
      /^sum by \(player_id\) \(rate\(gateway_requests_total\{player_id!=""\}\[5m\]\)\) \* 60 > 1000$/,
    );
  });

  it('gives every alert a for duration, a severity and summary/description annotations', () => {
    expect(alerts.size).toBeGreaterThanOrEqual(8);
    for (const [name, r] of alerts) {
      expect(r.for, `${name}: for`).toMatch(/^\d+[smh]$/);
      expect(['critical', 'warning', 'info'], `${name}: severity`).toContain(r.labels?.severity);
      expect(r.annotations?.summary, `${name}: summary`).toBeTruthy();
      expect(r.annotations?.description, `${name}: description`).toBeTruthy();
    }
  });

  it('uses only exported metric names (and up)', () => {
    for (const r of rules) {
      for (const sel of promqlSelectors(r.expr)) {
        expect(
          SERIES.has(sel.name) || sel.name === 'up',
          `${r.alert ?? r.record}: unknown metric "${sel.name}" in ${r.expr}`,
        ).toBe(true);
      }
    }
  });

  it('has a unit test that makes every alert fire', () => {
    const spec = parseYaml(read(ALERT_TESTS)) as {
      rule_files: string[];
      tests: { alert_rule_test?: { alertname: string; exp_alerts?: unknown[] }[] }[];
    };
    expect(spec.rule_files).toEqual(['alerts.yml']);
    const fired = new Set(
      spec.tests.flatMap((t) =>
        (t.alert_rule_test ?? []).filter((a) => (a.exp_alerts ?? []).length > 0).map((a) => a.alertname),
      ),
    );
    for (const name of alerts.keys()) expect(fired.has(name), `no firing test for ${name}`).toBe(true);
  });

  it('matches the scrape job of the example config (GatewayDown)', () => {
    const config = parseYaml(read(PROM_CONFIG)) as {
      rule_files: string[];
      scrape_configs: { job_name: string; metrics_path?: string; static_configs: { targets: string[] }[] }[];
    };
    expect(config.rule_files).toContain('alerts.yml');
    const job = config.scrape_configs.find((j) => j.job_name === 'game-gateway');
    expect(job, 'scrape job game-gateway').toBeDefined();
    expect(job!.metrics_path ?? '/metrics').toBe('/metrics');
    expect(job!.static_configs.flatMap((s) => s.targets)).toContain('127.0.0.1:7002');
    const up = promqlSelectors(alerts.get('GatewayDown')!.expr)[0]!;
    expect(up.name).toBe('up');
    expect(up.matchers).toContainEqual({ label: 'job', op: '=', value: job!.job_name });
  });
});

// ------------------------------------------------------------------------------------- docs

describe('docs/metrics.md', () => {
  const doc = read(DOC);
  it('documents every metric and every alert', () => {
    for (const name of [...Object.keys(GATEWAY_METRICS), ...RUNTIME_METRICS]) {
      expect(doc.includes(`\`${name}\``), `docs/metrics.md does not mention ${name}`).toBe(true);
    }
    for (const name of alerts.keys()) {
      expect(doc.includes(name), `docs/metrics.md does not mention alert ${name}`).toBe(true);
    }
  });
});
