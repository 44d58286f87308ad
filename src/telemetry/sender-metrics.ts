/**
 * Turns a sender's plain result events into measurements.
 *
 * Gauges (the seed-compatible `twampy_latency_*`, `twampy_jitter`, `twampy_loss`,
 * `twampy_result`, plus `twampy_edge` and `twampy_clock_synchronized`) are observable: a batch
 * callback reports the last completed round or period of each configured target. Each stats
 * event replaces the whole snapshot of its target, so a failed round (no replies: no min, avg,
 * max or jitter) removes the latency series instead of leaving the previous good values looking
 * current, and a target error does the same until the next round completes.
 *
 * Counters and the delay histogram are recorded per packet. Attribute objects are built once per
 * target, not per packet.
 */
import type { Attributes, BatchObservableResult, Counter, Histogram, Meter, ObservableGauge } from '@opentelemetry/api';
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
import { counter, histogram, observableGauge } from './instruments.js';
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

/** Figures of one direction, in the seed's units (ms, percent); null = no series. */
interface DirectionGauges {
  min: number | null;
  avg: number | null;
  max: number | null;
  jitter: number | null;
  loss: number | null;
}

interface TargetState {
  base: Attributes;
  dir: Record<Direction, Attributes>;
  edge: Attributes;
  resultOk: Attributes;
  resultError: Attributes;
  gauges: Record<Direction, DirectionGauges> | null;
  result: 'ok' | 'error' | null;
  clockSynced: boolean | null;
}

const NO_GAUGES: DirectionGauges = { min: null, avg: null, max: null, jitter: null, loss: null };

const NS_PER_S = 1e9;

/** SenderObserver that records into OpenTelemetry instruments. */
export class SenderMetrics implements SenderObserver {
  private readonly targets = new Map<string, TargetState>();
  private readonly sent: Counter;
  private readonly received: Counter;
  private readonly lost: Counter;
  private readonly duplicated: Counter;
  private readonly reordered: Counter;
  private readonly late: Counter;
  private readonly errors: Counter;
  private readonly dropped: Counter;
  private readonly delay: Histogram;
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

    const gauges = {
      min: observableGauge(meter, M.latencyMin),
      avg: observableGauge(meter, M.latencyAvg),
      max: observableGauge(meter, M.latencyMax),
      jitter: observableGauge(meter, M.jitter),
      loss: observableGauge(meter, M.loss),
    } satisfies Record<keyof DirectionGauges, ObservableGauge>;
    const result = observableGauge(meter, M.result);
    const synced = observableGauge(meter, M.clockSynced);
    const edge = opts.nodegraph ? observableGauge(meter, M.edge) : undefined;
    const all: ObservableGauge[] = [...Object.values(gauges), result, synced, ...(edge ? [edge] : [])];

    meter.addBatchObservableCallback((obs: BatchObservableResult) => {
      for (const t of this.targets.values()) {
        if (t.gauges) {
          for (const d of DIRECTIONS) {
            const g = t.gauges[d];
            const attrs = t.dir[d];
            if (g.min !== null) obs.observe(gauges.min, g.min, attrs);
            if (g.avg !== null) obs.observe(gauges.avg, g.avg, attrs);
            if (g.max !== null) obs.observe(gauges.max, g.max, attrs);
            if (g.jitter !== null) obs.observe(gauges.jitter, g.jitter, attrs);
            if (g.loss !== null) obs.observe(gauges.loss, g.loss, attrs);
          }
        }
        if (t.result !== null) {
          // Enum style, as the seed's prometheus_client Enum: the current state 1, the other 0.
          obs.observe(result, t.result === 'ok' ? 1 : 0, t.resultOk);
          obs.observe(result, t.result === 'error' ? 1 : 0, t.resultError);
        }
        if (t.clockSynced !== null) obs.observe(synced, t.clockSynced ? 1 : 0, t.base);
        if (edge) obs.observe(edge, 1, t.edge);
      }
    }, all);
  }

  /** Number of targets with series. */
  get targetCount(): number {
    return this.targets.size;
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
      gauges: null,
      result: null,
      clockSynced: null,
    };
    this.targets.set(name, t);
    this.store.keepSeries(LABEL.target, name);
    // Zero-initialise the counters so that rate() and increase() work from the first scrape.
    for (const c of [this.sent, this.received, this.duplicated, this.reordered, this.late]) c.add(0, base);
    this.lost.add(0, dir.roundtrip);
    return t;
  }

  /** A target joined the running sender. */
  onTargetAdded(target: string): void {
    this.target(target);
  }

  /** A target left the running sender: its series disappear at the next collection. */
  onTargetRemoved(target: string): void {
    this.targets.delete(target);
    this.store.removeSeries(LABEL.target, target);
  }

  /** A test packet left. */
  onSent(e: SentEvent): void {
    this.sent.add(1, this.target(e.target).base);
  }

  /** A reply was matched. */
  onReply(e: ReplyEvent): void {
    const t = this.target(e.target);
    if (e.reordered) this.reordered.add(1, t.base);
    if (e.duplicate) {
      this.duplicated.add(1, t.base);
      return;
    }
    t.clockSynced = e.clockSynced;
    if (e.late) {
      // Already counted as lost; its delay is left out so that the histogram agrees with the gauges.
      this.late.add(1, t.base);
      return;
    }
    this.received.add(1, t.base);
    this.delay.record(Number(e.rttNs) / NS_PER_S, t.dir.roundtrip);
    if (e.clockSynced || this.opts.oneWayUnsynced) {
      // Negative one-way delays (unsynchronised clocks) cannot go into a histogram (the SDK drops them).
      if (e.outboundNs >= 0n) this.delay.record(Number(e.outboundNs) / NS_PER_S, t.dir.outbound);
      if (e.inboundNs >= 0n) this.delay.record(Number(e.inboundNs) / NS_PER_S, t.dir.inbound);
    }
  }

  /** A packet timed out. */
  onLoss(e: LossEvent): void {
    this.lost.add(1, this.target(e.target).dir.roundtrip);
  }

  /** A round or period completed: replaces the target's gauges. */
  onStats(e: StatsEvent): void {
    const s = e.stats;
    const t = this.target(s.target);
    const gauges = {} as Record<Direction, DirectionGauges>;
    for (const d of DIRECTIONS) {
      const ds = s[d];
      gauges[d] = { min: ds.minMs, avg: ds.avgMs, max: ds.maxMs, jitter: ds.jitterMs, loss: ds.lossPct };
    }
    t.gauges = gauges;
    t.result = e.result;
    // Loss by direction is only known per period (it needs the reflector's sequence numbers).
    if (s.lostOutbound !== null) this.lost.add(s.lostOutbound, t.dir.outbound);
    if (s.lostInbound !== null) this.lost.add(s.lostInbound, t.dir.inbound);
  }

  /** A target failed: its figures are no longer current. */
  onTargetError(e: TargetErrorEvent): void {
    const t = this.target(e.target);
    this.errors.add(1, { ...t.base, [LABEL.reason]: e.code.toLowerCase() });
    t.gauges = { outbound: NO_GAUGES, inbound: NO_GAUGES, roundtrip: NO_GAUGES };
    t.result = 'error';
  }

  /** A datagram the sender could not use. */
  onDrop(e: SenderDropEvent): void {
    let attrs = this.dropAttrs.get(e.reason);
    if (!attrs) this.dropAttrs.set(e.reason, (attrs = { [LABEL.source]: this.opts.source, [LABEL.reason]: e.reason }));
    this.dropped.add(1, attrs);
  }
}
