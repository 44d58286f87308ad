/**
 * Timestamps on the wire: RFC 4656 section 4.1.2 (NTP 64-bit format, used by TWAMP, RFC 5357
 * section 4.1.2) and RFC 8762 section 4.1.1 (PTPv2 truncated format, selected by the Z bit).
 *
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                   Integer part of seconds                     |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                 Fractional part of seconds                    |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * NTP: seconds since 1900-01-01, fraction in units of 2^-32 s (0.23 ns), so nanoseconds survive a
 * round trip exactly when rounding to nearest. PTP: seconds since 1970-01-01, nanoseconds.
 * Internally every time is a bigint of nanoseconds since the Unix epoch.
 */

/** Bytes of one timestamp on the wire. */
export const TIMESTAMP_LENGTH = 8;
/** Seconds from 1900-01-01 (NTP era 0) to 1970-01-01. */
export const NTP_UNIX_OFFSET_S = 2_208_988_800n;

const NS_PER_S = 1_000_000_000n;
const TWO_32 = 1n << 32n;
/* NTP era 0 ends in 2036; seconds below 2^31 are read as era 1 (RFC 4330 section 3). */

/** Splits Unix-epoch nanoseconds into NTP seconds and a 2^-32 fraction, rounding to nearest. */
export function nsToNtp(ns: bigint): { seconds: number; fraction: number } {
  let secs = ns / NS_PER_S;
  let rem = ns % NS_PER_S;
  if (rem < 0n) {
    rem += NS_PER_S;
    secs -= 1n;
  }
  let fraction = (rem * TWO_32 + NS_PER_S / 2n) / NS_PER_S;
  if (fraction === TWO_32) {
    fraction = 0n;
    secs += 1n;
  }
  const ntpSecs = (secs + NTP_UNIX_OFFSET_S) & 0xffff_ffffn;
  return { seconds: Number(ntpSecs), fraction: Number(fraction) };
}

/**
 * Joins NTP seconds and fraction into Unix-epoch nanoseconds (rounded to nearest ns). The
 * fraction part is exact in doubles: fraction * 1e9 / 2^32 = fraction * 1953125 / 2^23, and
 * fraction * 1953125 < 2^53.
 */
export function ntpToNs(seconds: number, fraction: number): bigint {
  let secs = seconds >>> 0;
  if (secs < 0x8000_0000) secs += 4_294_967_296; // era 1: 2036-02-07 onwards
  const fracNs = Math.floor(((fraction >>> 0) * 1_953_125) / 8_388_608 + 0.5);
  return BigInt(secs - 2_208_988_800) * NS_PER_S + BigInt(fracNs);
}

/**
 * A whole second near "now", so that the times we write are small offsets from it: an offset
 * below 2^53 ns (104 days) is exact in a double, and the conversion then needs one BigInt
 * subtraction instead of three BigInt operations. It moves forward when times run past it.
 */
let baseNs = BigInt(Math.floor(Date.now() / 1000)) * NS_PER_S;
let baseNtpSeconds = Number(baseNs / NS_PER_S + NTP_UNIX_OFFSET_S);
const SAFE_SPAN_NS = 2 ** 52;

/**
 * Writes `ns` as an NTP timestamp at `offset`. This is on the reflector's hot path. Within 52 days
 * of the base second it works in doubles: the offset and rem * 2^32 are exact, and the quotient by
 * 1e9 is off by at most 2^-22 while its fractional part (k / 1953125, odd denominator) is never
 * closer than 2.56e-7 to one half, so Math.round rounds exactly as nsToNtp does (the tests
 * compare the two). Other times take the exact BigInt path.
 */
export function writeNtp(buf: Buffer, offset: number, ns: bigint): void {
  if (!(offset >= 0 && offset + 8 <= buf.length)) throw new RangeError(`writeNtp: offset ${offset} outside a ${buf.length}-octet buffer`);
  let d = Number(ns - baseNs);
  if (d >= SAFE_SPAN_NS && d < 2 * SAFE_SPAN_NS) {
    // Times have moved on: re-base on the current second and go on in doubles.
    baseNs = (ns / NS_PER_S) * NS_PER_S;
    baseNtpSeconds = Number(baseNs / NS_PER_S + NTP_UNIX_OFFSET_S);
    d = Number(ns - baseNs);
  }
  if (d < 0 || d >= SAFE_SPAN_NS) {
    const { seconds, fraction } = nsToNtp(ns);
    buf.writeUInt32BE(seconds, offset);
    buf.writeUInt32BE(fraction, offset + 4);
    return;
  }
  const whole = Math.floor(d / 1e9);
  const rem = d - whole * 1e9;
  let fraction = Math.round((rem * 4_294_967_296) / 1e9);
  let s = baseNtpSeconds + whole;
  if (fraction === 4_294_967_296) {
    fraction = 0;
    s += 1;
  }
  // Byte stores, not writeUInt32BE: this runs twice per reflected packet, and the offset is ours.
  s %= 4_294_967_296;
  buf[offset] = s >>> 24;
  buf[offset + 1] = (s >>> 16) & 255;
  buf[offset + 2] = (s >>> 8) & 255;
  buf[offset + 3] = s & 255;
  buf[offset + 4] = fraction >>> 24;
  buf[offset + 5] = (fraction >>> 16) & 255;
  buf[offset + 6] = (fraction >>> 8) & 255;
  buf[offset + 7] = fraction & 255;
}

/** Reads an NTP timestamp at `offset` as Unix-epoch nanoseconds. */
export function readNtp(buf: Buffer, offset: number): bigint {
  return ntpToNs(buf.readUInt32BE(offset), buf.readUInt32BE(offset + 4));
}

/** Writes `ns` as a PTPv2 truncated timestamp (RFC 8762 section 4.1.1) at `offset`. */
export function writePtp(buf: Buffer, offset: number, ns: bigint): void {
  buf.writeUInt32BE(Number((ns / NS_PER_S) & 0xffff_ffffn), offset);
  buf.writeUInt32BE(Number(ns % NS_PER_S), offset + 4);
}

/** Reads a PTPv2 truncated timestamp at `offset` as Unix-epoch nanoseconds. */
export function readPtp(buf: Buffer, offset: number): bigint {
  return BigInt(buf.readUInt32BE(offset)) * NS_PER_S + BigInt(buf.readUInt32BE(offset + 4));
}

/** Reads a timestamp in the format the Z bit of its error estimate selects. */
export function readTimestamp(buf: Buffer, offset: number, ptp: boolean): bigint {
  return ptp ? readPtp(buf, offset) : readNtp(buf, offset);
}
