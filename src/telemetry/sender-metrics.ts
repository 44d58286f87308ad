/**
 * Turns a sender's plain result events into measurements.
 *
 * Gauges (the seed-compatible `twampy_latency_*`, `twampy_jitter`, `twampy_loss`,
 * `twampy_result`, plus `twampy_edge`, `twampy_clock_synchronized` and `twampy_hops`) are set when a round or
 * period completes: every gauge of the target gets its new figure, NaN where the period has none,
 * and NaN removes the series. So a failed round (no replies: no min, avg, max or jitter) removes
 * the latency series instead of leaving the previous good values looking current; a target error
 * does the same until the next round completes.
 *
 * Cost: the delay histogram (per reply) and the figure gauges (per period) are kept by the series
 * store, a bucket search or a field write each (an SDK call hashes the attribute set every time;
 * at 1,000 targets either alone cost more than the telemetry budget, see series-store.ts). Packet
 * counters are SDK counters fed from plain integers per target just before each collection, so
 * the values a scrape sees are exact at a few hundred SDK calls a second. Attribute objects and
 * series handles are built once per target.
 */
import type { Attributes, Counter, Meter } from '@opentelemetry/api';
import type {
  Direction,
  LossEvent,
  ReplyEvent,
  SenderDropEvent,
  SenderObserver,
  SentEvent,
  StatsEvent,
  TargetErrorEvent,
} from '../session/events.js';
import { LABEL, SENDER_METRICS as M } from './catalog.js';
import { counter, packetHistogram, storeGauge } from './instruments.js';
import type { GaugeSeries, HistogramSeries, SeriesStore, StoreGauge, StoreHistogram } from './series-store.js';

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

/** Packet counts not yet handed to the SDK. */
interface Pending {
  sent: number;
  received: number;
  lost: number;
  duplicated: number;
  reordered: number;
  late: number;
}

interface TargetState {
  base: Attributes;
  dir: Record<Direction, Attributes>;
  pending: Pending;
  /** Delay histogram series per direction, created at the first value (a direction never measured has none). */
  delay: Partial<Record<Direction, HistogramSeries>>;
  dirty: boolean;
  removed: boolean;
  /** Whether the per-direction lost counters exist yet (they start at the first period). */
  lostByDirection: boolean;
  /** Whether the per-direction re-marked counters exist yet (they start at the first measurable period). */
  remarkedByDirection: boolean;
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

/** SenderObserver that records into OpenTelemetry instruments. */
export class SenderMetrics implements SenderObserver {
  private readonly targets = new Map<string, TargetState>();
  private dirty: TargetState[] = [];
  private readonly sent: Counter;
  private readonly received: Counter;
  private readonly lost: Counter;
  private readonly duplicated: Counter;
  private readonly reordered: Counter;
  private readonly late: Counter;
  private readonly errors: Counter;
  private readonly dropped: Counter;
  private readonly delay: StoreHistogram;
  private readonly gauges: { min: StoreGauge; avg: StoreGauge; max: StoreGauge; jitter: StoreGauge; loss: StoreGauge };
  private readonly result: StoreGauge;
  private readonly synced: StoreGauge;
  private readonly hops: StoreGauge;
  private readonly remarked: Counter;
  private readonly edge: StoreGauge | undefined;
  private readonly dropAttrs = new Map<string, Attributes>();

  constructor(
    meter: Meter,
    private readonly store: SeriesStore,
    private readonly opts: SenderMetricsOptions,
  ) {
    this.sent = counter(meter, M.sent);
    this.received = counter(meter, M.received);
    this.lost = counter(meter, M.lost);
    this.duplicated = counter(meter, M.duplicated);
    this.reordered = counter(meter, M.reordered);
    this.late = counter(meter, M.late);
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
    this.remarked = counter(meter, M.dscpRemarked);
    this.edge = opts.nodegraph ? storeGauge(store, M.edge) : undefined;
    store.onBeforeDrain(() => this.flush());
  }

  /** Hands the batched packet counts to the SDK counters (run by the store before each collection). */
  flush(): void {
    for (const t of this.dirty) {
      t.dirty = false;
      if (t.removed) continue;
      const p = t.pending;
      if (p.sent) this.sent.add(p.sent, t.base);
      if (p.received) this.received.add(p.received, t.base);
      if (p.lost) this.lost.add(p.lost, t.dir.roundtrip);
      if (p.duplicated) this.duplicated.add(p.duplicated, t.base);
      if (p.reordered) this.reordered.add(p.reordered, t.base);
      if (p.late) this.late.add(p.late, t.base);
      p.sent = p.received = p.lost = p.duplicated = p.reordered = p.late = 0;
    }
    this.dirty = [];
  }

