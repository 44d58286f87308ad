/**
 * Pure statistics over TWAMP samples: exact percentiles, the RFC 3550 section 6.4.1 jitter
 * estimator, loss attribution by direction, and the summary of a round or rolling period.
 */
import type { DirectionStats, HopStats, PathStats } from './events.js';

const NS_PER_MS = 1e6;

/** Exact nearest-rank percentile of sorted values: always one of the samples, never interpolated. */
export function percentileSorted(sorted: readonly number[], p: number): number | null {
  if (sorted.length === 0) return null;
  if (p <= 0) return sorted[0]!;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!;
}

/** RFC 3550 interarrival-jitter estimator: J += (|D| - J) / 16 over consecutive one-way delays. */
export class JitterEstimator {
  private last: number | null = null;
  private j = 0;
  private n = 0;

  /** Feeds the delay (ms) of the next packet in arrival order. */
  add(delayMs: number): void {
    if (this.last !== null) {
      const d = Math.abs(delayMs - this.last);
      this.j += (d - this.j) / 16;
      this.n++;
    }
    this.last = delayMs;
  }

  /** The current estimate in ms, or null before two samples. */
  get value(): number | null {
    return this.n === 0 ? null : this.j;
  }
}

/** Collects one direction's samples over a period. */
export class DirectionAccumulator {
  private samples: number[] = [];
  readonly jitter = new JitterEstimator();

  /** Adds a delay sample in ns (a Number: exact below 2^53 ns, about 104 days). */
  add(ns: number): void {
    this.samples.push(ns);
    this.jitter.add(ns / NS_PER_MS);
  }

  /** Summarises the period; `lost` and `sent` give the loss percentage when attributable. */
  summary(lost: number | null, sent: number): DirectionStats {
    const s = this.samples.slice().sort((a, b) => a - b);
    let sum = 0;
    for (const v of s) sum += v;
    const ms = (ns: number | null) => (ns === null ? null : ns / NS_PER_MS);
    return {
      samples: s.length,
      samplesNs: s,
      minMs: s.length ? s[0]! / NS_PER_MS : null,
      maxMs: s.length ? s[s.length - 1]! / NS_PER_MS : null,
      avgMs: s.length ? sum / s.length / NS_PER_MS : null,
      jitterMs: this.jitter.value,
      p50Ms: ms(percentileSorted(s, 50)),
      p90Ms: ms(percentileSorted(s, 90)),
      p99Ms: ms(percentileSorted(s, 99)),
      lossPct: lost === null ? null : sent > 0 ? (100 * lost) / sent : null,
    };
  }

  /** Starts a new period; the jitter estimator carries on (it is a running estimate). */
  reset(): void {
    this.samples = [];
  }
}

/**
 * Splits the losses between two consecutive received replies by direction, using the reflector's
 * own counter (RFC 5357 stateful reflector): the reflector counted `reflectorGap` packets between
 * them that we never saw back (lost inbound); the rest of the `senderGap` never reached it.
 * A counter that went backwards (reflector restarted, REFWAIT expired) makes the gap unattributable.
 */
export function attributeGap(senderGap: number, reflectorGap: number): { outbound: number; inbound: number } | null {
  if (senderGap < 0 || reflectorGap < 0 || reflectorGap > senderGap) return null;
  return { outbound: senderGap - reflectorGap, inbound: reflectorGap };
}

/** Assumed initial TTL of a reflector's replies: perfSONAR's twampd, vendors and twampy send with 255. */
export const REFLECTOR_INITIAL_TTL = 255;

/** Routers crossed: the TTL sent minus the TTL received; null when either is unknown or the result is impossible. */
export function hopCount(sentTtl: number, receivedTtl: number | null | undefined): number | null {
  if (receivedTtl === null || receivedTtl === undefined || receivedTtl <= 0 || receivedTtl > sentTtl) return null;
  return sentTtl - receivedTtl;
}

/**
 * Collects a period's path figures: hop counts each way and DSCP re-marking each way. All of it
 * is per reply received on time; `reset` starts a new period.
 */
export class PathAccumulator {
  private out = new HopAccumulator();
  private in = new HopAccumulator();
  private reflectorRxDscp: number | null = null;
  private replyDscp: number | null = null;
  private remarkedOut = 0;
  private remarkedIn = 0;
  private comparedOut = 0;
  private comparedIn = 0;

  constructor(private readonly sentDscp: number) {}

  /**
   * Adds one reply: hop counts (null = unknown), the DS octet the reflector reports it received
   * (RFC 7750; null = not monitored) and the DS octet the reply arrived with (null = unreadable).
   */
  add(hopsOut: number | null, hopsIn: number | null, reflectorRxTos: number | null, replyTos: number | null): void {
    if (hopsOut !== null) this.out.add(hopsOut);
    if (hopsIn !== null) this.in.add(hopsIn);
    if (reflectorRxTos !== null) {
      this.reflectorRxDscp = reflectorRxTos >> 2;
      this.comparedOut++;
      if (this.reflectorRxDscp !== this.sentDscp) this.remarkedOut++;
    }
    if (replyTos !== null) this.replyDscp = replyTos >> 2;
    if (reflectorRxTos !== null && replyTos !== null) {
      this.comparedIn++;
      // Compared with what reached the reflector: a re-marking only when the reflector copies the DSCP.
      if (replyTos >> 2 !== reflectorRxTos >> 2) this.remarkedIn++;
    }
  }

  /** The period's figures. */
  summary(): PathStats {
    return {
      hopsOutbound: this.out.summary(),
      hopsInbound: this.in.summary(),
      sentDscp: this.sentDscp,
      reflectorRxDscp: this.reflectorRxDscp,
      replyDscp: this.replyDscp,
      remarkedOutbound: this.comparedOut > 0 ? this.remarkedOut : null,
      remarkedInbound: this.comparedIn > 0 ? this.remarkedIn : null,
    };
  }

  /** Starts a new period. */
  reset(): void {
    this.out = new HopAccumulator();
    this.in = new HopAccumulator();
    this.reflectorRxDscp = this.replyDscp = null;
    this.remarkedOut = this.remarkedIn = this.comparedOut = this.comparedIn = 0;
  }
}

class HopAccumulator {
  private last = -1;
  private min = Infinity;
  private max = -Infinity;

  add(h: number): void {
    this.last = h;
    if (h < this.min) this.min = h;
    if (h > this.max) this.max = h;
  }

  summary(): HopStats | null {
    return this.last < 0 ? null : { last: this.last, min: this.min, max: this.max };
  }
}
