/**
 * Clocks and timers, injected into every session so that tests can drive time.
 *
 * Precision: `SystemClock.nowNs()` is the wall clock in nanoseconds since the Unix epoch, derived
 * from the monotonic `process.hrtime.bigint()` anchored once to the wall clock at construction.
 * Resolution is that of hrtime (1 ns nominal, tens of ns in practice); the anchor is within a few
 * microseconds of the system wall clock (see `reanchor`), whose own accuracy is whatever the
 * host's NTP/PTP discipline gives. It never jumps backwards, so a step of the system clock
 * during a run does not produce negative round-trip times; it also does not follow such a step
 * until the process restarts (call `reanchor()` to follow it deliberately).
 */

/** A source of wall-clock time in nanoseconds since 1970-01-01T00:00:00Z. */
export interface Clock {
  /** Current wall-clock time, ns since the Unix epoch. */
  nowNs(): bigint;
}

/** A handle that cancels a scheduled callback. */
export type Cancel = () => void;

/** Schedules callbacks; timers only schedule, they never stamp packets. */
export interface Scheduler {
  /** Runs `fn` once after `ms` milliseconds. */
  setTimeout(fn: () => void, ms: number): Cancel;
}

/** Wall clock derived from the monotonic clock, anchored once. */
export class SystemClock implements Clock {
  private anchorNs = 0n;

  constructor() {
    this.reanchor();
  }

  /**
   * Re-reads the wall clock and re-anchors the monotonic clock to it. Node has no sub-millisecond
   * wall clock (`performance.timeOrigin` was seen 1-2 ms off here), so we watch `Date.now()` tick
   * over to the next millisecond: at that edge the wall clock is exactly N ms, and the monotonic
   * reading taken right then anchors it to within the loop's latency (about a microsecond). The
   * best of a few edges is kept; this spins for at most a few milliseconds, once.
   */
  reanchor(edges = 4): void {
    let best: bigint | null = null;
    for (let i = 0; i < edges; i++) {
      const start = Date.now();
      let now = start;
      let hr = process.hrtime.bigint();
      const giveUp = hr + 5_000_000n;
      while (now === start && hr < giveUp) {
        hr = process.hrtime.bigint();
        now = Date.now();
      }
      if (now === start) continue; // the wall clock did not tick: leave this sample out
      // Detection comes after the true edge, so each estimate is too small by the detection delay.
      const anchor = BigInt(now) * 1_000_000n - hr;
      if (best === null || anchor > best) best = anchor;
    }
    if (best === null) {
      const hr = process.hrtime.bigint();
      best = BigInt(Math.round((performance.timeOrigin + performance.now()) * 1e6)) - hr;
    }
    this.anchorNs = best;
  }

  /** Current wall-clock time, ns since the Unix epoch. */
  nowNs(): bigint {
    return this.anchorNs + process.hrtime.bigint();
  }
}

/** The real event-loop scheduler. */
export const systemScheduler: Scheduler = {
  setTimeout(fn, ms) {
    const t = setTimeout(fn, ms);
    return () => clearTimeout(t);
  },
};

/** The process-wide clock, shared so that every timestamp comes from one anchor. */
export const systemClock = new SystemClock();

/** A manually advanced clock and scheduler for deterministic tests. */
export class ManualClock implements Clock, Scheduler {
  private now: bigint;
  private timers: { at: bigint; fn: () => void; id: number }[] = [];
  private nextId = 0;

  constructor(startNs = 1_700_000_000_000_000_000n) {
    this.now = startNs;
  }

  /** Current manual time. */
  nowNs(): bigint {
    return this.now;
  }

  /** Schedules `fn` at now + ms. */
  setTimeout(fn: () => void, ms: number): Cancel {
    const id = this.nextId++;
    this.timers.push({ at: this.now + BigInt(Math.round(ms * 1e6)), fn, id });
    return () => {
      this.timers = this.timers.filter((t) => t.id !== id);
    };
  }

  /** Advances time by `ms`, firing due timers in order. */
  advance(ms: number): void {
    const end = this.now + BigInt(Math.round(ms * 1e6));
    for (;;) {
      this.timers.sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : a.id - b.id));
      const next = this.timers[0];
      if (!next || next.at > end) break;
      this.timers.shift();
      this.now = next.at;
      next.fn();
    }
    this.now = end;
  }
}
