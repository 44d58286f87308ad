/**
 * Turns a responder's plain events into measurements: packets reflected, packets dropped by
 * reason (all reasons zero-initialised, so an alert on `increase(...[5m]) > 0` works from the
 * start), active sessions, and processing time T3-T2.
 *
 * Cost per reflected packet: a bucket search and three additions (the processing-time histogram is
 * aggregated by the series store, see series-store.ts). Reflected and dropped counts are plain
 * integers added to the SDK counters just before each collection, so a flood of garbage costs an
 * increment per datagram, not an SDK call. Kernel drops (native layer) are read from the socket
 * layer's own cumulative counter just before each collection; nothing is counted per packet.
 */
import type { Attributes, Counter, Gauge, Meter } from '@opentelemetry/api';
import type { DropReason, DroppedEvent, ReflectedEvent, ResponderObserver } from '../session/events.js';
import { LABEL, PROCESSING_BUCKETS_S, RESPONDER_METRICS as M } from './catalog.js';
import { counter, gauge, packetHistogram } from './instruments.js';
import type { HistogramSeries, SeriesStore, StoreHistogram } from './series-store.js';

/** Every reason a responder drops a datagram for (kept in step with `DropReason`). */
export const DROP_REASONS: readonly DropReason[] = ['malformed', 'not_allowed', 'rate_limited', 'unknown_session'];

/** ResponderObserver that records into OpenTelemetry instruments. */
export class ResponderMetrics implements ResponderObserver {
  private readonly reflected: Counter;
  private readonly dropped: Counter;
  private processing: HistogramSeries | null = null;
  private readonly processingHistogram: StoreHistogram;
  private readonly sessions: Gauge;
  private readonly base: Attributes;
  private readonly dropAttrs = new Map<string, Attributes>();
  private pendingReflected = 0;
  private readonly pendingDropped = new Map<string, number>();
  private readonly kernelDropSources: (() => number)[] = [];
  private kernelDropsSeen = 0;
  private kernelDrops: Counter | undefined;

  constructor(
    private readonly meter: Meter,
    store: SeriesStore,
    source: string,
  ) {
    this.base = { [LABEL.source]: source };
    this.reflected = counter(meter, M.reflected);
    this.dropped = counter(meter, M.dropped);
    this.processingHistogram = packetHistogram(store, M.processing, PROCESSING_BUCKETS_S);
    this.sessions = gauge(meter, M.sessions);
    this.reflected.add(0, this.base);
    for (const r of DROP_REASONS) this.dropped.add(0, this.dropAttributes(r));
    this.sessions.record(0, this.base);
    store.onBeforeDrain(() => {
      if (this.pendingReflected > 0) this.reflected.add(this.pendingReflected, this.base);
      this.pendingReflected = 0;
      for (const [reason, n] of this.pendingDropped) if (n > 0) this.dropped.add(n, this.dropAttributes(reason));
      this.pendingDropped.clear();
      if (this.kernelDrops) {
        let total = 0;
        for (const read of this.kernelDropSources) total += read();
        // Cumulative in the kernel; a closed socket's count leaving the sum must not go negative.
        if (total > this.kernelDropsSeen) this.kernelDrops.add(total - this.kernelDropsSeen, this.base);
        this.kernelDropsSeen = Math.max(this.kernelDropsSeen, total);
      }
    });
  }

  /**
   * Exports `twampy_responder_kernel_drops_total` from `read`, a cumulative count of datagrams the
   * kernel dropped on the responder's sockets; only a socket layer that counts them registers one.
   */
  countKernelDrops(read: () => number): void {
    if (!this.kernelDrops) {
      this.kernelDrops = counter(this.meter, M.kernelDrops);
      this.kernelDrops.add(0, this.base);
    }
    this.kernelDropSources.push(read);
  }

  private dropAttributes(reason: string): Attributes {
    let attrs = this.dropAttrs.get(reason);
    if (!attrs) this.dropAttrs.set(reason, (attrs = { ...this.base, [LABEL.reason]: reason }));
    return attrs;
  }

  /** A request was reflected. */
  onReflected(e: ReflectedEvent): void {
    this.pendingReflected++;
    if (e.processingNs >= 0n) (this.processing ??= this.processingHistogram.series(this.base)).record(Number(e.processingNs) / 1e9);
  }

  /** A datagram was dropped. */
  onDropped(e: DroppedEvent): void {
    this.pendingDropped.set(e.reason, (this.pendingDropped.get(e.reason) ?? 0) + 1);
  }

  /** The number of sessions held changed. */
  onSessionCount(active: number): void {
    this.sessions.record(active, this.base);
  }
}
