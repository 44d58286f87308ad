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
 * cumulative points it owns: sums and histograms are added up, a gauge keeps its last value.
 * Two ways to make series go away:
 *  - `removeSeries(label, value)` (a target was removed), applied after the next drain, so that
 *    nothing recorded before the removal can bring the series back;
 *  - a gauge recorded as NaN: "no current value" (a failed round has no latency). NaN travels
 *    through the SDK in order with the other measurements, so a later good value wins again.
 *    NaN is never exported.
 *
 * The store is a `MetricProducer`, so the SDK's periodic OTLP reader reads from it on a second
 * MeterProvider without instruments; the Prometheus text is written straight from it.
 */
import type { Attributes, HrTime } from '@opentelemetry/api';
import type { InstrumentationScope } from '@opentelemetry/core';
import type { Resource } from '@opentelemetry/resources';
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
import { millisToHrTime } from '@opentelemetry/core';
import {
  exposedMetricName,
  formatLabels,
  seriesText,
  targetInfo,
  writeFamilies,
  type SeriesText,
  type TextFamily,
} from './prometheus-text.js';

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
  /** Exposition text of the series, built once. */
  text: SeriesText;
  startTime: HrTime;
  value: T;
}

interface StoredMetric {
  scope: InstrumentationScope;
  descriptor: MetricDescriptor;
  type: DataPointType.SUM | DataPointType.GAUGE | DataPointType.HISTOGRAM;
  isMonotonic: boolean;
  /** Prometheus TYPE and name (counters get `_total`). */
  textType: TextFamily['type'];
  exposedName: string;
  points: Map<string, StoredPoint<number> | StoredPoint<Histogram>>;
}

/**
 * Stable key of an attribute set. The SDK hands back the attribute objects the instruments were
 * given, and twampy reuses one object per series, so the key is cached per object.
 */
const keyCache = new WeakMap<Attributes, string>();
function attributesKey(attributes: Attributes): string {
  let key = keyCache.get(attributes);
  if (key !== undefined) return key;
  const keys = Object.keys(attributes);
  if (keys.length > 1) keys.sort();
  key = '';
  for (const k of keys) key += `${k}\u0000${String(attributes[k])}\u0001`;
  keyCache.set(attributes, key);
  return key;
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

function textType(md: MetricData): TextFamily['type'] {
  if (md.dataPointType === DataPointType.HISTOGRAM) return 'histogram';
  return md.dataPointType === DataPointType.SUM && md.isMonotonic ? 'counter' : 'gauge';
}

/** Cumulative points built from SDK deltas; see the file header. */
export class SeriesStore implements MetricProducer {
  private readonly metrics = new Map<string, StoredMetric>();
  private readonly pendingRemovals = new Map<string, Set<string>>();
  private readonly beforeDrain: (() => void)[] = [];
  private chain: Promise<unknown> = Promise.resolve();
  private resource: Resource | null = null;
  private targetInfoText = '';
  /** Time of the last drain: every cumulative point is current as of then. */
  private collectedAt: HrTime = [0, 0];

  constructor(private readonly reader: DeltaReader) {}

  /** Registers a function run at the start of every drain (to flush measurements batched outside the SDK). */
  onBeforeDrain(fn: () => void): void {
    this.beforeDrain.push(fn);
  }

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

  /** Drains the SDK and returns a copy of the cumulative points (for the OTLP reader); serialised. */
  collect(): Promise<CollectionResult> {
    return this.locked(async () => {
      const errors = await this.drain();
      return {
        resourceMetrics: { resource: this.resource!, scopeMetrics: this.snapshot() },
        errors,
      };
    });
  }

  /** Drains the SDK and writes the Prometheus text exposition; serialised with `collect`. */
  exposition(): Promise<{ text: string; errors: unknown[] }> {
    return this.locked(async () => {
      const errors = await this.drain();
      return { text: writeFamilies(this.targetInfoText, this.families()), errors };
    });
  }

  private locked<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.chain.then(fn);
    this.chain = run.catch(() => undefined);
    return run;
  }

  private async drain(): Promise<unknown[]> {
    for (const fn of this.beforeDrain) fn();
    const { resourceMetrics, errors } = await this.reader.collect();
    this.collectedAt = millisToHrTime(Date.now());
    if (this.resource !== resourceMetrics.resource) {
      this.resource = resourceMetrics.resource;
      this.targetInfoText = targetInfo(this.resource.attributes);
    }
    for (const sm of resourceMetrics.scopeMetrics) {
      for (const md of sm.metrics) this.merge(sm.scope, md);
    }
    this.applyRemovals();
    return errors;
  }

  private merge(scope: InstrumentationScope, md: MetricData): void {
    if (md.dataPointType === DataPointType.EXPONENTIAL_HISTOGRAM) return; // not used by twampy
    let m = this.metrics.get(md.descriptor.name);
    if (!m) {
      const type = textType(md);
      m = {
        scope,
        descriptor: md.descriptor,
        type: md.dataPointType,
        isMonotonic: md.dataPointType === DataPointType.SUM ? md.isMonotonic : false,
        textType: type,
        exposedName: exposedMetricName(md.descriptor.name, type),
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
        } else {
          const text = seriesText(m.exposedName, formatLabels(dp.attributes), dp.value.buckets.boundaries);
          points.set(key, { attributes: dp.attributes, text, startTime: dp.startTime, value: dp.value });
        }
      }
      return;
    }
    const isSum = md.dataPointType === DataPointType.SUM;
    for (const dp of md.dataPoints as DataPoint<number>[]) {
      const key = attributesKey(dp.attributes);
      if (!isSum && Number.isNaN(dp.value)) {
        points.delete(key);
        continue;
      }
      const prev = points.get(key) as StoredPoint<number> | undefined;
      if (prev) {
        prev.value = isSum ? prev.value + dp.value : dp.value;
      } else {
        points.set(key, { attributes: dp.attributes, text: seriesText(m.exposedName, formatLabels(dp.attributes)), startTime: dp.startTime, value: dp.value });
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

  private *families(): Iterable<TextFamily> {
    for (const m of this.metrics.values()) {
      yield { exposedName: m.exposedName, help: m.descriptor.description, unit: m.descriptor.unit, type: m.textType, series: m.points.values() };
    }
  }

  private snapshot(): ScopeMetrics[] {
    const byScope = new Map<string, ScopeMetrics>();
    for (const m of this.metrics.values()) {
      if (m.points.size === 0) continue;
      let sm = byScope.get(m.scope.name);
      if (!sm) byScope.set(m.scope.name, (sm = { scope: m.scope, metrics: [] }));
      // Copies, so that an exporter still sending the previous snapshot never sees a change.
      const endTime = this.collectedAt;
      const dataPoints = Array.from(m.points.values(), (p) => ({ attributes: p.attributes, startTime: p.startTime, endTime, value: p.value }));
      const base = { descriptor: m.descriptor, aggregationTemporality: AggregationTemporality.CUMULATIVE };
      if (m.type === DataPointType.HISTOGRAM) {
        sm.metrics.push({ ...base, dataPointType: DataPointType.HISTOGRAM, dataPoints: dataPoints as DataPoint<Histogram>[] });
      } else if (m.type === DataPointType.SUM) {
        sm.metrics.push({ ...base, dataPointType: DataPointType.SUM, isMonotonic: m.isMonotonic, dataPoints: dataPoints as DataPoint<number>[] });
      } else {
        sm.metrics.push({ ...base, dataPointType: DataPointType.GAUGE, dataPoints: dataPoints as DataPoint<number>[] });
      }
    }
    return Array.from(byScope.values());
  }
}
