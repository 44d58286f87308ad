/**
 * The Session-Sender (RFC 5357 section 4.1) for TWAMP-Light and STAMP: sends test packets to each
 * target on a steady schedule, matches replies by sender sequence number (checking the reply's
 * source address and port and the echoed T1), and reports per-packet events and per-period
 * statistics to its observer. Clock, scheduler and transport are injected.
 *
 * Timing: each target's k-th packet is due at start + k * interval; a timer wakes the loop for it
 * (no busy-waiting, no drift), and T1 is read from the clock immediately before the socket send.
 * T4 is the socket layer's receive time of the reply.
 *
 * Sequence numbers wrap at 2^32 (after 49.7 days at a 1 ms interval). Scheduling, loss
 * attribution and reordering count packets instead, so the wrap changes nothing.
 *
 * Fate of a packet: "received" when its reply comes within `timeoutMs` of T1; otherwise "lost",
 * and a reply after that is "late" (counted, not received). A second reply is a "duplicate". A
 * reply whose sequence number is lower than one already received is "reordered" (RFC 4737).
 *
 * Loss by direction uses a stateful reflector's own counter: between two received replies the
 * reflector counted the packets it saw; those we did not get back were lost inbound, the rest
 * outbound. Until a reply shows the reflector's counter differing from ours, the reflector may be
 * stateless (copying our number), and loss is reported for the round trip only. Losses after the
 * last received reply of a finite run cannot be attributed and stay round-trip only.
 *
 * Path: hops outbound = the TTL we sent (255 unless configured) minus Sender TTL; hops inbound =
 * 255 minus the reply's received TTL (when the socket layer reads it), assuming the reflector
 * sends with 255 as twampd, vendors and twampy do. With RFC 7750 monitoring on, the octet after
 * Sender TTL is the DS field our packet reached the reflector with: a DSCP other than ours is an
 * outbound re-marking; a reply DSCP other than that one is an inbound re-marking when the
 * reflector copies the DSCP.
 */
import type { Cancel, Clock, Scheduler } from './clock.js';
import type { SenderObserver, TargetStats } from './events.js';
import type { DatagramSocket, Family, ReceivedDatagram, Transport } from '../transport/types.js';
import { FateHistory } from './fate-history.js';
import { DirectionAccumulator, PathAccumulator, REFLECTOR_INITIAL_TTL, attributeGap, hopCount } from './stats.js';
import { readDscpEcnOctet } from '../protocol/dscp-ecn.js';
import { decodeReflectorPacket, encodeSenderPacket, REFLECTOR_HEADER_LENGTH, SENDER_HEADER_LENGTH, SENDER_SEQ_OFFSET, SENDER_TIMESTAMP_OFFSET, writeTimestampFor } from '../protocol/test-packet.js';
import { encodeStampSenderPacket, STAMP_BASE_LENGTH } from '../protocol/stamp.js';
import { decodeErrorEstimate } from '../protocol/error-estimate.js';
import { DecodeError } from '../protocol/errors.js';

/** Sender settings (defaults live in src/config/defaults.ts). */
export interface SenderOptions {
  /** Packets per target; 0 = continuous. */
  count: number;
  /** Interval between packets to one target, ms. */
  intervalMs: number;
  /** Padding octets per packet, cycled in order (one value = fixed size). */
  padding: readonly number[];
  /** A reply later than this after T1 makes the packet lost (and the reply late), ms. */
  timeoutMs: number;
  /** Rolling statistics period in continuous mode, ms. */
  periodMs: number;
  /** Send STAMP (RFC 8762) packets instead of TWAMP-Light ones. */
  stamp: boolean;
  /** STAMP Session-Sender Identifier. */
  ssid: number;
  /** Our 16-bit error estimate. */
  errorEstimate: number;
  /** Local bind address (empty: any of the target's family) and port (0: ephemeral). */
  localAddress: string;
  localPort: number;
  /** Outgoing TTL / hop limit. */
  ttl?: number;
  /** Outgoing TOS byte. */
  tos?: number;
  /** Don't Fragment. */
  dontFragment?: boolean;
  /** RFC 7750: read the DS octet the reflector received from the octet after Sender TTL. */
  dscpEcnMonitoring?: boolean;
  /** Spread the first packet of each target over one interval, so many targets do not burst. */
  splay: boolean;
  /**
   * Sequence number of each target's first packet (RFC 5357 section 4.1.2: 0, the default). Tests
   * start near 2^32 to reach the wrap that a 1 ms interval reaches after 49.7 days.
   */
  firstSeq?: number;
}

