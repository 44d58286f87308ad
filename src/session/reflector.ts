/**
 * The Session-Reflector of RFC 5357 section 4.2.1 for TWAMP-Light and STAMP (RFC 8762) requests.
 * It is transport-agnostic: `handle` is given each received datagram and the socket to answer on.
 *
 * - T2 is the datagram's receive time from the socket layer; T3 is read from the clock just
 *   before the reply is handed to the socket (a second, separate read).
 * - Stateful by default: one counter per sender (address, port), starting at 0, dropped after
 *   REFWAIT without packets, at most `maxSessions` held (the least recently seen is evicted).
 *   Stateless mode copies the sender's sequence number, as RFC 8762 section 4.3.1 allows.
 * - Sender TTL: the received TTL when the socket layer delivers it, else 0. 0 cannot be the TTL of
 *   a delivered packet, so it reads as "unknown" rather than as a false hop count (255 would
 *   claim the packet crossed no router).
 * - RFC 7750 DSCP and ECN Monitoring (`dscpEcnMonitoring`): TWAMP replies carry the request's
 *   DS octet as received in the octet after Sender TTL. The application refuses the option on a
 *   socket layer that cannot read the received TOS, so `tos` is always present when it is on.
 * - Never throws on input: every datagram it does not answer is reported with a reason.
 */
import type { Clock, Scheduler, Cancel } from './clock.js';
import type { DropReason, ResponderObserver } from './events.js';
import type { DatagramSocket, ReceivedDatagram } from '../transport/types.js';
import type { CidrSet } from '../config/cidr.js';
import { RateLimiter } from './rate-limit.js';
import { buildReply, buildReplyInto, requestSeq, writeReplyT3, type ReplyFields, type ReplyFormat } from '../protocol/reflect.js';
import { SENDER_HEADER_LENGTH } from '../protocol/test-packet.js';
import { looksLikeStamp } from '../protocol/stamp.js';

/** Reflector settings (defaults live in src/config/defaults.ts). */
export interface ReflectorOptions {
  /** Copy the sender's sequence number instead of keeping a counter per sender. */
  stateless: boolean;
  /** Idle time after which a sender's state is dropped (RFC 5357 REFWAIT), ms. */
  refwaitMs: number;
  /** Most sender sessions held at once. */
  maxSessions: number;
  /** Sources allowed to get replies; null = everyone. */
  allow: CidrSet | null;
  /** Packets per second reflected per source address; 0 = unlimited. */
  rateLimitPps: number;
  /** Largest request answered, octets. */
  maxRequestBytes: number;
  /** Our 16-bit error estimate. */
  errorEstimate: number;
  /** Answer STAMP-shaped requests in STAMP format (RFC 8762). */
  stamp: boolean;
  /**
   * TOS byte of replies: 'copy' the request's (DSCP and ECN as received), a fixed byte, or null
   * to leave the socket's. Needs a socket layer that can set (and, for 'copy', read) TOS.
   */
  replyTos?: 'copy' | number | null;
  /** RFC 7750: report the received DSCP and ECN in TWAMP replies. Needs a layer that reads TOS. */
  dscpEcnMonitoring?: boolean;
}

interface SenderState {
  nextSeq: number;
  lastSeenNs: bigint;
}

/** Counters a reflector keeps for its summary. */
export interface ReflectorCounters {
  received: number;
  reflected: number;
  dropped: Record<DropReason, number>;
}

/** Reflects TWAMP-Test and STAMP requests. */
export class Reflector {
  /** Sender state by source address, then port: no per-packet key string to build. */
  private readonly sessions = new Map<string, Map<number, SenderState>>();
  private count = 0;
  private readonly limiter: RateLimiter;
  private readonly refwaitNs: bigint;
  private sweepCancel: Cancel | null = null;
  private readonly onReflected: ResponderObserver['onReflected'];
  /**
   * One reply buffer reused for sockets that copy on send (no allocation per packet), and a view
   * of its first `view.length` octets, kept while reply sizes repeat (they do within a stream).
   */
  private scratch = Buffer.allocUnsafe(2048);
  private view = this.scratch.subarray(0, 0);
  readonly counters: ReflectorCounters = {
    received: 0,
    reflected: 0,
    dropped: { malformed: 0, not_allowed: 0, rate_limited: 0, unknown_session: 0 },
  };

  constructor(
    readonly options: ReflectorOptions,
    private readonly clock: Clock,
    private readonly scheduler: Scheduler,
    private readonly observer: ResponderObserver = {},
  ) {
    this.limiter = new RateLimiter(options.rateLimitPps);
    this.onReflected = observer.onReflected?.bind(observer);
    this.refwaitNs = BigInt(Math.round(options.refwaitMs)) * 1_000_000n;
    if (!options.stateless) this.scheduleSweep();
  }

  /** Number of sender sessions currently held. */
  get activeSessions(): number {
    return this.count;
  }

