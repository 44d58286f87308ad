/**
 * Plain result events that sessions emit. Sessions know nothing of OpenTelemetry or of the
 * terminal: the CLI printer and the telemetry layer are both observers of these events.
 * All times are nanoseconds (bigint) or milliseconds (number) as the field name says.
 */

/** The three directions a TWAMP measurement reports. */
export type Direction = 'outbound' | 'inbound' | 'roundtrip';

/** A test packet left the sender. */
export interface SentEvent {
  /** Target as configured by the user (stable label value). */
  target: string;
  /** Sender sequence number. */
  seq: number;
  /** Bytes of UDP payload sent. */
  bytes: number;
  /** T1, ns since the Unix epoch. */
  t1Ns: bigint;
}

/** A reply was matched to a sent packet (on time, late, or duplicate). */
export interface ReplyEvent {
  target: string;
  /** Sender sequence number echoed by the reflector. */
  seq: number;
  /** Reflector's own sequence number (equals `seq` for a stateless reflector). */
  reflectorSeq: number;
  /** Source of the reply. */
  address: string;
  port: number;
  /** The four timestamps, ns since the Unix epoch. */
  t1Ns: bigint;
  t2Ns: bigint;
  t3Ns: bigint;
  t4Ns: bigint;
  /** (T4-T1)-(T3-T2) in ns. */
  rttNs: bigint;
  /** T2-T1 in ns; may be negative when the clocks are not synchronised. */
  outboundNs: bigint;
  /** T4-T3 in ns; may be negative when the clocks are not synchronised. */
  inboundNs: bigint;
  /** Reply payload size in bytes. */
  bytes: number;
  /** Sender TTL field of the reply (the TTL the reflector saw), or null when it sent 0: it could not read it (or the reply was 38 octets). */
  senderTtl: number | null;
  /** TTL / hop limit of the reply as it reached us, when the socket layer reads it. */
  replyTtl?: number | null;
  /** TOS / traffic class byte of the reply as it reached us (DSCP << 2 | ECN), when the socket layer reads it. */
  replyTos?: number | null;
  /** Routers our packet crossed: the TTL we sent (255 unless --ttl) minus Sender TTL; null when unknown. */
  hopsOutbound?: number | null;
  /** Routers the reply crossed, assuming the reflector sends with TTL 255 (twampd, vendors, twampy): 255 minus `replyTtl`; null when unknown. */
  hopsInbound?: number | null;
  /** RFC 7750: DS octet (DSCP << 2 | ECN) of our packet as the reflector received it; null when not monitored or not carried. */
  reflectorRxTos?: number | null;
  /** Both ends claim clock synchronisation (S bit of both error estimates). */
  clockSynced: boolean;
  /** The reply came after the loss timeout: counted as late, not as received. */
  late: boolean;
  /** A reply for this sequence number was already seen. */
  duplicate: boolean;
  /** The reply arrived after a reply with a higher sequence number (RFC 4737 reordering). */
  reordered: boolean;
}

/** A packet got no reply within the timeout. */
export interface LossEvent {
  target: string;
  seq: number;
  t1Ns: bigint;
}

/** Summary figures for one direction, in milliseconds; null where nothing was measured. */
export interface DirectionStats {
  /** Number of samples. */
  samples: number;
  /**
   * The period's samples in ns, ascending: every figure below is computed from them, and the
   * telemetry layer buckets them into its delay histograms once per period.
   */
  samplesNs: readonly number[];
  minMs: number | null;
  maxMs: number | null;
  avgMs: number | null;
  /** RFC 3550 smoothed jitter estimate at the end of the period. */
  jitterMs: number | null;
  p50Ms: number | null;
  p90Ms: number | null;
  p99Ms: number | null;
  /** Percent of packets *sent* lost in this direction; null when it cannot be attributed. */
  lossPct: number | null;
}

/** Hop counts of one direction over a period. */
export interface HopStats {
  /** Of the last reply in the period. */
  last: number;
  min: number;
  max: number;
}

