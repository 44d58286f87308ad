/**
 * Turns a sender's plain result events into measurements.
 *
 * Gauges (the seed-compatible `twampy_latency_*`, `twampy_jitter`, `twampy_loss`,
 * `twampy_result`, plus `twampy_edge`, `twampy_clock_synchronized` and `twampy_hops`) are recorded when a round
 * or period completes: every gauge of the target gets its new figure, NaN where the period has
 * none, and the series store drops NaN series. So a failed round (no replies: no min, avg, max or
 * jitter) removes the latency series instead of leaving the previous good values looking
 * current; a target error does the same until the next round completes. The store keeps a
 * gauge's last value, so a figure equal to the one already recorded is not recorded again.
 *
 * Cost: the delay histogram is recorded per reply (one SDK call). Packet counters are counted in
 * plain integers per target and added to the SDK counters just before each collection, which
 * saves several SDK calls (attribute hashing, map lookups) per packet; the values a scrape sees
 * are exact. Attribute objects are built once per target.
 */
import type { Attributes, Counter, Gauge, Histogram, Meter } from '@opentelemetry/api';
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
import { counter, gauge, histogram } from './instruments.js';
import type { SeriesStore } from './series-store.js';

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
  edge: Attributes;
  resultOk: Attributes;
  resultError: Attributes;
  pending: Pending;
  dirty: boolean;
  removed: boolean;
  /** Last value recorded per gauge slot (see `slot`), NaN = none. */
  last: Float64Array;
}

