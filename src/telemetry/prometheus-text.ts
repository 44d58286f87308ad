/**
 * The Prometheus text exposition format 0.0.4, written straight from the series store.
 *
 * It produces exactly what `@opentelemetry/exporter-prometheus`'s PrometheusSerializer produces
 * with `withoutScopeInfo` (a test holds the two to byte equality): `target_info` from the
 * resource, then per metric HELP, UNIT and TYPE lines and its samples, counters with `_total`,
 * histograms as `_count`, `_sum` and cumulative `_bucket{le}` lines.
 *
 * Why not call that serializer: with 1,000 targets the exposition has ~46,000 lines, and the
 * serializer re-escapes every label of every line on every scrape (hundreds of milliseconds).
 * Here each series' text (name and labels, and every bucket line's prefix) is built once, when
 * the series is created, and a scrape only formats the values and joins.
 */
import type { Attributes } from '@opentelemetry/api';

/** Histogram buckets as the SDK holds them: `counts` has one more entry than `boundaries` (+Inf). */
export interface TextHistogram {
  buckets: { boundaries: readonly number[]; counts: readonly number[] };
  count: number;
  sum?: number;
}

function escapeHelp(s: string): string {
  return s.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

function escapeLabelValue(v: unknown): string {
  const s = typeof v === 'string' ? v : v === undefined ? '' : JSON.stringify(v);
  return s.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

/** Prometheus-safe name: characters outside [a-zA-Z0-9_] become '_' (runs collapsed). */
export function sanitizeName(name: string): string {
  return name.replace(/[^a-z0-9_]/gi, '_').replace(/_{2,}/g, '_');
}

/** Label text (`k="v",k2="v2"`) of an attribute set, in the set's key order. */
export function formatLabels(attributes: Attributes): string {
  let out = '';
  for (const key of Object.keys(attributes)) {
    if (out !== '') out += ',';
    out += `${sanitizeName(key)}="${escapeLabelValue(attributes[key])}"`;
  }
  return out;
}

function valueText(v: number): string {
  return v === Infinity ? '+Inf' : v === -Infinity ? '-Inf' : `${v}`;
}

/**
 * Per-series text the writer reuses from scrape to scrape. The caller keeps one per series
 * (created by `seriesText`); only values are formatted on each scrape.
 */
export interface SeriesText {
  /** `name{labels} ` / `name ` for a counter or gauge sample. */
  sample: string;
  /** For histograms: `name_count{labels} `, `name_sum{labels} `, and one `name_bucket{labels,le="b"} ` per bucket. */
  count?: string;
  sum?: string;
  buckets?: string[];
}

/** The exposed name of a metric (counters get `_total`). */
export function exposedMetricName(name: string, type: TextFamily['type']): string {
  return type === 'counter' && !name.endsWith('_total') ? `${name}_total` : name;
}

/** Builds the reusable text of one series. `boundaries` only for histograms. */
export function seriesText(exposedName: string, labels: string, boundaries?: readonly number[]): SeriesText {
  const braced = labels === '' ? '' : `{${labels}}`;
  if (!boundaries) return { sample: `${exposedName}${braced} ` };
  const sep = labels === '' ? '' : ',';
  const buckets = [...boundaries.map((b) => String(b)), '+Inf'].map((le) => `${exposedName}_bucket{${labels}${sep}le="${le}"} `);
  return { sample: '', count: `${exposedName}_count${braced} `, sum: `${exposedName}_sum${braced} `, buckets };
}

/** A series ready to write: its cached text and its current value. */
export interface TextSeries {
  text: SeriesText;
  value: number | TextHistogram;
}

/** One metric family as the fast writer takes it. */
export interface TextFamily {
  exposedName: string;
  help: string;
  unit: string;
  type: 'counter' | 'gauge' | 'histogram';
  series: Iterable<TextSeries>;
}

/** The `target_info` block of a resource. */
export function targetInfo(resource: Attributes): string {
  const labels = formatLabels(resource);
  return `# HELP target_info Target metadata\n# TYPE target_info gauge\ntarget_info${labels === '' ? '' : `{${labels}}`} 1\n`;
}

/**
 * Writes the exposition from families whose series carry cached text (the scrape path). Plain
 * `+=` on one string: V8 builds a rope and flattens it once, about twice as fast here as
 * collecting the pieces in an array and joining them.
 */
export function writeFamilies(targetInfoText: string, families: Iterable<TextFamily>): string {
  let out = targetInfoText;
  let any = false;
  for (const f of families) {
    let header = false;
    for (const s of f.series) {
      if (!header) {
        header = true;
        any = true;
        const unit = f.unit ? `# UNIT ${f.exposedName} ${escapeHelp(f.unit)}\n` : '';
        out += `# HELP ${f.exposedName} ${escapeHelp(f.help || 'description missing')}\n${unit}# TYPE ${f.exposedName} ${f.type}\n`;
      }
      if (typeof s.value === 'number') {
        out += s.text.sample + valueText(s.value) + '\n';
        continue;
      }
      const h = s.value;
      out += s.text.count! + h.count + '\n';
      if (h.sum !== undefined) out += s.text.sum! + valueText(h.sum) + '\n';
      const counts = h.buckets.counts;
      const lines = s.text.buckets!;
      let cumulative = 0;
      for (let i = 0; i < counts.length; i++) {
        cumulative += counts[i]!;
        out += lines[i]! + cumulative + '\n';
      }
    }
  }
  if (!any) out += '# no registered metrics';
  return out;
}
