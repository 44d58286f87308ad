/**
 * TWAMP-Control (RFC 5357 section 3, framing and crypto from RFC 4656 section 3) shared
 * constants and helpers: modes, Accept values, command numbers, message sizes, the duration
 * format of the Timeout field, and the 16-octet address fields of Request-TW-Session.
 *
 * Every control message is a whole number of 16-octet AES blocks, and every message after
 * Server-Start ends with a 16-octet HMAC block (zero in unauthenticated mode), so the channel
 * layer (src/control/channel.ts) can encrypt and authenticate messages without knowing them.
 */
import { isIPv4, isIPv6 } from 'node:net';
import { DecodeError, requireBytes } from '../errors.js';

/** AES block size; every control message is a multiple of it. */
export const BLOCK = 16;
/** Bytes of the HMAC field that closes every message after Server-Start. */
export const HMAC_LENGTH = 16;

/** Mode bits (RFC 4656 section 3.1, RFC 5618, RFC 5938, RFC 6038, RFC 7750; IANA TWAMP-Modes). */
export const Mode = {
  UNAUTHENTICATED: 1,
  AUTHENTICATED: 2,
  ENCRYPTED: 4,
  /** RFC 5618: encrypted control, unauthenticated test packets. */
  MIXED: 8,
  /** RFC 5938: Start-N-Sessions / Stop-N-Sessions. */
  INDIVIDUAL_SESSION_CONTROL: 16,
  /** RFC 6038. */
  REFLECT_OCTETS: 32,
  /** RFC 6038. */
  SYMMETRICAL_SIZE: 64,
  /** RFC 7750. */
  DSCP_ECN: 256,
} as const;

/** The security part of a mode word: exactly one of these is chosen in Set-Up-Response. */
export const SECURITY_MODES = Mode.UNAUTHENTICATED | Mode.AUTHENTICATED | Mode.ENCRYPTED | Mode.MIXED;

/** Accept field values (RFC 4656 section 3.3). */
export const Accept = {
  OK: 0,
  FAILURE: 1,
  INTERNAL_ERROR: 2,
  NOT_SUPPORTED: 3,
  PERMANENT_RESOURCE_LIMIT: 4,
  TEMPORARY_RESOURCE_LIMIT: 5,
} as const;

/** Human-readable name of an Accept value. */
export function acceptName(v: number): string {
  switch (v) {
    case 0:
      return 'OK';
    case 1:
      return 'failure';
    case 2:
      return 'internal error';
    case 3:
      return 'not supported';
    case 4:
      return 'permanent resource limitation';
    case 5:
      return 'temporary resource limitation';
    default:
      return `unknown accept value ${v}`;
  }
}

/** TWAMP-Control command numbers (RFC 5357 section 8.3, RFC 5938; IANA registry). */
export const Command = {
  START_SESSIONS: 2,
  STOP_SESSIONS: 3,
  REQUEST_TW_SESSION: 5,
  START_N_SESSIONS: 7,
  START_N_ACK: 8,
  STOP_N_SESSIONS: 9,
  STOP_N_ACK: 10,
} as const;

/** Sizes of the fixed-size messages. */
export const SERVER_GREETING_LENGTH = 64;
export const SETUP_RESPONSE_LENGTH = 164;
export const SERVER_START_LENGTH = 48;
export const REQUEST_TW_SESSION_LENGTH = 112;
export const ACCEPT_SESSION_LENGTH = 48;
export const START_SESSIONS_LENGTH = 32;
export const START_ACK_LENGTH = 32;
export const STOP_SESSIONS_LENGTH = 32;

/** Checks that `buf` holds exactly or at least `len` bytes from `offset` for message `what`. */
export function requireMessage(buf: Buffer, offset: number, len: number, what: string): void {
  requireBytes(buf, offset, len, what);
}

/** Returns `buf` (checked to hold `len` bytes from `offset`) or a new zeroed buffer of `len`. */
export function target(len: number, buf: Buffer | undefined, offset: number, what: string): Buffer {
  const out = buf ?? Buffer.alloc(offset + len);
  if (out.length - offset < len) throw new RangeError(`buffer too small for ${len}-byte ${what}`);
  out.fill(0, offset, offset + len);
  return out;
}