/** A target after name resolution. */
export interface TargetSpec {
  /** As configured (used as the `target` label). */
  name: string;
  address: string;
  port: number;
  family: Family;
}

interface Outstanding {
  seq: number;
  /** Packets sent before this one: the sequence number without its 32-bit wrap. */
  index: number;
  t1Ns: bigint;
  bytes: number;
  deadlineNs: bigint;
}

interface Fate {
  received: boolean;
  reflectorSeq: number;
}

/**
 * nokia/twampy's responder (without --padding) answers with 38 octets: the RFC 5357 layout
 * without the final MBZ and Sender TTL. Such replies are accepted for interoperability, read as if
 * zero-padded to 41 octets (so Sender TTL reads 0, "unknown"). Shorter ones are malformed.
 */
export const SHORT_REPLY_MIN_LENGTH = 38;

function toReflectorLength(data: Buffer): Buffer {
  if (data.length >= REFLECTOR_HEADER_LENGTH || data.length < SHORT_REPLY_MIN_LENGTH) return data;
  const padded = Buffer.alloc(REFLECTOR_HEADER_LENGTH);
  data.copy(padded);
  return padded;
}

/** Packets whose fate the sender remembers at least, to classify late and duplicate replies (16 KiB). */
const MIN_HISTORY = 65_536;
/** ... and at most (4 MiB): 2^24 packets are 168 s at the shortest interval, 0.01 ms. */
const MAX_HISTORY = 2 ** 24;

/**
 * Packets remembered per target: at least four timeouts' worth, so that a reply up to three
 * timeouts late is still told apart from a stray one at any rate; a power of two for the ring.
 */
export function historyLength(intervalMs: number, timeoutMs: number): number {
  const want = Math.max(MIN_HISTORY, Math.ceil((4 * timeoutMs) / intervalMs));
  return Math.min(MAX_HISTORY, 2 ** Math.ceil(Math.log2(want)));
}

class TargetRunner {
  socket!: DatagramSocket;
  /**
   * Packets sent so far, and so the index of the next one. Scheduling, the loss frontier and
   * reordering work on indices, which do not wrap (a Number is exact to 2^53); the wire's sequence
   * number is the index plus the first sequence number, modulo 2^32.
   */
  private nextIndex = 0;
  private readonly firstSeq: number;
  private startNs = 0n;
  private sendCancel: Cancel | null = null;
  private sweepCancel: Cancel | null = null;
  private periodCancel: Cancel | null = null;
  private readonly outstanding = new Map<number, Outstanding>();
  private readonly history: FateHistory;
  private readonly fates = new Map<number, Fate>();
  private frontier = 0;
  /** Index and reflector sequence number of the last reply that advanced the frontier. */
  private lastReceived = { index: -1, r: -1 };
  private maxIndexReceived = -1;
  stateful: boolean | null = null;
  private readonly ourSynced: boolean;
  // period accumulators
  private periodStartNs = 0n;
  private sent = 0;
  private received = 0;
  private lost = 0;
  private lostOut = 0;
  private lostIn = 0;
  private dups = 0;
  private reordered = 0;
  private late = 0;
  private allSynced = true;
  private readonly rtt = new DirectionAccumulator();
  private readonly outbound = new DirectionAccumulator();
  private readonly inbound = new DirectionAccumulator();
  private readonly path: PathAccumulator;
  private readonly sentTtl: number;
  totalReceived = 0;
  totalSent = 0;
  finished = false;
  stopped = false;
  private resolveDone!: () => void;
  readonly done = new Promise<void>((r) => (this.resolveDone = r));

