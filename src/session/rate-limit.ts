/**
 * Per-source token buckets that bound how many packets per second one address may have
 * reflected, so the responder cannot be used as a reflection amplifier (replies are never larger
 * than requests, but their rate is bounded too).
 */

interface Bucket {
  tokens: number;
  lastNs: bigint;
}

/** Token buckets keyed by source address, bounded in number. */
export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>();

  /**
   * @param ratePerSecond sustained packets per second per source (0 disables the limit)
   * @param burst bucket depth
   * @param maxSources buckets kept at most; the least recently used is dropped beyond it
   */
  constructor(
    readonly ratePerSecond: number,
    readonly burst = Math.max(1, ratePerSecond),
    private readonly maxSources = 100_000,
  ) {}

  /** Takes a token for `key` at time `nowNs`; false when the source is over its rate. */
  allow(key: string, nowNs: bigint): boolean {
    if (this.ratePerSecond <= 0) return true;
    let b = this.buckets.get(key);
    if (!b) {
      if (this.buckets.size >= this.maxSources) {
        const oldest = this.buckets.keys().next().value;
        if (oldest !== undefined) this.buckets.delete(oldest);
      }
      b = { tokens: this.burst, lastNs: nowNs };
    } else {
      this.buckets.delete(key); // re-insert below: Map order is our LRU order
      const elapsed = Number(nowNs - b.lastNs) / 1e9;
      if (elapsed > 0) b.tokens = Math.min(this.burst, b.tokens + elapsed * this.ratePerSecond);
      b.lastNs = nowNs;
    }
    this.buckets.set(key, b);
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return true;
    }
    return false;
  }
}
