/**
 * Plain events of the TWAMP-Control server and client, for the printer/log and the telemetry
 * layer (which alone imports OpenTelemetry). Label-friendly values only: reasons and outcomes are
 * small fixed sets, never measured values.
 */
import type { ReflectedEvent } from '../session/events.js';

/** Why a control connection or a session request was refused or a connection was dropped. */
export type ControlRejectReason =
  | 'not_allowed' // peer outside the allow-list
  | 'connection_limit' // too many control connections
  | 'peer_limit' // too many control connections from this peer
  | 'unsupported_mode' // Set-Up-Response chose a mode we do not offer
  | 'client_gave_up' // Set-Up-Response with mode 0
  | 'unknown_key' // KeyID not in the key file
  | 'bad_token' // Token did not decrypt to our challenge (wrong secret)
  | 'bad_hmac' // a message failed integrity protection
  | 'malformed' // a message that cannot be decoded
  | 'unknown_command' // a command we do not implement
  | 'out_of_order' // a command not valid in this state
  | 'session_limit' // too many sessions (global or per connection)
  | 'no_port' // no allowed test port free
  | 'unsupported_request' // Conf-Sender/Receiver, Type-P, padding, addresses we cannot honour
  | 'servwait_timeout' // no complete message (nor test packet) within SERVWAIT
  | 'overrun'; // the peer sent far more than the protocol allows

/** How a test session ended (or was refused). */
export type SessionOutcome = 'accepted' | 'rejected' | 'completed' | 'timed_out' | 'aborted';

/** A control connection came in. */
export interface ControlConnectionEvent {
  address: string;
  port: number;
  /** 'accepted' when greeted with our modes, 'refused' when greeted with Modes = 0. */
  result: 'accepted' | 'refused';
  reason?: ControlRejectReason;
}

/** A control connection ended. */
export interface ControlClosedEvent {
  address: string;
  port: number;
  /** Security mode negotiated (0 when none). */
  mode: number;
  /** Why it ended: 'client_closed', 'server_closed' or a reject reason. */
  reason: string;
  durationMs: number;
}

/** Something was refused (a connection, a setup, a request) or a connection was dropped. */
export interface ControlRejectEvent {
  reason: ControlRejectReason;
  address: string;
  port: number;
  /** Accept value sent, when one was. */
  accept?: number;
  detail: string;
}

/** A session changed state. */
export interface ControlSessionEvent {
  outcome: SessionOutcome;
  address: string;
  /** Test port on our side. */
  port: number;
  /** SID in hex (log only, never a label). */
  sid: string;
  /** Accept value of a rejected request. */
  accept?: number;
  /** Packets reflected over the session's life (completed/timed_out/aborted). */
  reflected?: number;
}

/** Observer of the control server; every method optional. */
export interface ControlObserver {
  onConnection?(e: ControlConnectionEvent): void;
  onClosed?(e: ControlClosedEvent): void;
  onReject?(e: ControlRejectEvent): void;
  onSession?(e: ControlSessionEvent): void;
  /** Current numbers of control connections and test sessions. */
  onActive?(connections: number, sessions: number): void;
  /** A test packet was dropped on a negotiated session (wrong source, bad HMAC, too short, not started). */
  onTestDrop?(reason: 'not_started' | 'unexpected_source' | 'malformed' | 'bad_hmac', address: string): void;
  /** A test packet of a negotiated session was reflected (same event as the light responder's). */
  onReflected?(e: ReflectedEvent): void;
}

/** An observer that forwards to each of `list`. */
export function combineControlObservers(list: ControlObserver[]): ControlObserver {
  const keys = ['onConnection', 'onClosed', 'onReject', 'onSession', 'onActive', 'onTestDrop', 'onReflected'] as const;
  const out: ControlObserver = {};
  for (const k of keys) {
    const fns = list.map((o) => o[k]?.bind(o)).filter((f): f is (...a: never[]) => void => typeof f === 'function');
    if (fns.length > 0) (out as Record<string, unknown>)[k] = (...a: never[]) => { for (const f of fns) f(...a); };
  }
  return out;
}
