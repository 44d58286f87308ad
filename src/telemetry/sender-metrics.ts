/**
 * Turns a sender's plain result events into measurements.
 *
 * Everything is recorded once per completed round or period, from the period's statistics: the
 * gauges (the seed-compatible `twampy_latency_*`, `twampy_jitter`, `twampy_loss`, `twampy_result`,
 * plus `twampy_edge`, `twampy_clock_synchronized` and `twampy_hops`), the packet counters (the
 * period's counts) and the delay histograms (the period's samples). So every number a scrape
 * sees describes the same completed periods: `twampy_packets_sent_total` equals received plus
 * lost, and the roundtrip histogram's count equals received, with no packet in flight counted as
 * sent but neither received nor lost. The price is freshness: counters and histograms move once
 * per period (10 s by default in continuous mode), like the gauges always did.
 *
 * Every gauge of the target gets its new figure, NaN where the period has none, and NaN removes
 * the series. So a failed round (no replies: no min, avg, max or jitter) removes the latency
 * series instead of leaving the previous good values looking current; a target error does the
 * same until the next round completes.
 *
 * Cost: nothing per packet. At 1,000 targets, work per packet touched per-target state that had
 * long left the CPU caches, and cost about half of the telemetry budget on its own; once per
 * period it is one lookup and a walk over the period's sorted samples. Every per-target series
 * is kept by the series store (float64 cells, nothing allocated; an SDK call hashes the
 * attribute set every time, see series-store.ts). Attribute objects and series handles are
 * built once per target. Only rare events (target errors, unusable datagrams) go through SDK
 * counters.
 */
import type { Attributes, Counter, Meter } from '@opentelemetry/api';
import type { Direction, SenderDropEvent, SenderObserver, StatsEvent, TargetErrorEvent } from '../session/events.js';
import { LABEL, SENDER_METRICS as M } from './catalog.js';
import { counter, packetHistogram, storeCounter, storeGauge } from './instruments.js';
import type { CounterSeries, GaugeSeries, HistogramSeries, SeriesStore, StoreCounter, StoreGauge, StoreHistogram } from './series-store.js';

/** Options of the sender metrics. */
export interface SenderMetricsOptions {
  /** Value of the `source` label. */
  source: string;
  /** Export `twampy_edge` for Grafana's node graph. */
  nodegraph: boolean;
  /** Record one-way histograms even when the clocks do not claim synchronisation. */
  oneWayUnsynced: boolean;
  /** Delay histogram boundaries in seconds. */
  buckets: readonly number[];
}

const DIRECTIONS: readonly Direction[] = ['outbound', 'inbound', 'roundtrip'];

/** Counter series of one target, by slot. */
interface TargetCounters {
  sent: CounterSeries;
  received: CounterSeries;
  duplicated: CounterSeries;
  reordered: CounterSeries;
  late: CounterSeries;
  lost: Record<Direction, CounterSeries>;
  remarkedOutbound: CounterSeries;
  remarkedInbound: CounterSeries;
}

interface TargetState {
  dir: Record<Direction, Attributes>;
  counters: TargetCounters;
  /** Delay histogram series per direction, created at the first value (a direction never measured has none). */
  delay: Partial<Record<Direction, HistogramSeries>>;
  /** Gauge series by slot: 5 figures per direction, then result ok, result error, clock synchronised, edge, hops out and in. */
  gauges: GaugeSeries[];
}

const FIGURES = ['min', 'avg', 'max', 'jitter', 'loss'] as const;
const SLOT_RESULT_OK = 15;
const SLOT_RESULT_ERROR = 16;
const SLOT_SYNCED = 17;
const SLOT_EDGE = 18;
const SLOT_HOPS_OUT = 19;
const SLOT_HOPS_IN = 20;

const NS_PER_S = 1e9;

/**
 * A delay figure in ms rounded to whole nanoseconds (NaN for none). Timestamps resolve to the
 * nanosecond at best, so nothing is lost; the exposition writes such a value from its digits
 * instead of through String() (see prometheus-text.ts), and its text is shorter
 * (0.0277174, not 0.027717399999999996).
 */
function wholeNs(ms: number | null): number {
  return ms === null ? NaN : Math.round(ms * 1e6) / 1e6;
}

