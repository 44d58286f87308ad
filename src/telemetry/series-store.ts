/**
 * A cumulative series store that can forget series, fed by the SDK's instruments.
 *
 * Why it exists: with cumulative temporality (what Prometheus needs, and the OTLP default) the
 * OpenTelemetry JS SDK keeps every attribute set it has ever seen, for synchronous and
 * asynchronous instruments alike (`TemporalMetricProcessor.merge` never drops a key), so the
 * series of a removed target would be exported for ever. The SDK has no API to delete a series.
 *
 * So the instruments live on a MeterProvider read only by a `DeltaReader` (delta temporality: the
 * SDK forgets everything after each collection), and this store turns those deltas back into
 * cumulative points it owns: sums and histograms are added up, gauges are replaced by what the
 * observable callbacks reported in this collection. Removing a target deletes its points here.
 * The store is a `MetricProducer`, so the SDK's own readers (the Prometheus exporter, the OTLP
 * periodic reader) read from it on a second MeterProvider without instruments.
 */
import type { Attributes, HrTime } from '@opentelemetry/api';
import type { InstrumentationScope } from '@opentelemetry/core';
import {
  AggregationTemporality,
  DataPointType,
  MetricReader,
  type CollectionResult,
  type DataPoint,
  type Histogram,
  type MetricData,
  type MetricDescriptor,
  type MetricProducer,
  type ScopeMetrics,
} from '@opentelemetry/sdk-metrics';

/** The SDK reader the store drains: delta temporality, so the SDK keeps nothing between reads. */
export class DeltaReader extends MetricReader {
  constructor(cardinalityLimit: number) {
    super({
      aggregationTemporalitySelector: () => AggregationTemporality.DELTA,
      // The SDK default (2000 per instrument) would fold targets beyond ~600 into an overflow series.
      cardinalitySelector: () => cardinalityLimit,
    });
  }
  protected override async onShutdown(): Promise<void> {}
  protected override async onForceFlush(): Promise<void> {}
}

interface StoredPoint<T> {
  attributes: Attributes;
  startTime: HrTime;
  endTime: HrTime;
  value: T;
}

interface StoredMetric {
  scope: InstrumentationScope;
  descriptor: MetricDescriptor;
  type: DataPointType.SUM | DataPointType.GAUGE | DataPointType.HISTOGRAM;
  isMonotonic: boolean;
  points: Map<string, StoredPoint<number> | StoredPoint<Histogram>>;
}

/** Stable key of an attribute set (attribute order does not matter). */
function attributesKey(attributes: Attributes): string {
  const keys = Object.keys(attributes);
  if (keys.length > 1) keys.sort();
  let out = '';
  for (const k of keys) out += `${k}\u0000${String(attributes[k])}\u0001`;
  return out;
}

function addHistogram(into: Histogram, delta: Histogram): Histogram {
  const counts = into.buckets.counts.slice();
  for (let i = 0; i < counts.length; i++) counts[i] += delta.buckets.counts[i] ?? 0;
  const min = into.min === undefined ? delta.min : delta.min === undefined ? into.min : Math.min(into.min, delta.min);
  const max = into.max === undefined ? delta.max : delta.max === undefined ? into.max : Math.max(into.max, delta.max);
  return {
    buckets: { boundaries: into.buckets.boundaries, counts },
    count: into.count + delta.count,
    sum: into.sum === undefined || delta.sum === undefined ? undefined : into.sum + delta.sum,
    min,
    max,
  };
}

/** Cumulative points built from SDK deltas; see the file header. */
export class SeriesStore implements MetricProducer {
  private readonly metrics = new Map<string, StoredMetric>();
  private readonly pendingRemovals = new Map<string, Set<string>>();
  private chain: Promise<unknown> = Promise.resolve();

  constructor(private readonly reader: DeltaReader) {}

  /**
   * Forgets every series whose `label` equals `value`, at the next collection (after the deltas
   * recorded so far have been drained, so none of them can bring the series back).
   */
  removeSeries(label: string, value: string): void {
    let values = this.pendingRemovals.get(label);
    if (!values) this.pendingRemovals.set(label, (values = new Set()));
    values.add(value);
  }

  /** Cancels a pending removal (the target came back before the next collection). */
  keepSeries(label: string, value: string): void {
    this.pendingRemovals.get(label)?.delete(value);
  }

