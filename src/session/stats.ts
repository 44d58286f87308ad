/**
 * Pure statistics over TWAMP samples: exact percentiles, the RFC 3550 section 6.4.1 jitter
 * estimator, loss attribution by direction, and the summary of a round or rolling period.
 */
import type { DirectionStats } from './events.js';

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

  /** Adds a delay sample in ms. */
  add(ms: number): void {
    this.samples.push(ms);
    this.jitter.add(ms);
  }

  /** Summarises the period; `lost` and `sent` give the loss percentage when attributable. */
  summary(lost: number | null, sent: number): DirectionStats {
    const s = this.samples.slice().sort((a, b) => a - b);
    let sum = 0;
    for (const v of s) sum += v;
    return {
      samples: s.length,
      minMs: s.length ? s[0]! : null,
      maxMs: s.length ? s[s.length - 1]! : null,
      avgMs: s.length ? sum / s.length : null,
      jitterMs: this.jitter.value,
      p50Ms: percentileSorted(s, 50),
      p90Ms: percentileSorted(s, 90),
      p99Ms: percentileSorted(s, 99),
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