/** SenderObserver that records into OpenTelemetry instruments. */
export class SenderMetrics implements SenderObserver {
  private readonly targets = new Map<string, TargetState>();
  private readonly sent: StoreCounter;
  private readonly received: StoreCounter;
  private readonly lost: StoreCounter;
  private readonly duplicated: StoreCounter;
  private readonly reordered: StoreCounter;
  private readonly late: StoreCounter;
  private readonly errors: Counter;
  private readonly dropped: Counter;
  private readonly delay: StoreHistogram;
  private readonly gauges: { min: StoreGauge; avg: StoreGauge; max: StoreGauge; jitter: StoreGauge; loss: StoreGauge };
  private readonly result: StoreGauge;
  private readonly synced: StoreGauge;
  private readonly hops: StoreGauge;
  private readonly remarked: StoreCounter;
  private readonly edge: StoreGauge | undefined;
  private readonly dropAttrs = new Map<string, Attributes>();

  constructor(
    meter: Meter,
    private readonly store: SeriesStore,
    private readonly opts: SenderMetricsOptions,
  ) {
    this.sent = storeCounter(store, M.sent);
    this.received = storeCounter(store, M.received);
    this.lost = storeCounter(store, M.lost);
    this.duplicated = storeCounter(store, M.duplicated);
    this.reordered = storeCounter(store, M.reordered);
    this.late = storeCounter(store, M.late);
    this.errors = counter(meter, M.errors);
    this.dropped = counter(meter, M.dropped);
    this.delay = packetHistogram(store, M.delay, opts.buckets);
    this.gauges = {
      min: storeGauge(store, M.latencyMin),
      avg: storeGauge(store, M.latencyAvg),
      max: storeGauge(store, M.latencyMax),
      jitter: storeGauge(store, M.jitter),
      loss: storeGauge(store, M.loss),
    };
    this.result = storeGauge(store, M.result);
    this.synced = storeGauge(store, M.clockSynced);
    this.hops = storeGauge(store, M.hops);
    this.remarked = storeCounter(store, M.dscpRemarked);
    this.edge = opts.nodegraph ? storeGauge(store, M.edge) : undefined;
  }

  private target(name: string): TargetState {
    let t = this.targets.get(name);
    if (t) return t;
    const source = this.opts.source;
    const base = { [LABEL.source]: source, [LABEL.target]: name };
    const dir = {} as Record<Direction, Attributes>;
    // Literals rather than spreads of `base`: spread copies made here got a hidden class each in
    // V8 (thousands at 1,000 targets, each with its own descriptors for the collector to trace).
    for (const d of DIRECTIONS) dir[d] = { [LABEL.source]: source, [LABEL.target]: name, [LABEL.direction]: d };
    const gauges: GaugeSeries[] = [];
    for (const d of DIRECTIONS) for (const f of FIGURES) gauges.push(this.gauges[f].series(dir[d]));
    gauges[SLOT_RESULT_OK] = this.result.series({ [LABEL.source]: source, [LABEL.target]: name, [LABEL.result]: 'ok' });
    gauges[SLOT_RESULT_ERROR] = this.result.series({ [LABEL.source]: source, [LABEL.target]: name, [LABEL.result]: 'error' });
    gauges[SLOT_SYNCED] = this.synced.series(base);
    if (this.edge) gauges[SLOT_EDGE] = this.edge.series({ [LABEL.id]: `${source}-${name}`, [LABEL.source]: source, [LABEL.target]: name });
    gauges[SLOT_HOPS_OUT] = this.hops.series(dir.outbound);
    gauges[SLOT_HOPS_IN] = this.hops.series(dir.inbound);
    const counters: TargetCounters = {
      sent: this.sent.series(base),
      received: this.received.series(base),
      duplicated: this.duplicated.series(base),
      reordered: this.reordered.series(base),
      late: this.late.series(base),
      lost: { outbound: this.lost.series(dir.outbound), inbound: this.lost.series(dir.inbound), roundtrip: this.lost.series(dir.roundtrip) },
      remarkedOutbound: this.remarked.series(dir.outbound),
      remarkedInbound: this.remarked.series(dir.inbound),
    };
    t = { dir, counters, delay: {}, gauges };
    this.targets.set(name, t);
    this.store.keepSeries(LABEL.target, name);
    // Zero-initialise the counters so that rate() and increase() work from the first scrape. Loss
    // by direction and re-marking start at the first period that can attribute them.
    for (const c of [counters.sent, counters.received, counters.duplicated, counters.reordered, counters.late, counters.lost.roundtrip]) c.add(0);
    gauges[SLOT_EDGE]?.set(1);
    return t;
  }

  /** Removes every per-direction figure (no current value). */
  private clearFigures(t: TargetState): void {
    for (let slot = 0; slot < DIRECTIONS.length * FIGURES.length; slot++) t.gauges[slot]!.set(NaN);
  }

  /** A target joined the running sender. */
  onTargetAdded(target: string): void {
    this.target(target);
  }

  /** A target left the running sender: its series disappear at the next collection. */
  onTargetRemoved(target: string): void {
    const t = this.targets.get(target);
    if (t) {
      this.targets.delete(target);
      // At once, in case the target comes back before the next collection.
      for (const g of t.gauges) g?.set(NaN);
    }
    this.store.removeSeries(LABEL.target, target);
  }

