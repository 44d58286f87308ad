/**
 * Reading the Grafana dashboards of dashboards/ for tests: panels, their queries, template
 * variables, and the substitution Grafana would do before sending a query to Prometheus.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { repoPath } from './util.js';

export interface PanelQuery {
  dashboard: string;
  panel: string;
  refId: string;
  expr: string;
}

/** Every dashboard JSON file of dashboards/, parsed, by file name. */
export function loadDashboards(): Map<string, any> {
  const dir = repoPath('dashboards');
  const out = new Map<string, any>();
  for (const f of readdirSync(dir).filter((n) => n.endsWith('.json')).sort()) {
    out.set(f, JSON.parse(readFileSync(`${dir}/${f}`, 'utf8')));
  }
  return out;
}

/** The panels of a dashboard, rows' nested panels included, rows themselves excluded. */
export function panelsOf(dashboard: any): any[] {
  const out: any[] = [];
  for (const p of dashboard.panels ?? []) {
    if (p.type === 'row') out.push(...(p.panels ?? []));
    else out.push(p);
  }
  return out;
}

/** Every PromQL expression of every panel. */
export function queriesOf(file: string, dashboard: any): PanelQuery[] {
  return panelsOf(dashboard).flatMap((p) =>
    (p.targets ?? []).map((t: any) => ({ dashboard: file, panel: p.title, refId: t.refId, expr: t.expr })),
  );
}

/** Names of the variables a dashboard defines. */
export function variableNames(dashboard: any): string[] {
  return (dashboard.templating?.list ?? []).map((v: any) => v.name);
}

/** Grafana's built-in variables that our queries may use. */
export const BUILTINS = ['__rate_interval', '__interval', '__range'];

/** `$name` and `${name}` references in a text (`$1` in label_replace is a regex group, not a variable). */
export function variableRefs(text: string): string[] {
  return [...text.matchAll(/\$\{?([A-Za-z_]\w*)\}?/g)].map((m) => m[1]!);
}

/**
 * Substitutes template variables the way Grafana does for Prometheus: a multi-value "All" becomes
 * the variable's allValue (a regex), single values are inserted as they are.
 */
export function substitute(expr: string, values: Record<string, string>): string {
  return expr.replace(/\$\{([A-Za-z_]\w*)\}|\$([A-Za-z_]\w*)/g, (whole, a: string | undefined, b: string | undefined) => {
    const name = (a ?? b)!;
    const v = values[name];
    if (v === undefined) throw new Error(`no value for $${name} in ${expr}`);
    return v;
  });
}

/** A label_values(selector, label) variable query split into its selector and label. */
export function parseLabelValues(query: string): { selector: string; label: string } {
  const m = /^label_values\((.+),\s*(\w+)\)$/.exec(query.trim());
  if (!m) throw new Error(`not a label_values() query: ${query}`);
  return { selector: m[1]!, label: m[2]! };
}

/** Metric names an expression reads (twampy's own series). */
export function metricNames(expr: string): string[] {
  return [...new Set([...expr.matchAll(/\btwampy_[a-z0-9_]+/g)].map((m) => m[0]))];
}
