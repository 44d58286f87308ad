/**
 * A log function that lets at most `burst` messages through per `windowMs` and then counts the
 * rest, so that a collector that is down for a day writes a few lines, not one per push.
 */

/** Wraps `log` so that at most `burst` messages per `windowMs` get through. */
export function rateLimitedLog(
  log: (msg: string) => void,
  burst = 3,
  windowMs = 60_000,
  now: () => number = () => performance.now(),
): (msg: string) => void {
  let windowStart = -Infinity;
  let passed = 0;
  let suppressed = 0;
  return (msg: string) => {
    const t = now();
    if (t - windowStart >= windowMs) {
      windowStart = t;
      passed = 0;
    }
    if (passed >= burst) {
      suppressed++;
      return;
    }
    passed++;
    if (suppressed > 0) {
      log(`${msg} (${suppressed} similar message${suppressed === 1 ? '' : 's'} suppressed)`);
      suppressed = 0;
    } else {
      log(msg);
    }
  };
}