  /** Handles one received datagram, answering on `socket` when it deserves an answer. */
  handle(d: ReceivedDatagram, socket: DatagramSocket): void {
    this.counters.received++;
    const len = d.data.length;
    if (this.options.allow && !this.options.allow.has(d.address)) {
      return this.drop(d, 'not_allowed', 'source not in --allow list');
    }
    if (len < SENDER_HEADER_LENGTH) {
      return this.drop(d, 'malformed', `too short: ${len} octets, a TWAMP-Test request has at least ${SENDER_HEADER_LENGTH}`);
    }
    if (len > this.options.maxRequestBytes) {
      return this.drop(d, 'malformed', `too long: ${len} octets, limit ${this.options.maxRequestBytes}`);
    }
    if (!this.limiter.allow(d.address, d.rxTimeNs)) {
      return this.drop(d, 'rate_limited', `over ${this.options.rateLimitPps} packets/s`);
    }
    const format: ReplyFormat = this.options.stamp && looksLikeStamp(d.data, len) ? 'stamp' : 'twamp';
    const seq = this.options.stateless ? requestSeq(d.data) : this.nextSeq(d);
    const fields: ReplyFields = {
      seq,
      receiveTimestampNs: d.rxTimeNs,
      errorEstimate: this.options.errorEstimate,
      senderTtl: d.ttl ?? 0,
      dscpEcn: this.options.dscpEcnMonitoring && format === 'twamp' ? (d.tos ?? 0) : undefined,
    };
    const reply = socket.copiesOnSend ? this.buildInScratch(d.data, len, format, fields) : buildReply(d.data, len, format, fields);
    const t3 = this.clock.nowNs();
    writeReplyT3(reply, t3);
    const rt = this.options.replyTos;
    if (rt === undefined || rt === null) socket.send(reply, d.port, d.address);
    else socket.send(reply, d.port, d.address, rt === 'copy' ? (d.tos ?? 0) : rt);
    this.counters.reflected++;
    // Built only when someone listens: the event and its BigInt subtraction cost on the hot path.
    if (this.onReflected) this.onReflected({
      address: d.address,
      port: d.port,
      requestBytes: len,
      replyBytes: reply.length,
      processingNs: t3 - d.rxTimeNs,
      format,
    });
  }

  /** Builds the reply in the reused buffer; returns a view of exactly its length. */
  private buildInScratch(req: Buffer, len: number, format: ReplyFormat, f: ReplyFields): Buffer {
    // A reply is at most max(44, request) octets; grow (rarely) to fit.
    if (this.scratch.length < len + 44) {
      this.scratch = Buffer.allocUnsafe(Math.max(len + 44, this.scratch.length * 2));
      this.view = this.scratch.subarray(0, 0);
    }
    const n = buildReplyInto(this.scratch, req, len, format, f);
    if (this.view.length !== n) this.view = this.scratch.subarray(0, n);
    return this.view;
  }

  /** Stops the idle-session sweep. */
  close(): void {
    this.sweepCancel?.();
    this.sweepCancel = null;
  }

  private nextSeq(d: ReceivedDatagram): number {
    let byPort = this.sessions.get(d.address);
    let s = byPort?.get(d.port);
    if (s && d.rxTimeNs - s.lastSeenNs > this.refwaitNs) {
      byPort!.delete(d.port); // REFWAIT expired: the sender starts over
      this.count--;
      s = undefined;
    }
    if (!s) {
      if (this.count >= this.options.maxSessions) this.evictOldest();
      s = { nextSeq: 0, lastSeenNs: d.rxTimeNs };
      if (!byPort) {
        byPort = new Map();
        this.sessions.set(d.address, byPort);
      }
      byPort.set(d.port, s);
      this.count++;
      this.observer.onSessionCount?.(this.count);
    } else {
      s.lastSeenNs = d.rxTimeNs;
    }
    const seq = s.nextSeq;
    s.nextSeq = (s.nextSeq + 1) >>> 0;
    return seq;
  }

  /**
   * Drops the least recently seen session. Only runs when the bound is reached (a full table),
   * so its linear scan costs nothing in normal operation.
   */
  private evictOldest(): void {
    let oldest: { address: string; port: number; lastSeenNs: bigint } | null = null;
    for (const [address, byPort] of this.sessions) {
      for (const [port, st] of byPort) {
        if (!oldest || st.lastSeenNs < oldest.lastSeenNs) oldest = { address, port, lastSeenNs: st.lastSeenNs };
      }
    }
    if (!oldest) return;
    const byPort = this.sessions.get(oldest.address)!;
    byPort.delete(oldest.port);
    if (byPort.size === 0) this.sessions.delete(oldest.address);
    this.count--;
  }

  private drop(d: ReceivedDatagram, reason: DropReason, detail: string): void {
    this.counters.dropped[reason]++;
    this.observer.onDropped?.({ reason, address: d.address, port: d.port, bytes: d.data.length, detail });
  }

  private scheduleSweep(): void {
    const everyMs = Math.max(1000, Math.min(60_000, this.options.refwaitMs / 4));
    this.sweepCancel = this.scheduler.setTimeout(() => {
      this.sweep();
      this.scheduleSweep();
    }, everyMs);
  }

  /** Drops the state of senders idle for longer than REFWAIT. */
  sweep(): void {
    const now = this.clock.nowNs();
    let removed = 0;
    for (const [address, byPort] of this.sessions) {
      for (const [port, st] of byPort) {
        if (now - st.lastSeenNs > this.refwaitNs) {
          byPort.delete(port);
          removed++;
        }
      }
      if (byPort.size === 0) this.sessions.delete(address);
    }
    this.count -= removed;
    if (removed > 0) this.observer.onSessionCount?.(this.count);
  }

}