  constructor(
    public spec: TargetSpec,
    private readonly opts: SenderOptions,
    private readonly clock: Clock,
    private readonly scheduler: Scheduler,
    private readonly observer: SenderObserver,
  ) {
    this.ourSynced = decodeErrorEstimate(opts.errorEstimate).synced;
    this.path = new PathAccumulator((opts.tos ?? 0) >> 2);
    this.sentTtl = opts.ttl ?? 255;
    this.firstSeq = (opts.firstSeq ?? 0) >>> 0;
    this.history = new FateHistory(historyLength(opts.intervalMs, opts.timeoutMs));
  }

  async open(transport: Transport): Promise<void> {
    const local = this.opts.localAddress || (this.spec.family === 'IPv6' ? '::' : '0.0.0.0');
    this.socket = await transport.open({
      address: local,
      port: this.opts.localPort,
      family: this.spec.family,
      ttl: this.opts.ttl,
      tos: this.opts.tos,
      dontFragment: this.opts.dontFragment,
    });
    this.socket.onMessage((d) => this.onDatagram(d));
    this.socket.onError((err) =>
      this.observer.onTargetError?.({ target: this.spec.name, code: 'ERR_SOCKET', message: err.message }),
    );
  }

  start(): void {
    this.startNs = this.clock.nowNs();
    this.periodStartNs = this.startNs;
    const splayMs = this.opts.splay ? Math.random() * this.opts.intervalMs : 0;
    this.startNs += BigInt(Math.round(splayMs * 1e6));
    this.scheduleSend();
    if (this.opts.count === 0) this.schedulePeriod();
  }

  private dueNs(k: number): bigint {
    return this.startNs + BigInt(Math.round(k * this.opts.intervalMs * 1e6));
  }

  private scheduleSend(): void {
    if (this.stopped) return;
    if (this.opts.count > 0 && this.nextIndex >= this.opts.count) {
      this.maybeFinish();
      return;
    }
    const delayMs = Number(this.dueNs(this.nextIndex) - this.clock.nowNs()) / 1e6;
    this.sendCancel = this.scheduler.setTimeout(() => {
      this.sendCancel = null;
      this.sendOne();
      this.scheduleSend();
    }, Math.max(0, delayMs));
  }

  /** Encoded packets per padding size; each send copies one and writes its sequence number and T1. */
  private readonly templates = new Map<number, Buffer>();

  private buildPacket(index: number, seq: number): Buffer {
    const padding = this.opts.padding[index % this.opts.padding.length] ?? 0;
    let t = this.templates.get(padding);
    if (!t) {
      t = this.opts.stamp
        ? encodeStampSenderPacket({ seq: 0, timestampNs: 0n, errorEstimate: this.opts.errorEstimate, ssid: this.opts.ssid, extraLength: Math.max(0, SENDER_HEADER_LENGTH + padding - STAMP_BASE_LENGTH) })
        : encodeSenderPacket({ seq: 0, timestampNs: 0n, errorEstimate: this.opts.errorEstimate, paddingLength: padding });
      this.templates.set(padding, t);
    }
    const pkt = Buffer.allocUnsafe(t.length);
    t.copy(pkt);
    pkt.writeUInt32BE(seq >>> 0, SENDER_SEQ_OFFSET);
    return pkt;
  }

