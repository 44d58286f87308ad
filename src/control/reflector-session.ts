/**
 * The Session-Reflector side of one negotiated TWAMP test session (RFC 5357 section 4.2), in
 * every mode: unauthenticated and mixed (RFC 5618) use the light reflector's reply builder
 * (src/protocol/reflect.ts); authenticated and encrypted modes open the request with the
 * session's keys and answer with the 112-octet protected reply.
 *
 * - Reflects only after Start-Sessions, only datagrams from the negotiated sender address (and
 *   port, when the request named one); everything else is dropped and reported.
 * - T2 is the socket layer's receive time; T3 is read from the clock just before sending.
 * - Own sequence counter from 0 (stateful reflector).
 * - Reply size is max(minimum reply, request size, negotiated request size) (RFC 6038 symmetric
 *   size; the reply never exceeds what the control client itself asked for).
 * - REFWAIT: no packet for `refwaitMs` while started ends the session ('timed_out').
 * - After Stop-Sessions it keeps reflecting for the negotiated Timeout, then closes.
 * - RFC 7750 (mode 256 negotiated): the octet after Sender TTL reports the DS field the request
 *   arrived with (the server offers the mode only on a socket layer that reads it).
 */
import type { Cancel, Clock, Scheduler } from '../session/clock.js';
import type { DatagramSocket, ReceivedDatagram } from '../transport/types.js';
import { buildReply, writeReplyT3 } from '../protocol/reflect.js';
import { SENDER_HEADER_LENGTH } from '../protocol/test-packet.js';
import {
  AUTH_REFLECTOR_HEADER_LENGTH,
  AUTH_REFLECTOR_TIMESTAMP_OFFSET,
  AUTH_SENDER_HEADER_LENGTH,
  AUTH_SENDER_TIMESTAMP_ECHO_OFFSET,
  AUTH_SENDER_TIMESTAMP_OFFSET,
  decodeAuthSenderPacket,
  encodeAuthReflectorPacket,
  openTestPacket,
  sealTestPacket,
  type TestPacketKeys,
  type TestSecurity,
} from '../protocol/test-auth.js';
import { writeNtp } from '../protocol/timestamp.js';
import { AUTH_DSCP_ECN_OFFSET } from '../protocol/dscp-ecn.js';
import { DecodeError } from '../protocol/errors.js';
import { normaliseAddress } from '../transport/dgram.js';
import type { SessionOutcome } from './events.js';
import type { ReflectedEvent } from '../session/events.js';

/** How a session's test packets are protected. */
export type TestProtection = { security: 'none' } | { security: TestSecurity; keys: TestPacketKeys };

/** Parameters of one accepted session. */
export interface ReflectorSessionParams {
  socket: DatagramSocket;
  protection: TestProtection;
  /** Where test packets must come from. */
  senderAddress: string;
  /** 0: any port of `senderAddress`. */
  senderPort: number;
  /**
   * Negotiated Padding Length. Replies are at least as long as a request of that size would
   * make them (and at least as long as the actual request): RFC 6038 symmetric size for the
   * size both ends agreed on, even when a sender pads less than it said.
   */
  paddingLength: number;
  /** Negotiated Timeout, ms: how long to keep reflecting after Stop-Sessions. */
  timeoutMs: number;
  /** REFWAIT, ms. */
  refwaitMs: number;
  /** Largest request answered. */
  maxRequestBytes: number;
  errorEstimate: number;
  /** RFC 7750 DSCP and ECN Monitoring was negotiated. */
  dscpEcn?: boolean;
  clock: Clock;
  scheduler: Scheduler;
  /** A packet from the right sender was reflected (keeps SERVWAIT at bay). */
  onActivity: () => void;
  /** Per-packet report for metrics (optional). */
  onReflected?: (e: ReflectedEvent) => void;
  onDrop: (reason: 'not_started' | 'unexpected_source' | 'malformed' | 'bad_hmac', address: string) => void;
  /** The session ended; the socket is closed by the session. */
  onEnd: (outcome: Exclude<SessionOutcome, 'accepted' | 'rejected'>, reflected: number) => void;
}

/** One negotiated test session on the reflector side. */
export class ReflectorSession {
  private state: 'accepted' | 'started' | 'stopping' | 'ended' = 'accepted';
  private seq = 0;
  reflected = 0;
  private refwait: Cancel | null = null;
  private stopTimer: Cancel | null = null;
  private closing: Promise<void> | null = null;
  private lastPacketNs = 0n;

  constructor(private readonly p: ReflectorSessionParams) {
    p.socket.onMessage((d) => this.onDatagram(d));
    p.socket.onError(() => undefined); // send errors (e.g. ICMP unreachable) must not end the session
  }

  /** Local test port. */
  get port(): number {
    return this.p.socket.localAddress().port;
  }

  /** Whether Start-Sessions has been received and the session is not over. */
  get running(): boolean {
    return this.state === 'started' || this.state === 'stopping';
  }

  /** Starts reflecting (Start-Sessions). */
  start(): void {
    if (this.state !== 'accepted') return;
    this.state = 'started';
    this.armRefwait();
  }

  /** Stop-Sessions: keep reflecting for the negotiated Timeout, then end as 'completed'. */
  stop(): void {
    if (this.state === 'ended' || this.state === 'stopping') return;
    this.state = 'stopping';
    this.stopTimer = this.p.scheduler.setTimeout(() => void this.end('completed'), this.p.timeoutMs);
  }

