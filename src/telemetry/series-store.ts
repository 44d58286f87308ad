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
 * Per-target series, the ones that number in the thousands, are kept by the store itself: the
 * delay histogram per reply and the responder's T3-T2 per reflected packet (`histogram()`: a
 * bucket search and a few float64 additions per value), the packet counters per packet
 * (`counter()`: one addition) and the per-period figure gauges (`gauge()`: one write). An SDK
 * `record` or `add` cost 3-5 us here, garbage included: it hashes the attribute set into a JSON
 * string on every call and looks it up in two maps. At 1,000 targets the histogram records alone
 * (1,000 to 3,000 a second) and the gauge records alone (about 1,500 a second with a 10 s period)
 * each cost more CPU than the whole telemetry budget, 10 % of what measuring costs; counters fed
 * to the SDK in batches before each collection still cost a few thousand SDK calls and as many
 * short-lived points per scrape. The store's numbers live in one Float64Array per metric (see
 * `Cells`), so recording allocates nothing. The store produces the SDK's own point types with
 * the SDK's rules (a value equal to a bucket boundary counts in that bucket; a gauge keeps its
 * last value; a counter ignores negative increments), and they reach Prometheus and the SDK's
 * OTLP exporter exactly as the instruments' points do. Series with few attribute sets and rare
 * updates stay SDK instruments: the sender's error and drop counters, the responder's counters
 * and session gauge, the control server's series and the process metrics.
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
  HISTOGRAM_CELLS,
  exposedMetricName,
  formatLabels,
  seriesPrefixes,
  targetInfo,
  FamilyTracker,
  TextArena,
  writeFamilies,
  type SeriesText,
  type TextFamily,
  type WrittenExposition,
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

/**
 * One series. SDK-fed series keep their cumulative `value` here (`off` is -1); store-kept series
 * keep their numbers in their metric's `Cells` at `off` (`value` unused; gauges and counters
 * share one `Cells`), so that recording never
 * allocates. Every point has the same shape.
 */
interface StoredPoint extends SeriesText {
  attributes: Attributes;
  startTime: HrTime;
  /** Null for store-kept series (never a number there: V8 would box every point's field as a double). */
  value: number | Histogram | null;
  off: number;
  /** Store-kept series only: the point the OTLP collections hand out, made at the first and refilled at each (see `snapshot`). */
  exported: ExportedPoint | null;
}

/**
 * The numbers of store-kept series: `stride` float64 cells per series in one Float64Array,
 * slots reused after a series goes away.
 *
 * Why a typed array: a number stored in an ordinary object field is a heap-allocated box in V8
 * unless it is a small integer. A delay sum updated once a second per target makes a new box
 * every second, lives long enough to be promoted to the old generation and dies there, so at
 * 1,000 targets the boxes alone kept V8's major collector running. A Float64Array cell is
 * overwritten in place.
 */
class Cells {
  data: Float64Array;
  /**
   * Generation of each slot, indexed like `data` by a slot's first cell: bumped when the slot is
   * released, so that a series handle that cached the offset sees that it is stale (see CellSeries).
   */
  gen: Int32Array;
  private used = 0;
  private readonly free: number[] = [];

  constructor(
    readonly stride: number,
    /** Value of a fresh series' cells at index i (NaN for a histogram's unset min and max). */
    private readonly initial: (i: number) => number = () => 0,
  ) {
    this.data = new Float64Array(stride * 16);
    this.gen = new Int32Array(this.data.length);
  }

  /** A zeroed slot; returns its first cell's offset. */
  alloc(): number {
    let off = this.free.pop();
    if (off === undefined) {
      off = this.used;
      this.used += this.stride;
      if (this.used > this.data.length) {
        const length = Math.max(this.data.length * 2, this.used);
        const grown = new Float64Array(length);
        grown.set(this.data);
        this.data = grown;
        const gen = new Int32Array(length);
        gen.set(this.gen);
        this.gen = gen;
      }
    }
    for (let i = 0; i < this.stride; i++) this.data[off + i] = this.initial(i);
    return off;
  }