  private sendOne(): void {
    const index = this.nextIndex++;
    const seq = (this.firstSeq + index) >>> 0;
    const pkt = this.buildPacket(index, seq);
    const t1Ns = this.clock.nowNs();
    writeTimestampFor(pkt, SENDER_TIMESTAMP_OFFSET, t1Ns, this.opts.errorEstimate);
    this.socket.send(pkt, this.spec.port, this.spec.address);
    this.history.sent(seq);
    this.totalSent++;
    const deadlineNs = t1Ns + BigInt(Math.round(this.opts.timeoutMs * 1e6));
    this.outstanding.set(seq, { seq, index, t1Ns, bytes: pkt.length, deadlineNs });
    this.observer.onSent?.({ target: this.spec.name, seq, bytes: pkt.length, t1Ns });
    if (!this.sweepCancel) this.scheduleSweep(deadlineNs);
  }

  private scheduleSweep(atNs: bigint): void {
    const delayMs = Math.max(0, Number(atNs - this.clock.nowNs()) / 1e6);
    this.sweepCancel = this.scheduler.setTimeout(() => {
      this.sweepCancel = null;
      this.sweep();
    }, delayMs + 0.5);
  }

  /** Declares packets past their deadline lost. */
  private sweep(): void {
    const now = this.clock.nowNs();
    for (const o of this.outstanding.values()) {
      // Map iteration is in send order, so deadlines are increasing.
      if (o.deadlineNs > now) {
        this.scheduleSweep(o.deadlineNs);
        break;
      }
      this.outstanding.delete(o.seq);
      this.history.settle(o.seq, 'lost');
      this.lost++;
      this.observer.onLoss?.({ target: this.spec.name, seq: o.seq, t1Ns: o.t1Ns });
      this.resolveFate(o.index, { received: false, reflectorSeq: 0 });
    }
    this.maybeFinish();
  }

  /** Advances the in-order frontier (an index) and attributes losses between received replies. */
  private resolveFate(index: number, fate: Fate): void {
    this.fates.set(index, fate);
    this.sent++;
    for (;;) {
      const f = this.fates.get(this.frontier);
      if (!f) break;
      this.fates.delete(this.frontier);
      if (f.received) {
        // The reflector's counter wraps at 2^32 too; one that went back (a restart) gives a gap
        // larger than ours, which attributeGap refuses.
        const gap = attributeGap(this.frontier - this.lastReceived.index - 1, (f.reflectorSeq - this.lastReceived.r - 1) >>> 0);
        if (gap) {
          this.lostOut += gap.outbound;
          this.lostIn += gap.inbound;
        }
        this.lastReceived = { index: this.frontier, r: f.reflectorSeq };
      }
      this.frontier++;
    }
  }