/** Copies a fixed-size byte field, zero-padding or refusing data that is too long. */
export function writeBytes(out: Buffer, offset: number, size: number, value: Uint8Array | undefined, what: string): void {
  if (!value) return;
  if (value.length > size) throw new RangeError(`${what} is ${value.length} bytes, the field holds ${size}`);
  out.set(value, offset);
}

/** Reads a fixed-size byte field as a copy. */
export function readBytes(buf: Buffer, offset: number, size: number): Buffer {
  return Buffer.from(buf.subarray(offset, offset + size));
}

const NS_PER_S = 1_000_000_000n;
const TWO_32 = 1n << 32n;

/**
 * Writes a duration in the 64-bit timestamp format (seconds, 2^-32 fraction), as the Timeout of
 * Request-TW-Session uses it (RFC 4656 section 3.5): no epoch offset.
 */
export function writeDuration(buf: Buffer, offset: number, ns: bigint): void {
  const v = ns < 0n ? 0n : ns;
  let secs = v / NS_PER_S;
  let frac = ((v % NS_PER_S) * TWO_32 + NS_PER_S / 2n) / NS_PER_S;
  if (frac === TWO_32) {
    frac = 0n;
    secs += 1n;
  }
  if (secs > 0xffff_ffffn) {
    secs = 0xffff_ffffn;
    frac = TWO_32 - 1n;
  }
  buf.writeUInt32BE(Number(secs), offset);
  buf.writeUInt32BE(Number(frac), offset + 4);
}

/** Reads a duration written by `writeDuration`, in nanoseconds (rounded to nearest). */
export function readDuration(buf: Buffer, offset: number): bigint {
  const secs = BigInt(buf.readUInt32BE(offset));
  const frac = BigInt(buf.readUInt32BE(offset + 4));
  return secs * NS_PER_S + (frac * NS_PER_S + TWO_32 / 2n) / TWO_32;
}

/** IP version of an address string: 4, 6, or throws. */
export function ipVersion(address: string): 4 | 6 {
  if (isIPv4(address)) return 4;
  if (isIPv6(address)) return 6;
  throw new RangeError(`not an IP address: ${address}`);
}

/** Encodes an IPv4 or IPv6 address into 4 or 16 bytes. */
export function ipToBytes(address: string): Buffer {
  if (isIPv4(address)) return Buffer.from(address.split('.').map((p) => Number(p)));
  if (!isIPv6(address)) throw new RangeError(`not an IP address: ${address}`);
  let text = address.split('%')[0]!;
  const out = Buffer.alloc(16);
  // An embedded dotted quad occupies the last 32 bits.
  const lastColon = text.lastIndexOf(':');
  const tail = text.slice(lastColon + 1);
  let v4: Buffer | null = null;
  if (tail.includes('.')) {
    v4 = ipToBytes(tail);
    text = `${text.slice(0, lastColon + 1)}0:0`;
  }
  const [head, rest] = text.includes('::') ? text.split('::') : [text, undefined];
  const headGroups = head ? head.split(':') : [];
  const restGroups = rest ? rest.split(':') : [];
  const groups =
    rest === undefined
      ? headGroups
      : [...headGroups, ...new Array<string>(8 - headGroups.length - restGroups.length).fill('0'), ...restGroups];
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
  if (v4) v4.copy(out, 12);
  return out;
}

/** Decodes 4 or 16 bytes into the canonical text form of the address. */
export function bytesToIp(bytes: Uint8Array, version: 4 | 6): string {
  if (version === 4) return Array.from(bytes.subarray(0, 4)).join('.');
  const groups: number[] = [];
  for (let i = 0; i < 8; i++) groups.push((bytes[i * 2]! << 8) | bytes[i * 2 + 1]!);
  // RFC 5952: compress the longest run (of at least two) of zero groups, the first on ties.
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
}

/** Throws a DecodeError with ERR_BAD_VALUE at `offset`. */
export function badValue(offset: number, message: string): never {
  throw new DecodeError('ERR_BAD_VALUE', offset, message);
}