/** Path figures of a period from the TTL and DS fields; null where not measured. */
export interface PathStats {
  /** Our TTL minus the reflector's Sender TTL. */
  hopsOutbound: HopStats | null;
  /** 255 minus the reply's TTL (native layer; assumes the reflector sends with 255). */
  hopsInbound: HopStats | null;
  /** DSCP of our test packets. */
  sentDscp: number;
  /** RFC 7750: DSCP the reflector received (last reply of the period); null when not monitored. */
  reflectorRxDscp: number | null;
  /** DSCP of the last reply as it reached us; null when the socket layer cannot read it. */
  replyDscp: number | null;
  /** RFC 7750: replies whose request reached the reflector with a DSCP other than we sent; null when not monitored. */
  remarkedOutbound: number | null;
  /**
   * Replies that reached us with a DSCP other than the one the reflector received: a re-marking
   * on the way back only when the reflector copies the request's DSCP (twampy --reply-dscp copy);
   * null unless both are known.
   */
  remarkedInbound: number | null;
}

/** Statistics of one target over a round (count mode) or a rolling period (continuous mode). */
export interface TargetStats {
  /** Target as configured. */
  target: string;
  /** Address measured (after resolution) and port. */
  address: string;
  port: number;
  /** Packets sent whose fate is known in this period (replied, or timed out). */
  sent: number;
  /** Replies received on time (duplicates excluded). */
  received: number;
  /** Packets with no on-time reply. */
  lost: number;
  /** Lost packets attributed to the outbound / inbound direction; null when not attributable. */
  lostOutbound: number | null;
  lostInbound: number | null;
  duplicates: number;
  reordered: number;
  late: number;
  outbound: DirectionStats;
  inbound: DirectionStats;
  roundtrip: DirectionStats;
  /** Whether the reflector keeps its own counter (true), copies ours (false), or unknown (null). */
  reflectorStateful: boolean | null;
  /** Both clocks claim synchronisation for every sample in the period. */
  clockSynced: boolean;
  /** Hop counts and DSCP re-marking over the period. */
  path: PathStats;
  /** Period bounds, ns since the Unix epoch. */
  startNs: bigint;
  endNs: bigint;
}

/** A round or rolling period completed for a target. */
export interface StatsEvent {
  stats: TargetStats;
  /** True for the last report of a finite run. */
  final: boolean;
  /** "ok" when at least one reply came back in the period, "error" otherwise. */
  result: 'ok' | 'error';
}

/** Something went wrong for a target (resolution failed, send failed, ...). */
export interface TargetErrorEvent {
  target: string;
  /** Stable code, e.g. 'ERR_RESOLVE', 'ERR_SEND'. */
  code: string;
  message: string;
}

/** A datagram that the sender could not use (malformed, unknown source, unknown sequence). */
export interface SenderDropEvent {
  reason: 'malformed' | 'unexpected_source' | 'unknown_sequence';
  address: string;
  port: number;
}

/** Observer of a sender; every method optional. */
export interface SenderObserver {
  onSent?(e: SentEvent): void;
  onReply?(e: ReplyEvent): void;
  onLoss?(e: LossEvent): void;
  onStats?(e: StatsEvent): void;
  onTargetError?(e: TargetErrorEvent): void;
  onDrop?(e: SenderDropEvent): void;
  /** A target was added to or removed from the running sender (its series should follow). */
  onTargetAdded?(target: string): void;
  onTargetRemoved?(target: string): void;
}

/** Why the responder dropped a datagram. */
export type DropReason = 'malformed' | 'not_allowed' | 'rate_limited' | 'unknown_session';

/** A request was reflected. */
export interface ReflectedEvent {
  address: string;
  port: number;
  /** Request and reply payload sizes. */
  requestBytes: number;
  replyBytes: number;
  /** T3 - T2 in ns. */
  processingNs: bigint;
  /** 'twamp' (RFC 5357 light or negotiated) or 'stamp' (RFC 8762). */
  format: 'twamp' | 'stamp';
}

/** A datagram was dropped by the responder. */
export interface DroppedEvent {
  reason: DropReason;
  address: string;
  port: number;
  bytes: number;
  /** Human-readable detail (decode error code and offset, rule that refused, ...). */
  detail: string;
}

/** Observer of a responder (reflector); every method optional. */
export interface ResponderObserver {
  onReflected?(e: ReflectedEvent): void;
  onDropped?(e: DroppedEvent): void;
  /** Number of sessions (per sender address and port) currently held. */
  onSessionCount?(active: number): void;
}