  private onDatagram(d: ReceivedDatagram): void {
    if (d.address !== this.spec.address || d.port !== this.spec.port) {
      this.observer.onDrop?.({ reason: 'unexpected_source', address: d.address, port: d.port });
      return;
    }
    let p;
    try {
      p = decodeReflectorPacket(toReflectorLength(d.data));
    } catch (err) {
      if (!(err instanceof DecodeError)) throw err;
      this.observer.onDrop?.({ reason: 'malformed', address: d.address, port: d.port });
      return;
    }
    const seq = p.senderSeq;
    const o = this.outstanding.get(seq);
    const t4Ns = d.rxTimeNs;
    let late = false;
    let duplicate = false;
    let t1Ns: bigint;
    // The packet's index when the reply is on time (late and duplicate replies do not need it).
    let index = -1;
    if (o && o.t1Ns === p.senderTimestampNs) {
      t1Ns = o.t1Ns;
      index = o.index;
      this.outstanding.delete(seq);
      this.history.settle(seq, 'replied');
    } else {
      const fate = this.history.get(seq);
      if (fate === undefined || o) {
        this.observer.onDrop?.({ reason: 'unknown_sequence', address: d.address, port: d.port });
        return;
      }
      t1Ns = p.senderTimestampNs;
      if (fate === 'replied') {
        duplicate = true;
        this.dups++;
      } else {
        late = true;
        this.late++;
      }
    }
    const t2Ns = p.receiveTimestampNs;
    const t3Ns = p.timestampNs;
    const rttNs = t4Ns - t1Ns - (t3Ns - t2Ns);
    const outboundNs = t2Ns - t1Ns;
    const inboundNs = t4Ns - t3Ns;
    const synced = this.ourSynced && decodeErrorEstimate(p.errorEstimate).synced;
    const hopsOutbound = hopCount(this.sentTtl, p.senderTtl);
    const replyTtl = d.ttl ?? null;
    const hopsInbound = hopCount(REFLECTOR_INITIAL_TTL, replyTtl);
    const reflectorRxTos = this.opts.dscpEcnMonitoring ? readDscpEcnOctet(d.data) : null;
    const replyTos = d.tos ?? null;
    let reordered = false;
    if (!late && !duplicate) {
      if (p.seq !== seq) this.stateful = true;
      if (index < this.maxIndexReceived) {
        reordered = true;
        this.reordered++;
      } else this.maxIndexReceived = index;
      this.received++;
      this.totalReceived++;
      if (!synced) this.allSynced = false;
      this.rtt.add(Number(rttNs));
      this.outbound.add(Number(outboundNs));
      this.inbound.add(Number(inboundNs));
      this.path.add(hopsOutbound, hopsInbound, reflectorRxTos, replyTos);
      this.resolveFate(index, { received: true, reflectorSeq: p.seq });
    }
    this.observer.onReply?.({
      target: this.spec.name,
      seq,
      reflectorSeq: p.seq,
      address: d.address,
      port: d.port,
      t1Ns,
      t2Ns,
      t3Ns,
      t4Ns,
      rttNs,
      outboundNs,
      inboundNs,
      bytes: d.data.length,
      senderTtl: p.senderTtl === 0 ? null : p.senderTtl,
      replyTtl,
      replyTos,
      hopsOutbound,
      hopsInbound,
      reflectorRxTos,
      clockSynced: synced,
      late,
      duplicate,
      reordered,
    });
    if (!late && !duplicate) this.maybeFinish();
  }

  private schedulePeriod(): void {
    const nextNs = this.periodStartNs + BigInt(Math.round(this.opts.periodMs * 1e6));
    const delayMs = Math.max(0, Number(nextNs - this.clock.nowNs()) / 1e6);
    this.periodCancel = this.scheduler.setTimeout(() => {
      this.periodCancel = null;
      this.emitStats(false, nextNs);
      this.schedulePeriod();
    }, delayMs);
  }

  /** Builds the statistics of the current period. */
  snapshot(endNs: bigint): TargetStats {
    // With no loss in the period there is nothing to attribute: both directions lost 0.
    const attributable = this.stateful === true || (this.lost === 0 && this.lostOut === 0 && this.lostIn === 0);
    const sent = this.sent;
    return {
      target: this.spec.name,
      address: this.spec.address,
      port: this.spec.port,
      sent,
      received: this.received,
      lost: this.lost,
      lostOutbound: attributable ? this.lostOut : null,
      lostInbound: attributable ? this.lostIn : null,
      duplicates: this.dups,
      reordered: this.reordered,
      late: this.late,
      outbound: this.outbound.summary(attributable ? this.lostOut : null, sent),
      inbound: this.inbound.summary(attributable ? this.lostIn : null, sent),
      roundtrip: this.rtt.summary(this.lost, sent),
      reflectorStateful: this.stateful,
      clockSynced: this.received > 0 && this.allSynced,
      path: this.path.summary(),
      startNs: this.periodStartNs,
      endNs,
    };
  }

