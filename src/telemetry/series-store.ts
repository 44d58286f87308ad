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
 *
 * Per-target measurements the SDK would make too expensive are kept by the store itself: the
 * delay histogram per reply, the responder's T3-T2 per reflected packet (`histogram()`: a bucket
 * search and three additions per value) and the per-period figure gauges of every target
 * (`gauge()`: a field write). An SDK `record` cost 3-5 us here, garbage included: it hashes the
 * attribute set into a JSON string on every call and looks it up in two maps. At 1,000 targets
 * the histogram records alone (1,000 to 3,000 a second) and the gauge records alone (about 1,500
 * a second with a 10 s period) each cost more CPU than the whole telemetry budget, 10 % of what
 * measuring costs. The store produces the SDK's own point types with the SDK's rules (a value
 * equal to a bucket boundary counts in that bucket; a gauge keeps its last value), and they reach
 * Prometheus and the SDK's OTLP exporter exactly as the instruments' points do. Counters, the
 * responder's session gauge, the control server's series and the process metrics stay SDK
 * instruments: they are recorded a few hundred times a second at most.
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
  /** Set when the point leaves the store, so that a handle holding it makes a new one. */
  removed?: boolean;
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

/** A point's value as the exporter may keep it: histograms aggregated in place are copied. */
function copyValue(v: number | Histogram): number | Histogram {
  if (typeof v === 'number') return v;
  return { buckets: { boundaries: v.buckets.boundaries, counts: v.buckets.counts.slice() }, count: v.count, sum: v.sum, min: v.min, max: v.max };
}

/** One series of a `StoreHistogram`: records straight into the cumulative point. */
export class HistogramSeries {
  private point: StoredPoint<Histogram> | null = null;

  constructor(
    private readonly metric: StoredMetric,
    private readonly key: string,
    private readonly attributes: Attributes,
    private readonly boundaries: readonly number[],
  ) {}

  private current(): StoredPoint<Histogram> {
    let p: StoredPoint<Histogram> | null | undefined = this.point;
    if (p && !p.removed) return p;
    p = this.metric.points.get(this.key) as StoredPoint<Histogram> | undefined;
    if (!p) {
      const boundaries = [...this.boundaries];
      const value: Histogram = { buckets: { boundaries, counts: new Array<number>(boundaries.length + 1).fill(0) }, count: 0, sum: 0, min: undefined, max: undefined };
      const text = seriesText(this.metric.exposedName, formatLabels(this.attributes), boundaries);
      p = { attributes: this.attributes, text, startTime: millisToHrTime(Date.now()), value };
      this.metric.points.set(this.key, p);
    }
    return (this.point = p);
  }

  /** Adds one value (NaN is ignored, as the SDK does). */
  record(value: number): void {
    if (Number.isNaN(value)) return;
    const h = this.current().value;
    const b = this.boundaries;
    // Index of the first boundary >= value (the SDK's binarySearchUB).
    let lo = 0;
    let hi = b.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (b[mid]! < value) lo = mid + 1;
      else hi = mid;
    }
    (h.buckets.counts as number[])[lo]!++;
    h.count++;
    h.sum = (h.sum ?? 0) + value;
    h.min = h.min === undefined || value < h.min ? value : h.min;
    h.max = h.max === undefined || value > h.max ? value : h.max;
  }
}

/** A histogram aggregated by the series store; hands out one `HistogramSeries` per attribute set. */
export class StoreHistogram {
  constructor(
    private readonly metric: StoredMetric,
    private readonly boundaries: readonly number[],
  ) {}

  /** The handle of the series of `attributes`; the series appears at its first value. Keep it: lookups hash. */
  series(attributes: Attributes): HistogramSeries {
    return new HistogramSeries(this.metric, attributesKey(attributes), attributes, this.boundaries);
  }
}

/** One series of a `StoreGauge`. */
export class GaugeSeries {
  private point: StoredPoint<number> | null = null;
  private text: SeriesText | null = null;

  constructor(
    private readonly metric: StoredMetric,
    private readonly key: string,
    private readonly attributes: Attributes,
  ) {}