  release(off: number): void {
    this.gen[off] = (this.gen[off]! + 1) | 0;
    this.free.push(off);
  }
}

interface StoredMetric {
  scope: InstrumentationScope;
  descriptor: MetricDescriptor;
  type: DataPointType.SUM | DataPointType.GAUGE | DataPointType.HISTOGRAM;
  isMonotonic: boolean;
  /** Prometheus TYPE and name (counters get `_total`). */
  textType: TextFamily['type'];
  exposedName: string;
  points: Map<string, StoredPoint>;
  /** The store's line prefixes, where the series' text goes. */
  arena: TextArena;
  /** Store-kept metrics only: their numbers. */
  cells: Cells | null;
  /** Store-kept histograms only: bucket boundaries. */
  boundaries: readonly number[] | null;
  /** Bumped when a series is added or removed (the family's lines change without a number changing). */
  version: number;
}

/**
 * Stable key of an attribute set. The SDK hands back the attribute objects the instruments were
 * given, and twampy reuses one object per series, so the key is cached per object.
 */
const keyCache = new WeakMap<Attributes, string>();
/** Stable key of an attribute set (cached per attributes object). */
export function attributesKey(attributes: Attributes): string {
  let key = keyCache.get(attributes);
  if (key !== undefined) return key;
  const keys = Object.keys(attributes);
  if (keys.length > 1) keys.sort();
  // join makes one flat string; += would keep a tree of pieces alive for as long as the series.
  key = keys.map((k) => `${k}\u0000${String(attributes[k])}\u0001`).join('');
  keyCache.set(attributes, key);
  return key;
}

/**
 * Start time of a series created now. Series created in the same millisecond (a target's dozens)
 * share one HrTime array instead of each keeping its own.
 */
