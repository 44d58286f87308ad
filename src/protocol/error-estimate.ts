/**
 * Error Estimate, RFC 4656 section 4.1.2 (TWAMP reuses it, RFC 5357 section 4.1.2), with the Z bit
 * of RFC 8762 section 4.1.1.
 *
 *  0                   1
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |S|Z|   Scale   |   Multiplier  |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * error = Multiplier * 2^(Scale - 32) seconds. S = 1: the clock is synchronised to UTC.
 * Z = 1: the timestamps are in PTP format. Multiplier 0 is invalid (RFC 4656).
 */

/** Bytes of an error estimate on the wire. */
export const ERROR_ESTIMATE_LENGTH = 2;

/** A decoded error estimate. */
export interface ErrorEstimate {
  /** S bit: clock synchronised to an external UTC source. */
  synced: boolean;
  /** Z bit: timestamps are PTP format (RFC 8762). */
  ptp: boolean;
  /** 6-bit scale. */
  scale: number;
  /** 8-bit multiplier; 0 is invalid. */
  multiplier: number;
}

/** Encodes an error estimate into its 16-bit value. */
export function encodeErrorEstimate(e: ErrorEstimate): number {
  return (
    ((e.synced ? 1 : 0) << 15) | ((e.ptp ? 1 : 0) << 14) | ((e.scale & 0x3f) << 8) | (e.multiplier & 0xff)
  );
}

/** Decodes a 16-bit error estimate value. */
export function decodeErrorEstimate(v: number): ErrorEstimate {
  return {
    synced: (v & 0x8000) !== 0,
    ptp: (v & 0x4000) !== 0,
    scale: (v >> 8) & 0x3f,
    multiplier: v & 0xff,
  };
}

/** The error in seconds that an estimate states (NaN for the invalid multiplier 0). */
export function errorSeconds(e: ErrorEstimate): number {
  if (e.multiplier === 0) return Number.NaN;
  return e.multiplier * 2 ** (e.scale - 32);
}

/**
 * Builds the smallest estimate that is at least `seconds` (never understating the error),
 * with multiplier in 1..255. Errors beyond the format's range saturate at its maximum.
 */
export function errorEstimateFor(seconds: number, synced: boolean, ptp = false): ErrorEstimate {
  const s = Number.isFinite(seconds) && seconds > 0 ? seconds : 2 ** -32;
  for (let scale = 0; scale < 64; scale++) {
    const multiplier = Math.ceil(s / 2 ** (scale - 32));
    if (multiplier <= 255) return { synced, ptp, scale, multiplier: Math.max(1, multiplier) };
  }
  return { synced, ptp, scale: 63, multiplier: 255 };
}