  private target(name: string): TargetState {
    let t = this.targets.get(name);
    if (t) return t;
    const source = this.opts.source;
    const base = { [LABEL.source]: source, [LABEL.target]: name };
    const dir = {} as Record<Direction, Attributes>;
    for (const d of DIRECTIONS) dir[d] = { ...base, [LABEL.direction]: d };
    const gauges: GaugeSeries[] = [];
    for (const d of DIRECTIONS) for (const f of FIGURES) gauges.push(this.gauges[f].series(dir[d]));
    gauges[SLOT_RESULT_OK] = this.result.series({ ...base, [LABEL.result]: 'ok' });
    gauges[SLOT_RESULT_ERROR] = this.result.series({ ...base, [LABEL.result]: 'error' });
    gauges[SLOT_SYNCED] = this.synced.series(base);
    if (this.edge) gauges[SLOT_EDGE] = this.edge.series({ [LABEL.id]: `${source}-${name}`, ...base });
    gauges[SLOT_HOPS_OUT] = this.hops.series(dir.outbound);
    gauges[SLOT_HOPS_IN] = this.hops.series(dir.inbound);
    t = {
      base,
      dir,
      pending: { sent: 0, received: 0, lost: 0, duplicated: 0, reordered: 0, late: 0 },
      delay: {},
      dirty: false,
      removed: false,
      lostByDirection: false,
      remarkedByDirection: false,
      gauges,
    };
    this.targets.set(name, t);
    this.store.keepSeries(LABEL.target, name);
    // Zero-initialise the counters so that rate() and increase() work from the first scrape.
    for (const c of [this.sent, this.received, this.duplicated, this.reordered, this.late]) c.add(0, base);
    this.lost.add(0, dir.roundtrip);
    gauges[SLOT_EDGE]?.set(1);
    return t;
  }

  private touch(t: TargetState): Pending {
    if (!t.dirty) {
      t.dirty = true;
      this.dirty.push(t);
    }
    return t.pending;
  }

  /** Sets the per-direction figures (NaN = no figure, the series goes away). */
  private figures(t: TargetState, values: (d: Direction, f: (typeof FIGURES)[number]) => number): void {
    for (let i = 0; i < DIRECTIONS.length; i++) {
      const d = DIRECTIONS[i]!;
      for (let j = 0; j < FIGURES.length; j++) t.gauges[i * FIGURES.length + j]!.set(values(d, FIGURES[j]!));
    }
  }

  /** A target joined the running sender. */
  onTargetAdded(target: string): void {
    this.target(target);
  }

  /** A target left the running sender: its series disappear at the next collection. */
  onTargetRemoved(target: string): void {
    const t = this.targets.get(target);
    if (t) {
      t.removed = true;
      this.targets.delete(target);
      // At once, in case the target comes back before the next collection.
      for (const g of t.gauges) g?.set(NaN);
    }
    this.store.removeSeries(LABEL.target, target);
  }

  /** A test packet left. */
  onSent(e: SentEvent): void {
    this.touch(this.target(e.target)).sent++;
  }

  /** A reply was matched. */
  onReply(e: ReplyEvent): void {
    const t = this.target(e.target);
    const p = this.touch(t);
    if (e.reordered) p.reordered++;
    if (e.duplicate) {
      p.duplicated++;
      return;
    }
    if (e.late) {
      // Already counted as lost; its delay is left out so that the histogram agrees with the gauges.
      p.late++;
      return;
    }
    p.received++;
    this.delaySeries(t, 'roundtrip').record(Number(e.rttNs) / NS_PER_S);
    if (e.clockSynced || this.opts.oneWayUnsynced) {
      // Negative one-way delays (unsynchronised clocks) cannot go into a histogram (the SDK would drop them too).
      if (e.outboundNs >= 0n) this.delaySeries(t, 'outbound').record(Number(e.outboundNs) / NS_PER_S);
      if (e.inboundNs >= 0n) this.delaySeries(t, 'inbound').record(Number(e.inboundNs) / NS_PER_S);
    }
  }

  private delaySeries(t: TargetState, d: Direction): HistogramSeries {
    return (t.delay[d] ??= this.delay.series(t.dir[d]));
  }

  /** A packet timed out. */
  onLoss(e: LossEvent): void {
    this.touch(this.target(e.target)).lost++;
  }

  /** A round or period completed: records every gauge of the target. */
  onStats(e: StatsEvent): void {
    const s = e.stats;
    const t = this.target(s.target);
    this.figures(t, (d, f) => {
      const ds = s[d];
      const v = f === 'min' ? ds.minMs : f === 'avg' ? ds.avgMs : f === 'max' ? ds.maxMs : f === 'jitter' ? ds.jitterMs : ds.lossPct;
      return v ?? NaN;
    });
    // Enum style, as the seed's prometheus_client Enum: the current state 1, the other 0.
    t.gauges[SLOT_RESULT_OK]!.set(e.result === 'ok' ? 1 : 0);
    t.gauges[SLOT_RESULT_ERROR]!.set(e.result === 'error' ? 1 : 0);
    // A period without replies says nothing about the clocks: keep the last known state.
    if (s.received > 0) t.gauges[SLOT_SYNCED]!.set(s.clockSynced ? 1 : 0);
    // Loss by direction is only known per period (it needs the reflector's sequence numbers). The
    // series start at the first period that attributes; after that adding 0 is skipped.
    if (s.lostOutbound !== null && (s.lostOutbound > 0 || !t.lostByDirection)) this.lost.add(s.lostOutbound, t.dir.outbound);
    if (s.lostInbound !== null && (s.lostInbound > 0 || !t.lostByDirection)) this.lost.add(s.lostInbound, t.dir.inbound);
    if (s.lostOutbound !== null && s.lostInbound !== null) t.lostByDirection = true;
    // Path: hop gauges follow the period (NaN removes them); re-marking series appear once measurable.
    this.hopFigures(t, s.path.hopsOutbound?.last ?? NaN, s.path.hopsInbound?.last ?? NaN);
    const ro = s.path.remarkedOutbound;
    const ri = s.path.remarkedInbound;
    if (ro !== null && (ro > 0 || !t.remarkedByDirection)) this.remarked.add(ro, t.dir.outbound);
    if (ri !== null && (ri > 0 || !t.remarkedByDirection)) this.remarked.add(ri, t.dir.inbound);
    if (ro !== null && ri !== null) t.remarkedByDirection = true;
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
    this.figures(t, () => NaN);
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
