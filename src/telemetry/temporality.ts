/**
 * Delta temporality for the OTLP push (OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE).
 *
 * The series store keeps cumulative points: Prometheus needs them, and they are OTLP's default.
 * Some backends take only deltas for sums and histograms (Dynatrace among them; Datadog and New
 * Relic prefer them). With `delta` or `lowmemory` the OTLP reader's collections go through a
 * `DeltaConverter`, which remembers what the previous push carried for each series and sends the
 * difference, with the previous push's time as the point's start, as the OpenTelemetry SDK's own
 * delta readers do. The choice of instruments follows the SDK's exporters:
 *  - `delta`: counters, observable counters and histograms are deltas;
 *  - `lowmemory`: counters and histograms are deltas, observable counters (the process CPU
 *    seconds) stay cumulative;
 *  - gauges are gauges either way (OTLP gauges carry no temporality).
 *
 * What a delta cannot say: a histogram's min and max over the interval (the store keeps them over
 * the series' life), so delta histogram points carry neither after the series' first push.
 * A series whose figures did not move since the last push is left out of the push, as the SDK's
 * delta readers leave out attribute sets nothing was recorded for. A series that was removed and
 * came back (its start time changed) starts afresh.
 *
 * Cost: one remembered value per sum series and one counts array per histogram series, held only
 * when a delta preference is set.
 */
import type { Attributes, HrTime } from '@opentelemetry/api';
import {
  AggregationTemporality,
  DataPointType,
  type CollectionResult,
  type DataPoint,
  type Histogram,
  type MetricData,
} from '@opentelemetry/sdk-metrics';
import { ALL_METRICS } from './catalog.js';
import type { TemporalityPreference } from './options.js';
import { attributesKey } from './series-store.js';

/** Names of the observable counters, which `lowmemory` keeps cumulative. */
const OBSERVABLE_COUNTERS: ReadonlySet<string> = new Set(ALL_METRICS.filter((m) => m.kind === 'observable_counter').map((m) => m.name));

interface SumState {
  start: HrTime;
  time: HrTime;
  value: number;
}

interface HistogramState {
  start: HrTime;
  time: HrTime;
  counts: number[];
  count: number;
  sum: number | undefined;
}

function sameTime(a: HrTime, b: HrTime): boolean {
  return a[0] === b[0] && a[1] === b[1];
}

/** Turns the store's cumulative collections into deltas for the metrics the preference names. */
export class DeltaConverter {
  /** What the previous collection carried, by metric name and attributes key. */
  private sums = new Map<string, Map<string, SumState>>();
  private histograms = new Map<string, Map<string, HistogramState>>();

  constructor(private readonly preference: Exclude<TemporalityPreference, 'cumulative'>) {}

  /**
   * The collection with deltas in place of the cumulative points the preference names; remembers
   * what it sent. State is rebuilt from each collection, so a series or metric that is gone is forgotten.
   */
  convert(result: CollectionResult): CollectionResult {
    const sums = new Map<string, Map<string, SumState>>();
    const histograms = new Map<string, Map<string, HistogramState>>();
    const withDeltas = <V>(md: MetricData, dataPoints: DataPoint<V>[]): MetricData[] =>
      dataPoints.length === 0 ? [] : [{ ...md, aggregationTemporality: AggregationTemporality.DELTA, dataPoints } as MetricData];
    const scopeMetrics = result.resourceMetrics.scopeMetrics.map((sm) => ({
      scope: sm.scope,
      metrics: sm.metrics.flatMap((md): MetricData[] => {
        const name = md.descriptor.name;
        if (md.dataPointType === DataPointType.HISTOGRAM) {
          const { points, state } = deltas(this.histograms.get(name), md.dataPoints, rememberHistogram, histogramDiff);
          histograms.set(name, state);
          return withDeltas(md, points);
        }
        // Monotonic sums are counters; `lowmemory` keeps the observable ones cumulative.
        if (md.dataPointType === DataPointType.SUM && md.isMonotonic && (this.preference === 'delta' || !OBSERVABLE_COUNTERS.has(name))) {
          const { points, state } = deltas(this.sums.get(name), md.dataPoints, rememberSum, sumDiff);
          sums.set(name, state);
          return withDeltas(md, points);
        }
        return [md];
      }),
    }));
    this.sums = sums;
    this.histograms = histograms;
    return {
      resourceMetrics: { resource: result.resourceMetrics.resource, scopeMetrics: scopeMetrics.filter((sm) => sm.metrics.length > 0) },
      errors: result.errors,
    };
  }
}

function rememberSum(p: DataPoint<number>): SumState {
  return { start: p.startTime, time: p.endTime, value: p.value };
}

/** A counter's change since `last` (see `deltas` for null and undefined). */
function sumDiff(v: number, last: SumState): number | null | undefined {
  return v < last.value ? undefined : v === last.value ? null : v - last.value;
}

function rememberHistogram(p: DataPoint<Histogram>): HistogramState {
  return { start: p.startTime, time: p.endTime, counts: p.value.buckets.counts.slice(), count: p.value.count, sum: p.value.sum };
}

/** A histogram's change since `last` (see `deltas` for null and undefined). */
function histogramDiff(h: Histogram, last: HistogramState): Histogram | null | undefined {
  if (last.counts.length !== h.buckets.counts.length || h.count < last.count) return undefined;
  if (h.count === last.count) return null;
  return {
    buckets: { boundaries: h.buckets.boundaries, counts: h.buckets.counts.map((c, i) => c - last.counts[i]!) },
    count: h.count - last.count,
    sum: h.sum === undefined || last.sum === undefined ? undefined : h.sum - last.sum,
    // The interval's extremes are unknown (see the file header).
    min: undefined,
    max: undefined,
  };
}

/**
 * One metric's delta points and the state to remember for the next collection. `diff` gives the
 * change since `last`: null when there is none (the series is left out), undefined when it cannot
 * be told (a total went down), and then the whole value since the series' start is sent.
 */
function deltas<V, S extends { start: HrTime; time: HrTime }>(
  prev: Map<string, S> | undefined,
  points: DataPoint<V>[],
  remember: (p: DataPoint<V>) => S,
  diff: (now: V, last: S) => V | null | undefined,
): { points: DataPoint<V>[]; state: Map<string, S> } {
  const state = new Map<string, S>();
  const out: DataPoint<V>[] = [];
  for (const p of points) {
    const key = attributesKey(p.attributes);
    const last = prev?.get(key);
    state.set(key, remember(p));
    // A series seen for the first time, or back with a new start, sends everything since its start.
    const d = last && sameTime(last.start, p.startTime) ? diff(p.value, last) : undefined;
    if (d === null) continue;
    out.push(d === undefined ? point(p.attributes, p.startTime, p.endTime, p.value) : point(p.attributes, last!.time, p.endTime, d));
  }
  return { points: out, state };
}

function point<T>(attributes: Attributes, startTime: HrTime, endTime: HrTime, value: T): DataPoint<T> {
  return { attributes, startTime, endTime, value };
}