  /** Drains the SDK and returns cumulative points; calls are serialised. */
  collect(): Promise<CollectionResult> {
    const run = this.chain.then(() => this.drain());
    this.chain = run.catch(() => undefined);
    return run;
  }

  private async drain(): Promise<CollectionResult> {
    const { resourceMetrics, errors } = await this.reader.collect();
    // Gauges describe the present: only what the callbacks reported in this collection survives.
    for (const m of this.metrics.values()) if (m.type === DataPointType.GAUGE) m.points.clear();
    for (const sm of resourceMetrics.scopeMetrics) {
      for (const md of sm.metrics) this.merge(sm.scope, md);
    }
    this.applyRemovals();
    return {
      resourceMetrics: { resource: resourceMetrics.resource, scopeMetrics: this.snapshot() },
      errors,
    };
  }

  private merge(scope: InstrumentationScope, md: MetricData): void {
    if (md.dataPointType === DataPointType.EXPONENTIAL_HISTOGRAM) return; // not used by twampy
    let m = this.metrics.get(md.descriptor.name);
    if (!m) {
      m = {
        scope,
        descriptor: md.descriptor,
        type: md.dataPointType,
        isMonotonic: md.dataPointType === DataPointType.SUM ? md.isMonotonic : false,
        points: new Map(),
      };
      this.metrics.set(md.descriptor.name, m);
    }
    const points = m.points;
    if (md.dataPointType === DataPointType.HISTOGRAM) {
      for (const dp of md.dataPoints) {
        const key = attributesKey(dp.attributes);
        const prev = points.get(key) as StoredPoint<Histogram> | undefined;
        if (prev) {
          prev.value = addHistogram(prev.value, dp.value);
          prev.endTime = dp.endTime;
        } else {
          points.set(key, { attributes: dp.attributes, startTime: dp.startTime, endTime: dp.endTime, value: dp.value });
        }
      }
      return;
    }
    const isSum = md.dataPointType === DataPointType.SUM;
    for (const dp of md.dataPoints as DataPoint<number>[]) {
      const key = attributesKey(dp.attributes);
      const prev = points.get(key) as StoredPoint<number> | undefined;
      if (prev && isSum) {
        prev.value += dp.value;
        prev.endTime = dp.endTime;
      } else if (prev) {
        prev.value = dp.value;
        prev.endTime = dp.endTime;
      } else {
        points.set(key, { attributes: dp.attributes, startTime: dp.startTime, endTime: dp.endTime, value: dp.value });
      }
    }
  }

  private applyRemovals(): void {
    if (this.pendingRemovals.size === 0) return;
    for (const [label, values] of this.pendingRemovals) {
      if (values.size === 0) continue;
      for (const m of this.metrics.values()) {
        for (const [key, p] of m.points) {
          const v = p.attributes[label];
          if (typeof v === 'string' && values.has(v)) m.points.delete(key);
        }
      }
    }
    this.pendingRemovals.clear();
  }

  private snapshot(): ScopeMetrics[] {
    const byScope = new Map<string, ScopeMetrics>();
    for (const m of this.metrics.values()) {
      if (m.points.size === 0) continue;
      let sm = byScope.get(m.scope.name);
      if (!sm) byScope.set(m.scope.name, (sm = { scope: m.scope, metrics: [] }));
      // Copies, so that an exporter still serialising the previous snapshot never sees a change.
      const dataPoints = Array.from(m.points.values(), (p) => ({ ...p }));
      const base = { descriptor: m.descriptor, aggregationTemporality: AggregationTemporality.CUMULATIVE };
      if (m.type === DataPointType.HISTOGRAM) {
        sm.metrics.push({ ...base, dataPointType: DataPointType.HISTOGRAM, dataPoints: dataPoints as DataPoint<Histogram>[] });
      } else if (m.type === DataPointType.SUM) {
        sm.metrics.push({
          ...base,
          dataPointType: DataPointType.SUM,
          isMonotonic: m.isMonotonic,
          dataPoints: dataPoints as DataPoint<number>[],
        });
      } else {
        sm.metrics.push({ ...base, dataPointType: DataPointType.GAUGE, dataPoints: dataPoints as DataPoint<number>[] });
      }
    }
    return Array.from(byScope.values());
  }
}