  /** Ends at once (control connection gone, server closing); a stopped session counts as completed. */
  abort(): Promise<void> {
    return this.end(this.state === 'stopping' ? 'completed' : 'aborted');
  }

  /** Notes a packet; one timer checks the idle time when due (no timer churn per packet). */
  private armRefwait(): void {
    this.lastPacketNs = this.p.clock.nowNs();
    if (!this.refwait) this.scheduleRefwait(this.p.refwaitMs);
  }

  private scheduleRefwait(ms: number): void {
    this.refwait = this.p.scheduler.setTimeout(() => {
      this.refwait = null;
      if (this.state !== 'started') return;
      const idleMs = Number(this.p.clock.nowNs() - this.lastPacketNs) / 1e6;
      if (idleMs < this.p.refwaitMs) this.scheduleRefwait(Math.max(0.001, this.p.refwaitMs - idleMs));
      else void this.end('timed_out');
    }, ms);
  }

  private end(outcome: Exclude<SessionOutcome, 'accepted' | 'rejected'>): Promise<void> {
    if (this.closing) return this.closing;
    this.state = 'ended';
    this.refwait?.();
    this.stopTimer?.();
    this.p.onEnd(outcome, this.reflected);
    this.closing = this.p.socket.close().catch(() => undefined);
    return this.closing;
  }

  private onDatagram(d: ReceivedDatagram): void {
    const address = normaliseAddress(d.address);
    if (address !== this.p.senderAddress || (this.p.senderPort !== 0 && d.port !== this.p.senderPort)) {
      this.p.onDrop('unexpected_source', address);
      return;
    }
    if (this.state !== 'started' && this.state !== 'stopping') {
      this.p.onDrop('not_started', address);
      return;
    }
    const len = d.data.length;
    if (len > this.p.maxRequestBytes) {
      this.p.onDrop('malformed', address);
      return;
    }
    let reply: Buffer;
    let t3Ns: bigint;
    const prot = this.p.protection;
    if (prot.security === 'none') {
      if (len < SENDER_HEADER_LENGTH) {
        this.p.onDrop('malformed', address);
        return;
      }
      // A request shorter than negotiated is answered as if zero-padded to the negotiated size.
      const want = SENDER_HEADER_LENGTH + this.p.paddingLength;
      const req = len < want && want <= this.p.maxRequestBytes ? Buffer.concat([d.data, Buffer.alloc(want - len)]) : d.data;
      reply = buildReply(req, req.length, 'twamp', {
        seq: this.seq,
        receiveTimestampNs: d.rxTimeNs,
        errorEstimate: this.p.errorEstimate,
        senderTtl: d.ttl ?? 0,
        dscpEcn: this.p.dscpEcn ? (d.tos ?? 0) : undefined,
      });
      t3Ns = this.p.clock.nowNs();
      writeReplyT3(reply, t3Ns);
    } else {
      let req;
      let plain: Buffer;
      try {
        plain = openTestPacket(d.data, 'sender', prot.security, prot.keys);
        req = decodeAuthSenderPacket(plain);
      } catch (err) {
        if (!(err instanceof DecodeError)) throw err;
        this.p.onDrop(err.code === 'ERR_BAD_VALUE' ? 'bad_hmac' : 'malformed', address);
        return;
      }
      const replyLen = Math.max(AUTH_REFLECTOR_HEADER_LENGTH, len, Math.min(this.p.maxRequestBytes, AUTH_SENDER_HEADER_LENGTH + this.p.paddingLength));
      reply = encodeAuthReflectorPacket({
        seq: this.seq,
        timestampNs: 0n,
        errorEstimate: this.p.errorEstimate,
        ssid: 0,
        receiveTimestampNs: d.rxTimeNs,
        senderSeq: req.seq,
        senderTimestampNs: req.timestampNs,
        senderErrorEstimate: req.errorEstimate,
        senderTtl: d.ttl ?? 0,
        paddingLength: replyLen - AUTH_REFLECTOR_HEADER_LENGTH,
      });
      // Echo the sender's timestamp and error estimate byte for byte, whatever their format.
      plain.copy(reply, AUTH_SENDER_TIMESTAMP_ECHO_OFFSET, AUTH_SENDER_TIMESTAMP_OFFSET, AUTH_SENDER_TIMESTAMP_OFFSET + 10);
      // Reuse the request's padding (RFC 6038), shortened by the 64 octets the reply header is longer.
      const pad = Math.min(len - AUTH_SENDER_HEADER_LENGTH, replyLen - AUTH_REFLECTOR_HEADER_LENGTH);
      if (pad > 0) d.data.copy(reply, AUTH_REFLECTOR_HEADER_LENGTH, AUTH_SENDER_HEADER_LENGTH, AUTH_SENDER_HEADER_LENGTH + pad);
      if (this.p.dscpEcn) reply[AUTH_DSCP_ECN_OFFSET] = (d.tos ?? 0) & 0xff;
      t3Ns = this.p.clock.nowNs();
      writeNtp(reply, AUTH_REFLECTOR_TIMESTAMP_OFFSET, t3Ns);
      sealTestPacket(reply, 'reflector', prot.security, prot.keys);
    }
    this.seq = (this.seq + 1) >>> 0;
    this.p.socket.send(reply, d.port, d.address);
    this.reflected++;
    this.p.onReflected?.({
      address,
      port: d.port,
      requestBytes: len,
      replyBytes: reply.length,
      processingNs: t3Ns - d.rxTimeNs,
      format: 'twamp',
    });
    if (this.state === 'started') this.armRefwait();
    this.p.onActivity();
  }
}