/** Gauge slots of a target: 5 figures per direction, then result ok, result error, clock synchronised, hops out and in. */
const FIGURES = ['min', 'avg', 'max', 'jitter', 'loss'] as const;
const SLOT_RESULT_OK = 15;
const SLOT_RESULT_ERROR = 16;
const SLOT_SYNCED = 17;
const SLOT_HOPS_OUT = 18;
const SLOT_HOPS_IN = 19;
const SLOTS = 20;

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
  private readonly delay: Histogram;
  private readonly gauges: { min: Gauge; avg: Gauge; max: Gauge; jitter: Gauge; loss: Gauge };
  private readonly result: Gauge;
  private readonly synced: Gauge;
  private readonly hops: Gauge;
  private readonly remarked: Counter;
  private readonly edge: Gauge | undefined;
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
    this.delay = histogram(meter, M.delay, opts.buckets);
    this.gauges = {
      min: gauge(meter, M.latencyMin),
      avg: gauge(meter, M.latencyAvg),
      max: gauge(meter, M.latencyMax),
      jitter: gauge(meter, M.jitter),
      loss: gauge(meter, M.loss),
    };
    this.result = gauge(meter, M.result);
    this.synced = gauge(meter, M.clockSynced);
    this.hops = gauge(meter, M.hops);
    this.remarked = counter(meter, M.dscpRemarked);
    this.edge = opts.nodegraph ? gauge(meter, M.edge) : undefined;
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
    t = {
      base,
      dir,
      edge: { [LABEL.id]: `${source}-${name}`, ...base },
      resultOk: { ...base, [LABEL.result]: 'ok' },
      resultError: { ...base, [LABEL.result]: 'error' },
      pending: { sent: 0, received: 0, lost: 0, duplicated: 0, reordered: 0, late: 0 },
      dirty: false,
      removed: false,
      last: new Float64Array(SLOTS).fill(NaN),
    };
    this.targets.set(name, t);
    this.store.keepSeries(LABEL.target, name);
    // Zero-initialise the counters so that rate() and increase() work from the first scrape.
    for (const c of [this.sent, this.received, this.duplicated, this.reordered, this.late]) c.add(0, base);
    this.lost.add(0, dir.roundtrip);
    this.edge?.record(1, t.edge);
    return t;
  }

  private touch(t: TargetState): Pending {
    if (!t.dirty) {
      t.dirty = true;
      this.dirty.push(t);
    }
    return t.pending;
  }

  /** Records a gauge unless it already holds `v` (the store keeps the last value). */
  private set(t: TargetState, slot: number, g: Gauge, v: number, attrs: Attributes): void {
    if (Object.is(t.last[slot], v)) return;
    t.last[slot] = v;
    g.record(v, attrs);
  }

  /** Records the per-direction figures (NaN = no figure, the series goes away). */
  private figures(t: TargetState, values: (d: Direction, f: (typeof FIGURES)[number]) => number): void {
    for (let i = 0; i < DIRECTIONS.length; i++) {
      const d = DIRECTIONS[i]!;
      for (let j = 0; j < FIGURES.length; j++) {
        const f = FIGURES[j]!;
        this.set(t, i * FIGURES.length + j, this.gauges[f], values(d, f), t.dir[d]);
      }
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
      // In order with earlier measurements, in case the target comes back before the next collection.
      this.figures(t, () => NaN);
      this.set(t, SLOT_RESULT_OK, this.result, NaN, t.resultOk);
      this.set(t, SLOT_RESULT_ERROR, this.result, NaN, t.resultError);
      this.set(t, SLOT_SYNCED, this.synced, NaN, t.base);
      this.hopFigures(t, NaN, NaN);
      this.edge?.record(NaN, t.edge);
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
    this.delay.record(Number(e.rttNs) / NS_PER_S, t.dir.roundtrip);
    if (e.clockSynced || this.opts.oneWayUnsynced) {
      // Negative one-way delays (unsynchronised clocks) cannot go into a histogram (the SDK drops them).
      if (e.outboundNs >= 0n) this.delay.record(Number(e.outboundNs) / NS_PER_S, t.dir.outbound);
      if (e.inboundNs >= 0n) this.delay.record(Number(e.inboundNs) / NS_PER_S, t.dir.inbound);
    }
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
    this.set(t, SLOT_RESULT_OK, this.result, e.result === 'ok' ? 1 : 0, t.resultOk);
    this.set(t, SLOT_RESULT_ERROR, this.result, e.result === 'error' ? 1 : 0, t.resultError);
    // A period without replies says nothing about the clocks: keep the last known state.
    if (s.received > 0) this.set(t, SLOT_SYNCED, this.synced, s.clockSynced ? 1 : 0, t.base);
    // Loss by direction is only known per period (it needs the reflector's sequence numbers).
    if (s.lostOutbound !== null) this.lost.add(s.lostOutbound, t.dir.outbound);
    if (s.lostInbound !== null) this.lost.add(s.lostInbound, t.dir.inbound);
    // Path: hop gauges follow the period (NaN removes them); re-marking series appear once measurable.
    this.hopFigures(t, s.path.hopsOutbound?.last ?? NaN, s.path.hopsInbound?.last ?? NaN);
    if (s.path.remarkedOutbound !== null) this.remarked.add(s.path.remarkedOutbound, t.dir.outbound);
    if (s.path.remarkedInbound !== null) this.remarked.add(s.path.remarkedInbound, t.dir.inbound);
  }

  private hopFigures(t: TargetState, out: number, inb: number): void {
    this.set(t, SLOT_HOPS_OUT, this.hops, out, t.dir.outbound);
    this.set(t, SLOT_HOPS_IN, this.hops, inb, t.dir.inbound);
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
    this.set(t, SLOT_RESULT_OK, this.result, 0, t.resultOk);
    this.set(t, SLOT_RESULT_ERROR, this.result, 1, t.resultError);
  }

  /** A datagram the sender could not use. */
  onDrop(e: SenderDropEvent): void {
    let attrs = this.dropAttrs.get(e.reason);
    if (!attrs) this.dropAttrs.set(e.reason, (attrs = { [LABEL.source]: this.opts.source, [LABEL.reason]: e.reason }));
    this.dropped.add(1, attrs);
  }
}