  /**
   * A round or period completed: records everything about the target from the period's figures,
   * the packet counts and delay samples included.
   */
  onStats(e: StatsEvent): void {
    const s = e.stats;
    const t = this.target(s.target);
    const c = t.counters;
    c.sent.add(s.sent);
    c.received.add(s.received);
    c.lost.roundtrip.add(s.lost);
    c.duplicated.add(s.duplicates);
    c.reordered.add(s.reordered);
    c.late.add(s.late);
    // The samples are the on-time replies' delays (late and duplicate replies excluded), so the
    // roundtrip histogram's count equals twampy_packets_received_total.
    this.delaySamples(t, 'roundtrip', s.roundtrip.samplesNs);
    if (s.clockSynced || this.opts.oneWayUnsynced) {
      this.delaySamples(t, 'outbound', s.outbound.samplesNs);
      this.delaySamples(t, 'inbound', s.inbound.samplesNs);
    }
    for (let i = 0; i < DIRECTIONS.length; i++) {
      const ds = s[DIRECTIONS[i]!];
      const g = i * FIGURES.length;
      // In FIGURES order: min, avg, max, jitter, loss.
      t.gauges[g]!.set(wholeNs(ds.minMs));
      t.gauges[g + 1]!.set(wholeNs(ds.avgMs));
      t.gauges[g + 2]!.set(wholeNs(ds.maxMs));
      t.gauges[g + 3]!.set(wholeNs(ds.jitterMs));
      t.gauges[g + 4]!.set(ds.lossPct ?? NaN);
    }
    // Enum style, as the seed's prometheus_client Enum: the current state 1, the other 0.
    t.gauges[SLOT_RESULT_OK]!.set(e.result === 'ok' ? 1 : 0);
    t.gauges[SLOT_RESULT_ERROR]!.set(e.result === 'error' ? 1 : 0);
    // A period without replies says nothing about the clocks: keep the last known state.
    if (s.received > 0) t.gauges[SLOT_SYNCED]!.set(s.clockSynced ? 1 : 0);
    // Loss by direction is only known per period (it needs the reflector's sequence numbers): the
    // series start at the first period that attributes.
    if (s.lostOutbound !== null) t.counters.lost.outbound.add(s.lostOutbound);
    if (s.lostInbound !== null) t.counters.lost.inbound.add(s.lostInbound);
    // Path: hop gauges follow the period (NaN removes them); re-marking series appear once measurable.
    this.hopFigures(t, s.path.hopsOutbound?.last ?? NaN, s.path.hopsInbound?.last ?? NaN);
    if (s.path.remarkedOutbound !== null) t.counters.remarkedOutbound.add(s.path.remarkedOutbound);
    if (s.path.remarkedInbound !== null) t.counters.remarkedInbound.add(s.path.remarkedInbound);
  }

  /** Buckets a period's delay samples (ns, ascending) into the target's histogram of direction `d`. */
  private delaySamples(t: TargetState, d: Direction, samplesNs: readonly number[]): void {
    // The series appears at its first value; negative one-way delays (unsynchronised clocks) are
    // dropped, as an SDK histogram drops them.
    (t.delay[d] ??= this.delay.series(t.dir[d])).recordSorted(samplesNs, NS_PER_S);
  }

  private hopFigures(t: TargetState, out: number, inb: number): void {
    t.gauges[SLOT_HOPS_OUT]!.set(out);
    t.gauges[SLOT_HOPS_IN]!.set(inb);
  }

  /**
   * A target failed: its figures are no longer current. Errors about names that are not being
   * measured (a name that does not resolve, a discovery host) are only counted, so that they do
   * not create a set of series that no removal would ever clear.
   */
  onTargetError(e: TargetErrorEvent): void {
    this.errors.add(1, { [LABEL.source]: this.opts.source, [LABEL.target]: e.target, [LABEL.reason]: e.code.toLowerCase() });
    const t = this.targets.get(e.target);
    if (!t) return;
    this.clearFigures(t);
    this.hopFigures(t, NaN, NaN);
    t.gauges[SLOT_RESULT_OK]!.set(0);
    t.gauges[SLOT_RESULT_ERROR]!.set(1);
  }

  /** A datagram the sender could not use. */
  onDrop(e: SenderDropEvent): void {
    let attrs = this.dropAttrs.get(e.reason);
    if (!attrs) this.dropAttrs.set(e.reason, (attrs = { [LABEL.source]: this.opts.source, [LABEL.reason]: e.reason }));
    this.dropped.add(1, attrs);
  }
}
