/**
 * Turns a responder's plain events into measurements: packets reflected, packets dropped by
 * reason (all reasons zero-initialised, so an alert on `increase(...[5m]) > 0` works from the
 * start), active sessions, and processing time T3-T2.
 */
import type { Attributes, Counter, Histogram, Meter } from '@opentelemetry/api';
import type { DropReason, DroppedEvent, ReflectedEvent, ResponderObserver } from '../session/events.js';
import { LABEL, PROCESSING_BUCKETS_S, RESPONDER_METRICS as M } from './catalog.js';
import { counter, histogram, observableGauge } from './instruments.js';

/** Every reason a responder drops a datagram for (kept in step with `DropReason`). */
export const DROP_REASONS: readonly DropReason[] = ['malformed', 'not_allowed', 'rate_limited', 'unknown_session'];

/** ResponderObserver that records into OpenTelemetry instruments. */
export class ResponderMetrics implements ResponderObserver {
  private readonly reflected: Counter;
  private readonly dropped: Counter;
  private readonly processing: Histogram;
  private readonly base: Attributes;
  private readonly dropAttrs = new Map<string, Attributes>();
  private sessions = 0;

  constructor(meter: Meter, source: string) {
    this.base = { [LABEL.source]: source };
    this.reflected = counter(meter, M.reflected);
    this.dropped = counter(meter, M.dropped);
    this.processing = histogram(meter, M.processing, PROCESSING_BUCKETS_S);
    observableGauge(meter, M.sessions).addCallback((obs) => obs.observe(this.sessions, this.base));
    this.reflected.add(0, this.base);
    for (const r of DROP_REASONS) this.dropped.add(0, this.dropAttributes(r));
  }

  private dropAttributes(reason: string): Attributes {
    let attrs = this.dropAttrs.get(reason);
    if (!attrs) this.dropAttrs.set(reason, (attrs = { ...this.base, [LABEL.reason]: reason }));
    return attrs;
  }

  /** A request was reflected. */
  onReflected(e: ReflectedEvent): void {
    this.reflected.add(1, this.base);
    if (e.processingNs >= 0n) this.processing.record(Number(e.processingNs) / 1e9, this.base);
  }

  /** A datagram was dropped. */
  onDropped(e: DroppedEvent): void {
    this.dropped.add(1, this.dropAttributes(e.reason));
  }

  /** The number of sessions held changed. */
  onSessionCount(active: number): void {
    this.sessions = active;
  }
}
