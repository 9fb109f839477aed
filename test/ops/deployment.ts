/**
 * The deployment files the ops suites check (paths below the repository root), and readers for the
 * dashboards and alert rules: their queries, template variables, and the metric names gmessenger exports.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import client from 'prom-client';
import { registry } from '../../common/metrics.js';
import { ROOT } from '../../launcher/index.js';

export const file = (p: string) => path.join(ROOT, p);
export const COMPOSE = file('docker-compose.yml');
export const PROMETHEUS_YML = file('grafana/prometheus.yml');
export const ALERTS = file('grafana/alerts.yml');
export const ALERT_TESTS = file('grafana/alerts.test.yml');
export const HAPROXY = file('deploy/haproxy.cfg');
export const DASHBOARD_DIR = file('grafana/dashboards');
export const DATASOURCES = file('grafana/provisioning/datasources/prometheus.yml');

/** Service kind of a compose service, from the entry its command runs. */
export const ENTRY_KIND: Record<string, string> = {
  'dist/gateway/main.js': 'gateway',
  'dist/shards/main.js': 'shard',
  'dist/relay/main.js': 'relay',
  'dist/presence/main.js': 'presence',
  'dist/scripts/migrate.js': 'migrate',
};
export const SERVICE_JOBS = ['gateway', 'shard', 'relay', 'presence'];

// ---------------------------------------------------------------- dashboards

export interface Target {
  refId: string;
  expr: string;
}
export interface Panel {
  id: number;
  type: string;
  title: string;
  gridPos: { x: number; y: number; w: number; h: number };
  datasource?: { type: string; uid: string };
  targets?: Target[];
  panels?: Panel[];
}
export interface Variable {
  name: string;
  type: string;
  query: string | { query: string };
}
export interface Dashboard {
  uid: string;
  title: string;
  panels: Panel[];
  templating: { list: Variable[] };
}

export function dashboards(): { file: string; json: Dashboard }[] {
  return fs
    .readdirSync(DASHBOARD_DIR)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => ({
      file: f,
      json: JSON.parse(fs.readFileSync(path.join(DASHBOARD_DIR, f), 'utf8')) as Dashboard,
    }));
}

export function panelsOf(d: Dashboard): Panel[] {
  return d.panels.flatMap((p) => [p, ...(p.panels ?? [])]).filter((p) => p.type !== 'row');
}

/** Every panel query as Prometheus will receive it: Grafana's variables replaced by what "All" and a 1m window give. */
export function panelQueries(): { where: string; expr: string }[] {
  return dashboards().flatMap(({ file: f, json }) =>
    panelsOf(json).flatMap((p) =>
      (p.targets ?? []).map((t) => ({ where: `${f} "${p.title}" ${t.refId}`, expr: substitute(t.expr) })),
    ),
  );
}

export function substitute(expr: string): string {
  const out = expr
    .replace(/\$__rate_interval|\$\{__rate_interval\}/g, '1m')
    .replace(/\$__interval|\$\{__interval\}/g, '15s')
    .replace(/\$__range|\$\{__range\}/g, '5m')
    .replace(/\$\{?(service|instance)\}?/g, '.+');
  assert.doesNotMatch(out, /\$/, `unresolved variable in ${expr}`);
  return out;
}

/** `label_values(<selector>, <label>)` of a template variable, as a PromQL query with one series per value. */
export function variableQueries(): { where: string; expr: string }[] {
  return dashboards().flatMap(({ file: f, json }) =>
    json.templating.list
      .filter((v) => v.type === 'query')
      .map((v) => {
        const q = typeof v.query === 'string' ? v.query : v.query.query;
        const m = /^label_values\((.+),\s*(\w+)\)$/.exec(q.trim());
        assert.ok(m, `${f} variable ${v.name}: only label_values(<selector>, <label>) is used, got ${q}`);
        return { where: `${f} variable $${v.name}`, expr: `count by (${m[2]}) (${substitute(m[1]!)})` };
      }),
  );
}

/** An alert expression `<signal> <op> <threshold>` split in two; null when it has another shape. */
export function splitAlert(expr: string): { signal: string; op: string; threshold: string } | null {
  const m = /^([\s\S]*?)\s*(==|!=|>=|<=|>|<)\s*(-?[0-9.]+(?:e[+-]?\d+)?)\s*$/.exec(expr.trim());
  return m ? { signal: m[1]!, op: m[2]!, threshold: m[3]! } : null;
}

/** Metric names Prometheus can see from gmessenger: the catalog plus the default Node metrics (gm_ prefix). */
export async function knownMetricNames(): Promise<{ catalog: Set<string>; all: Set<string> }> {
  const expand = (m: { name: string; type: string }) =>
    m.type === 'histogram'
      ? [m.name, `${m.name}_bucket`, `${m.name}_count`, `${m.name}_sum`]
      : m.type === 'summary'
        ? [m.name, `${m.name}_count`, `${m.name}_sum`]
        : [m.name];
  const catalog = new Set(
    (await registry.getMetricsAsJSON()).filter((m) => m.name.startsWith('gm_')).map((m) => m.name),
  );
  const defaults = new client.Registry();
  client.collectDefaultMetrics({ register: defaults, prefix: 'gm_' });
  const all = new Set<string>();
  for (const m of [...(await registry.getMetricsAsJSON()), ...(await defaults.getMetricsAsJSON())]) {
    for (const n of expand({ name: m.name, type: String(m.type) })) all.add(n);
  }
  return { catalog, all };
}
