/**
 * Turns the TWAMP-Control server's plain events into measurements: connections by result,
 * sessions by outcome, refusals by reason, and the open connections and sessions. Packets
 * reflected on negotiated sessions go to the responder's series (same event, same meaning).
 * Every outcome and reason is zero-initialised so that increase() alerts work from the start.
 */
import type { Attributes, Counter, Gauge, Meter } from '@opentelemetry/api';
import type { ControlObserver, ControlRejectReason, SessionOutcome } from '../control/events.js';
import type { ResponderObserver } from '../session/events.js';
import { CONTROL_METRICS as M, LABEL } from './catalog.js';
import { counter, gauge } from './instruments.js';

/** Every session outcome (kept in step with `SessionOutcome`). */
export const SESSION_OUTCOMES: readonly SessionOutcome[] = ['accepted', 'rejected', 'completed', 'timed_out', 'aborted'];
/** Every refusal reason (kept in step with `ControlRejectReason`). */
export const REJECT_REASONS: readonly ControlRejectReason[] = [
  'not_allowed', 'connection_limit', 'peer_limit', 'unsupported_mode', 'client_gave_up', 'unknown_key', 'bad_token',
  'bad_hmac', 'malformed', 'unknown_command', 'out_of_order', 'session_limit', 'no_port', 'unsupported_request',
  'servwait_timeout', 'overrun',
];

/** ControlObserver that records into OpenTelemetry instruments. */
export class ControlMetrics implements ControlObserver {
  private readonly connections: Counter;
  private readonly sessions: Counter;
  private readonly rejected: Counter;
  private readonly activeConnections: Gauge;
  private readonly activeSessions: Gauge;
  private readonly base: Attributes;
  private readonly attrs = new Map<string, Attributes>();

  constructor(meter: Meter, source: string, private readonly responder: ResponderObserver) {
    this.base = { [LABEL.source]: source };
    this.connections = counter(meter, M.connections);
    this.sessions = counter(meter, M.sessions);
    this.rejected = counter(meter, M.rejected);
    this.activeConnections = gauge(meter, M.activeConnections);
    this.activeSessions = gauge(meter, M.activeSessions);
    for (const r of ['accepted', 'refused']) this.connections.add(0, this.with(LABEL.outcome, r));
    for (const o of SESSION_OUTCOMES) this.sessions.add(0, this.with(LABEL.outcome, o));
    for (const r of REJECT_REASONS) this.rejected.add(0, this.with(LABEL.reason, r));
    this.activeConnections.record(0, this.base);
    this.activeSessions.record(0, this.base);
  }

  private with(key: string, value: string): Attributes {
    const k = `${key}=${value}`;
    let a = this.attrs.get(k);
    if (!a) this.attrs.set(k, (a = { ...this.base, [key]: value }));
    return a;
  }

  onConnection: NonNullable<ControlObserver['onConnection']> = (e) => this.connections.add(1, this.with(LABEL.outcome, e.result));
  onReject: NonNullable<ControlObserver['onReject']> = (e) => this.rejected.add(1, this.with(LABEL.reason, e.reason));
  onSession: NonNullable<ControlObserver['onSession']> = (e) => this.sessions.add(1, this.with(LABEL.outcome, e.outcome));
  onActive: NonNullable<ControlObserver['onActive']> = (connections, sessions) => {
    this.activeConnections.record(connections, this.base);
    this.activeSessions.record(sessions, this.base);
  };
  onReflected: NonNullable<ControlObserver['onReflected']> = (e) => this.responder.onReflected?.(e);
  /** A test packet of a negotiated session was dropped: counted with the responder's drops. */
  onTestDrop: NonNullable<ControlObserver['onTestDrop']> = (reason, address) =>
    this.responder.onDropped?.({
      // Not started / wrong source: no running session for this packet. Bad HMAC / too short: malformed.
      reason: reason === 'not_started' || reason === 'unexpected_source' ? 'unknown_session' : 'malformed',
      address,
      port: 0,
      bytes: 0,
      detail: reason,
    });
}