  private emitStats(final: boolean, endNs: bigint): void {
    const stats = this.snapshot(endNs);
    this.observer.onStats?.({ stats, final, result: stats.received > 0 ? 'ok' : 'error' });
    this.periodStartNs = endNs;
    this.sent = this.received = this.lost = this.lostOut = this.lostIn = 0;
    this.dups = this.reordered = this.late = 0;
    this.allSynced = true;
    this.rtt.reset();
    this.outbound.reset();
    this.inbound.reset();
    this.path.reset();
  }

  private maybeFinish(): void {
    if (this.finished || this.opts.count === 0) return;
    if (this.nextIndex < this.opts.count || this.outstanding.size > 0) return;
    this.finish();
  }

  private finish(): void {
    this.finished = true;
    this.cancelTimers();
    this.emitStats(true, this.clock.nowNs());
    this.resolveDone();
  }

  private cancelTimers(): void {
    this.sendCancel?.();
    this.sweepCancel?.();
    this.periodCancel?.();
    this.sendCancel = this.sweepCancel = this.periodCancel = null;
  }

  /** Stops sending; packets still outstanding are left unresolved and not counted. */
  async stop(emitFinal: boolean): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (!this.finished) {
      this.finished = true;
      this.cancelTimers();
      if (emitFinal) this.emitStats(true, this.clock.nowNs());
      this.resolveDone();
    }
    await this.socket?.close();
  }
}

/** Sends TWAMP-Test packets to a changing set of targets. */
export class Sender {
  private readonly runners = new Map<string, TargetRunner>();

  constructor(
    readonly options: SenderOptions,
    private readonly transport: Transport,
    private readonly clock: Clock,
    private readonly scheduler: Scheduler,
    private readonly observer: SenderObserver = {},
  ) {
    if (options.intervalMs <= 0) throw new RangeError('interval must be > 0 ms');
    if (options.padding.length === 0) throw new RangeError('padding profile is empty');
  }

  /** Names of the targets being measured. */
  targets(): string[] {
    return [...this.runners.keys()];
  }

  /** Opens a socket for `spec` and starts measuring it. */
  async addTarget(spec: TargetSpec): Promise<void> {
    if (this.runners.has(spec.name)) throw new Error(`target ${spec.name} is already being measured`);
    const r = new TargetRunner(spec, this.options, this.clock, this.scheduler, this.observer);
    await r.open(this.transport);
    this.runners.set(spec.name, r);
    this.observer.onTargetAdded?.(spec.name);
    r.start();
  }

  /** Stops measuring a target and forgets it (its series should disappear). */
  async removeTarget(name: string): Promise<void> {
    const r = this.runners.get(name);
    if (!r) return;
    this.runners.delete(name);
    await r.stop(false);
    this.observer.onTargetRemoved?.(name);
  }

  /**
   * Points a target at a new address after re-resolution; replies from the old one are dropped
   * from now on. An address of the other family is ignored: the target's socket cannot reach it.
   */
  updateAddress(name: string, address: string): void {
    const r = this.runners.get(name);
    if (r && address.includes(':') === (r.spec.family === 'IPv6')) r.spec = { ...r.spec, address };
  }

  /** Current address of a target. */
  addressOf(name: string): string | undefined {
    return this.runners.get(name)?.spec.address;
  }

  /** Resolves when every target of a finite run has finished. */
  async done(): Promise<void> {
    await Promise.all([...this.runners.values()].map((r) => r.done));
  }

  /** Local port of a target's socket (tests, logs). */
  localPort(name: string): number | undefined {
    return this.runners.get(name)?.socket.localAddress().port;
  }

  /** Stops every target; `emitFinal` reports the partial period of each. */
  async stop(emitFinal = true): Promise<void> {
    await Promise.all([...this.runners.values()].map((r) => r.stop(emitFinal)));
  }

  /** Totals per target since start: sent and received on time. */
  totals(): Map<string, { sent: number; received: number }> {
    const m = new Map<string, { sent: number; received: number }>();
    for (const [k, r] of this.runners) m.set(k, { sent: r.totalSent, received: r.totalReceived });
    return m;
  }
}