  /** Sets the current value; NaN means "no current value" and removes the series. */
  set(value: number): void {
    let p: StoredPoint<number> | null | undefined = this.point;
    if (Number.isNaN(value)) {
      if (p && !p.removed) {
        p.removed = true;
        this.metric.points.delete(this.key);
      }
      this.point = null;
      return;
    }
    if (!p || p.removed) {
      p = this.metric.points.get(this.key) as StoredPoint<number> | undefined;
      if (!p) {
        this.text ??= seriesText(this.metric.exposedName, formatLabels(this.attributes));
        p = { attributes: this.attributes, text: this.text, startTime: millisToHrTime(Date.now()), value };
        this.metric.points.set(this.key, p);
      }
      this.point = p;
    }
    p.value = value;
  }
}

/** A gauge kept by the series store; hands out one `GaugeSeries` per attribute set. */
export class StoreGauge {
  constructor(private readonly metric: StoredMetric) {}

  /** The handle of the series of `attributes`; the series appears at its first value. */
  series(attributes: Attributes): GaugeSeries {
    return new GaugeSeries(this.metric, attributesKey(attributes), attributes);
  }
}

function textType(md: MetricData): TextFamily['type'] {
  if (md.dataPointType === DataPointType.HISTOGRAM) return 'histogram';
  return md.dataPointType === DataPointType.SUM && md.isMonotonic ? 'counter' : 'gauge';
}

/** Cumulative points built from SDK deltas; see the file header. */
export class SeriesStore implements MetricProducer {
  private readonly metrics = new Map<string, StoredMetric>();
  /** Names of the metrics the store aggregates itself (never merged from SDK deltas). */
  private readonly direct = new Set<string>();
  private readonly pendingRemovals = new Map<string, Set<string>>();
  private readonly beforeDrain: (() => void)[] = [];
  private chain: Promise<unknown> = Promise.resolve();
  private resource: Resource | null = null;
  private targetInfoText = '';
  /** Size of the last exposition: the next one's buffer is allocated at about that size. */
  private lastExpositionBytes = 0;
  /** Time of the last drain: every cumulative point is current as of then. */
  private collectedAt: HrTime = [0, 0];

  constructor(
    private readonly reader: DeltaReader,
    /** Instrumentation scope of the histograms the store aggregates itself. */
    private readonly scope: InstrumentationScope = { name: 'twampy' },
  ) {}

  /** Registers a function run at the start of every drain (to flush measurements batched outside the SDK). */
  onBeforeDrain(fn: () => void): void {
    this.beforeDrain.push(fn);
  }

  /**
   * A histogram aggregated by the store itself, for measurements taken once per packet (see the
   * file header). Its series are cumulative from their first value and obey `removeSeries`.
   */
  histogram(descriptor: MetricDescriptor, boundaries: readonly number[]): StoreHistogram {
    return new StoreHistogram(this.register(descriptor, DataPointType.HISTOGRAM), boundaries);
  }

  /**
   * A gauge kept by the store itself, for figures set per target and period (see the file header).
   * NaN removes a series; `removeSeries` applies.
   */
  gauge(descriptor: MetricDescriptor): StoreGauge {
    return new StoreGauge(this.register(descriptor, DataPointType.GAUGE));
  }

  private register(descriptor: MetricDescriptor, type: DataPointType.HISTOGRAM | DataPointType.GAUGE): StoredMetric {
    if (this.metrics.has(descriptor.name)) throw new Error(`metric ${descriptor.name} is already registered`);
    const textType = type === DataPointType.HISTOGRAM ? 'histogram' : 'gauge';
    const m: StoredMetric = {
      scope: this.scope,
      descriptor,
      type,
      isMonotonic: false,
      textType,
      exposedName: exposedMetricName(descriptor.name, textType),
      points: new Map(),
    };
    this.metrics.set(descriptor.name, m);
    this.direct.add(descriptor.name);
    return m;
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

  /** Drains the SDK and writes the Prometheus text exposition (UTF-8); serialised with `collect`. */
  exposition(): Promise<{ body: Buffer; errors: unknown[] }> {
    return this.locked(async () => {
      const errors = await this.drain();
      const body = writeFamilies(this.targetInfoText, this.families(), this.lastExpositionBytes);
      this.lastExpositionBytes = body.length;
      return { body, errors };
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
    if (this.direct.has(md.descriptor.name)) return; // an SDK instrument of the same name would double count
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
        const gone = points.get(key);
        if (gone) gone.removed = true;
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
          if (typeof v === 'string' && values.has(v)) {
            p.removed = true;
            m.points.delete(key);
          }
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
      const dataPoints = Array.from(m.points.values(), (p) => ({ attributes: p.attributes, startTime: p.startTime, endTime, value: copyValue(p.value) }));
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