let lastStart: { ms: number; time: HrTime } = { ms: NaN, time: [0, 0] };
function startTimeNow(): HrTime {
  const ms = Date.now();
  if (ms !== lastStart.ms) lastStart = { ms, time: millisToHrTime(ms) };
  return lastStart.time;
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

/** A store-kept scalar series' point as collections hand it out (a `DataPoint<number>` with writable fields). */
interface ExportedScalar {
  attributes: Attributes;
  startTime: HrTime;
  endTime: HrTime;
  value: number;
}

/**
 * A store-kept histogram series' point as collections hand it out (a `DataPoint<Histogram>` with
 * writable fields). `value` comes first: another property order than `ExportedScalar`'s gives it
 * a hidden class of its own in V8, so that the scalar points' `value` stays a double field,
 * overwritten in place, instead of becoming a tagged field that boxes every number written to it.
 */
interface ExportedHistogram {
  value: { buckets: { boundaries: number[]; counts: number[] }; count: number; sum: number; min: number | undefined; max: number | undefined };
  attributes: Attributes;
  startTime: HrTime;
  endTime: HrTime;
}

type ExportedPoint = ExportedScalar | ExportedHistogram;

/**
 * A store-kept series' point for a collection at `endTime`: made at the series' first collection,
 * then refilled in place from its cells at each one (see `SeriesStore.snapshot`).
 */
function exportedPoint(m: StoredMetric, p: StoredPoint, endTime: HrTime): ExportedPoint {
  const c = m.cells!.data;
  const off = p.off;
  if (m.type !== DataPointType.HISTOGRAM) {
    const e = p.exported as ExportedScalar | null;
    if (e === null) return (p.exported = { attributes: p.attributes, startTime: p.startTime, endTime, value: c[off]! });
    e.endTime = endTime;
    e.value = c[off]!;
    return e;
  }
  let e = p.exported as ExportedHistogram | null;
  if (e === null) {
    const boundaries = m.boundaries!;
    // The boundaries never change: shared, as the SDK's own points share their aggregator's.
    const value = { buckets: { boundaries: boundaries as number[], counts: new Array<number>(boundaries.length + 1).fill(0) }, count: 0, sum: 0, min: undefined, max: undefined };
    p.exported = e = { value, attributes: p.attributes, startTime: p.startTime, endTime };
  }
  e.endTime = endTime;
  const h = e.value;
  const counts = h.buckets.counts;
  for (let j = 0; j < counts.length; j++) counts[j] = c[off + HISTOGRAM_CELLS.buckets + j]!;
  h.count = c[off + HISTOGRAM_CELLS.count]!;
  h.sum = c[off + HISTOGRAM_CELLS.sum]!;
  const min = c[off + HISTOGRAM_CELLS.min]!;
  const max = c[off + HISTOGRAM_CELLS.max]!;
  h.min = Number.isNaN(min) ? undefined : min;
  h.max = Number.isNaN(max) ? undefined : max;
  return e;
}

/**
 * What the series handles share: finds or creates the point of one attribute set in a store-kept
 * metric, and lets it go.
 *
 * A handle caches its point's cell offset and the slot's generation, so that recording touches
 * the handle and the cells only, not the point too: per target and period, recording reads
 * dozens of series whose memory has long left the CPU caches. Timed inside a live 1,000-target
 * sender, a target's period took 11.4-13.9 us with this against 13.6-16.6 us before. The
 * generation tells a handle that its slot was released (the series was removed, by this
 * handle's NaN or by `removeSeries`) and perhaps reused by another series.
 */
export abstract class CellSeries {
  /** First cell of the live point's slot, or -1. */
  private off = -1;
  /** The slot's generation when `off` was cached. */
  private gen = 0;
  protected readonly cells: Cells;

  constructor(
    protected readonly metric: StoredMetric,
    private readonly key: string,
    private readonly attributes: Attributes,
  ) {
    this.cells = metric.cells!;
  }

  /** Offset of the live point's first cell, the point created (cells zeroed) when there is none. */
  protected slot(): number {
    const off = this.off;
    if (off >= 0 && this.cells.gen[off] === this.gen) return off;
    return this.attach();
  }

  private attach(): number {
    const m = this.metric;
    let p = m.points.get(this.key);
    if (!p) {
      const { textStart, textLens } = m.arena.add(seriesPrefixes(m.exposedName, formatLabels(this.attributes), m.boundaries ?? undefined));
      p = { attributes: this.attributes, textStart, textLens, startTime: startTimeNow(), value: null, off: this.cells.alloc(), exported: null };
      m.points.set(this.key, p);
      m.version++;
    }
    this.off = p.off;
    this.gen = this.cells.gen[p.off]!;
    return p.off;
  }

  /** Removes the series now (a gauge set to NaN), if this handle's point is still live. */
  protected detach(): void {
    const off = this.off;
    if (off < 0) return;
    this.off = -1;
    if (this.cells.gen[off] !== this.gen) return;
    const p = this.metric.points.get(this.key);
    if (p && p.off === off) removePoint(this.metric, this.key, p);
  }
}

function removePoint(m: StoredMetric, key: string, p: StoredPoint): void {
  m.points.delete(key);
  m.version++;
  m.arena.release(p);
  if (p.off >= 0) m.cells?.release(p.off);
}

/** One series of a `StoreHistogram`: records straight into its cumulative cells. */
export class HistogramSeries extends CellSeries {
  /** Adds one value (NaN and negative values are dropped, as the SDK's histogram drops them). */
  record(value: number): void {
    if (!(value >= 0)) return;
    const off = this.slot();
    const c = this.cells.data;
    const b = this.metric.boundaries!;
    // Index of the first boundary >= value (the SDK's binarySearchUB).
    let lo = 0;
    let hi = b.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (b[mid]! < value) lo = mid + 1;
      else hi = mid;
    }
    c[off + HISTOGRAM_CELLS.buckets + lo]++;
    c[off + HISTOGRAM_CELLS.count]++;
    c[off + HISTOGRAM_CELLS.sum] += value;
    // Unset min and max are NaN. Math.min and Math.max as the SDK's histogram, which put -0 below 0.
    const min = c[off + HISTOGRAM_CELLS.min]!;
    const max = c[off + HISTOGRAM_CELLS.max]!;
    c[off + HISTOGRAM_CELLS.min] = min === min ? Math.min(value, min) : value;
    c[off + HISTOGRAM_CELLS.max] = max === max ? Math.max(value, max) : value;
  }

  /**
   * Adds every value of `ascending` (sorted, no NaN) divided by `divisor`, e.g. a period's delay
   * samples in ns with 1e9 for seconds: one attachment and one walk up the buckets. The same as
   * `record` for each value (a property test holds both to the SDK): negative values are dropped,
   * and nothing happens for no values.
   */
  recordSorted(ascending: readonly number[], divisor: number): void {
    let i = 0;
    while (i < ascending.length && !(ascending[i]! >= 0)) i++;
    if (i === ascending.length) return;
    const off = this.slot();
    const c = this.cells.data;
    const b = this.metric.boundaries!;
    let bucket = 0;
    let sum = 0;
    let n = 0;
    let min = c[off + HISTOGRAM_CELLS.min]!;
    let max = c[off + HISTOGRAM_CELLS.max]!;
    for (; i < ascending.length; i++) {
      const value = ascending[i]! / divisor;
      // The SDK's rule, as in record(): the first boundary >= value.
      while (bucket < b.length && b[bucket]! < value) bucket++;
      c[off + HISTOGRAM_CELLS.buckets + bucket]++;
      sum += value;
      n++;
      // Value by value, as record() does (0 and -0 sort in either order).
      min = min === min ? Math.min(value, min) : value;
      max = max === max ? Math.max(value, max) : value;
    }
    c[off + HISTOGRAM_CELLS.count] += n;
    c[off + HISTOGRAM_CELLS.sum] += sum;
    c[off + HISTOGRAM_CELLS.min] = min;
    c[off + HISTOGRAM_CELLS.max] = max;
  }
}

