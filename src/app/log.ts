/**
 * Logging to stderr with a per-key rate limit, so that a flood of bad datagrams produces a few
 * lines with suppressed counts instead of a flood of lines.
 */

/** Verbosity: 0 quiet (errors only), 1 normal, 2 verbose. */
export type Verbosity = 0 | 1 | 2;

/** A stderr logger with per-key rate limiting. */
export class Logger {
  private readonly last = new Map<string, { atMs: number; suppressed: number }>();

  constructor(
    public verbosity: Verbosity = 1,
    private readonly intervalMs = 10_000,
    private readonly write: (line: string) => void = (l) => process.stderr.write(l + '\n'),
    private readonly now: () => number = Date.now,
  ) {}

  /** Logs an error (always shown). */
  error(msg: string): void {
    this.write(`twampy: error: ${msg}`);
  }

  /** Logs a warning (hidden with -q). */
  warn(msg: string): void {
    if (this.verbosity >= 1) this.write(`twampy: warning: ${msg}`);
  }

  /** Logs a message shown only with -v. */
  debug(msg: string): void {
    if (this.verbosity >= 2) this.write(`twampy: ${msg}`);
  }

  /** Logs a warning at most once per interval for `key`, reporting how many were suppressed. */
  limited(key: string, msg: string): void {
    const now = this.now();
    const e = this.last.get(key);
    if (e && now - e.atMs < this.intervalMs) {
      e.suppressed++;
      return;
    }
    const suffix = e && e.suppressed > 0 ? ` (${e.suppressed} similar messages suppressed)` : '';
    this.last.set(key, { atMs: now, suppressed: 0 });
    if (this.last.size > 10_000) this.last.delete(this.last.keys().next().value!);
    this.warn(msg + suffix);
  }
}