/** One series of a store gauge. */
export class GaugeSeries extends CellSeries {
  /** Sets the current value; NaN means "no current value" and removes the series. */
  set(value: number): void {
    if (Number.isNaN(value)) {
      this.detach();
      return;
    }
    const off = this.slot();
    this.cells.data[off] = value;
  }
}

/** One series of a store counter. */
export class CounterSeries extends CellSeries {
  /** Adds `n` (>= 0; a negative or NaN increment is ignored, as the SDK does). Adding 0 makes the series appear. */
  add(n: number): void {
    if (!(n >= 0)) return;
    const off = this.slot();
    this.cells.data[off] += n;
  }
}

/**
 * A metric kept by the series store (histogram, gauge or counter); hands out one series handle per
 * attribute set. The series appears at its first value (a counter's first `add`, 0 included).
 * Keep the handle: getting one hashes the attribute set.
 */
export class StoreMetric<S extends CellSeries> {
  constructor(
    private readonly metric: StoredMetric,
    private readonly Series: new (metric: StoredMetric, key: string, attributes: Attributes) => S,
  ) {}

  /** The handle of the series of `attributes`. */
  series(attributes: Attributes): S {
    return new this.Series(this.metric, attributesKey(attributes), attributes);
  }
}

/** A histogram aggregated by the series store. */
export type StoreHistogram = StoreMetric<HistogramSeries>;
/** A gauge kept by the series store. */
export type StoreGauge = StoreMetric<GaugeSeries>;
/** A monotonic counter kept by the series store. */
export type StoreCounter = StoreMetric<CounterSeries>;

function textType(md: MetricData): TextFamily['type'] {
  if (md.dataPointType === DataPointType.HISTOGRAM) return 'histogram';
  return md.dataPointType === DataPointType.SUM && md.isMonotonic ? 'counter' : 'gauge';
}

/** Cumulative points built from SDK deltas; see the file header. */
export class SeriesStore implements MetricProducer {
  private readonly metrics = new Map<string, StoredMetric>();
  /** Line prefixes of every series, and the space the exposition is written in. */
  private readonly arena = new TextArena();
  /** Which families' text changed between expositions (see `writeFamilies`). */
  private readonly tracker = new FamilyTracker();
  /**
   * The cells of every store gauge and counter, one array for all: the series of a target, made
   * together, sit side by side, so that a period's recording touches a few cache lines, not one per
   * metric.
   */
  private readonly scalarCells = new Cells(1);
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
    const b = [...boundaries];
    const cells = new Cells(HISTOGRAM_CELLS.buckets + b.length + 1, (i) => (i === HISTOGRAM_CELLS.min || i === HISTOGRAM_CELLS.max ? NaN : 0));
    return new StoreMetric(this.register(descriptor, DataPointType.HISTOGRAM, cells, b), HistogramSeries);
  }

  /**
   * A gauge kept by the store itself, for figures set per target and period (see the file header).
   * NaN removes a series; `removeSeries` applies.
   */
  gauge(descriptor: MetricDescriptor): StoreGauge {
    return new StoreMetric(this.register(descriptor, DataPointType.GAUGE, this.scalarCells), GaugeSeries);
  }

  /**
   * A monotonic counter kept by the store itself, for per-target packet counts (see the file
   * header). Cumulative from the series' first `add`; `removeSeries` applies.
   */
  counter(descriptor: MetricDescriptor): StoreCounter {
    return new StoreMetric(this.register(descriptor, DataPointType.SUM, this.scalarCells), CounterSeries);
  }

  private register(descriptor: MetricDescriptor, type: StoredMetric['type'], cells: Cells, boundaries: readonly number[] | null = null): StoredMetric {
    if (this.metrics.has(descriptor.name)) throw new Error(`metric ${descriptor.name} is already registered`);
    const textType = type === DataPointType.HISTOGRAM ? 'histogram' : type === DataPointType.SUM ? 'counter' : 'gauge';
    const m: StoredMetric = {
      scope: this.scope,
      descriptor,
      type,
      isMonotonic: type === DataPointType.SUM,
      textType,
      exposedName: exposedMetricName(descriptor.name, textType),
      points: new Map(),
      arena: this.arena,
      cells,
      boundaries,
      version: 0,
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

  /**
   * Drains the SDK and returns the cumulative points (for the OTLP reader); serialised. The points
   * of store-kept series are the store's own: valid until the next collection, which refills them
   * (see `snapshot`).
   */
  collect(): Promise<CollectionResult> {
    return this.locked(async () => {
      const errors = await this.drain();
      return {
        resourceMetrics: { resource: this.resource!, scopeMetrics: this.snapshot() },
        errors,
      };
    });
  }

  /**
   * Drains the SDK and writes the Prometheus text exposition (UTF-8); serialised with `collect`.
   * `body` is lent from the store (see TextArena): call `release` once it is sent or compressed.
   * `segments` cut it for `SegmentedGzip`.
   */
  exposition(): Promise<WrittenExposition & { errors: unknown[] }> {
    return this.locked(async () => {
      const errors = await this.drain();
      const written = writeFamilies(this.arena, this.targetInfoText, this.families(), this.lastExpositionBytes, this.tracker);
      this.lastExpositionBytes = written.body.length;
      return { ...written, errors };
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
    if (this.arena.wantsCompaction) this.arena.compact(this.allPoints());
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
        arena: this.arena,
        cells: null,
        boundaries: null,
        version: 0,
      };
      this.metrics.set(md.descriptor.name, m);
    }
    const points = m.points;
    if (md.dataPointType === DataPointType.HISTOGRAM) {
      for (const dp of md.dataPoints) {
        const key = attributesKey(dp.attributes);
        const prev = points.get(key);
        if (prev) {
          prev.value = addHistogram(prev.value as Histogram, dp.value);
        } else {
          const { textStart, textLens } = m.arena.add(seriesPrefixes(m.exposedName, formatLabels(dp.attributes), dp.value.buckets.boundaries));
          points.set(key, { attributes: dp.attributes, textStart, textLens, startTime: dp.startTime, value: dp.value, off: -1, exported: null });
        }
      }
      return;
    }
    const isSum = md.dataPointType === DataPointType.SUM;
    for (const dp of md.dataPoints as DataPoint<number>[]) {
      const key = attributesKey(dp.attributes);
      if (!isSum && Number.isNaN(dp.value)) {
        const gone = points.get(key);
        if (gone) removePoint(m, key, gone);
        continue;
      }
      const prev = points.get(key);
      if (prev) {
        prev.value = isSum ? (prev.value as number) + dp.value : dp.value;
      } else {
        const { textStart, textLens } = m.arena.add(seriesPrefixes(m.exposedName, formatLabels(dp.attributes)));
        points.set(key, { attributes: dp.attributes, textStart, textLens, startTime: dp.startTime, value: dp.value, off: -1, exported: null });
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
          if (typeof v === 'string' && values.has(v)) removePoint(m, key, p);
        }
      }
    }
    this.pendingRemovals.clear();
  }

  private *allPoints(): Iterable<StoredPoint> {
    for (const m of this.metrics.values()) yield* m.points.values();
  }

  private *families(): Iterable<TextFamily> {
    for (const m of this.metrics.values()) {
      yield {
        exposedName: m.exposedName,
        help: m.descriptor.description,
        unit: m.descriptor.unit,
        type: m.textType,
        series: m.points.values(),
        cells: m.cells?.data ?? null,
        version: m.version,
      };
    }
  }

  /**
   * The points of a collection. A store-kept series' point is made at the series' first
   * collection and refilled in place at each later one (`exportedPoint`); the SDK-fed series, a
   * few dozen, are copied.
   *
   * Why: at 1,000 targets a collection hands out about 30,000 points. Made afresh, they and their
   * histogram values were 5.6 MB of JS heap per push (in-process, heap used across one collection
   * with young-generation collections held off), about a quarter of a push's garbage; refilled, a
   * collection allocates about 0.5 MB once V8 has optimised the refill. The rest of a push's
   * garbage, about 19 MB, is the SDK's protobuf encoding. Fresh points were long-lived anyway:
   * `locked`'s chain holds the last collection's result until the next scrape or push, so in a
   * process that only pushes, each push's points were promoted to the old generation and died
   * there at the next. Kept, they hold about 3.2 MB at 1,000 targets, from the first push on (a
   * process that is only scraped makes none). Live, a sender pushing every 10 s read 0.02 of the
   * sender's CPU less on average, within the noise (docs/metrics.md, "What is known about what is
   * left").
   *
   * Why it is safe: the one reader of these collections is the OTLP reader, which runs a
   * collection and its export one at a time, and the OTLP exporters encode a batch inside
   * `export()`, before it returns (a test in test/telemetry/otlp.test.ts holds the pinned
   * exporters to that); so no encoding reads a point after the next collection began. The delta
   * converter keeps copies of what it remembers. Each collection's end time is a new array, so
   * an end time handed out earlier never changes.
   */
  private snapshot(): ScopeMetrics[] {
    const byScope = new Map<string, ScopeMetrics>();
    for (const m of this.metrics.values()) {
      if (m.points.size === 0) continue;
      let sm = byScope.get(m.scope.name);
      if (!sm) byScope.set(m.scope.name, (sm = { scope: m.scope, metrics: [] }));
      // A loop into a sized array: Array.from over the map's iterator allocated an iterator result
      // per point, about a third of a push's garbage at 1,000 targets.
      const endTime = this.collectedAt;
      const dataPoints = new Array<DataPoint<number | Histogram>>(m.points.size);
      let i = 0;
      if (m.cells) {
        for (const p of m.points.values()) dataPoints[i++] = exportedPoint(m, p, endTime);
      } else {
        // SDK-fed series (a few dozen): copies.
        for (const p of m.points.values()) dataPoints[i++] = { attributes: p.attributes, startTime: p.startTime, endTime, value: copyValue(p.value!) };
      }
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
