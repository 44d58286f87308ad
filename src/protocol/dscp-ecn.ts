/**
 * DSCP and ECN Monitoring, RFC 7750 (TWAMP-Modes bit 8, value 256; IANA TWAMP-Modes registry).
 *
 * With the mode in use, the Session-Reflector reports the DS field of the Session-Sender's
 * packet as it arrived: the octet right after Sender TTL carries the received DSCP in its upper
 * six bits and the received ECN codepoint in its lower two (the layout of the IPv4 TOS / IPv6
 * Traffic Class octet, RFC 2474 and RFC 3168). The sender compares it with what it sent, which
 * shows DSCP re-marking (and ECN marking) on the outbound path.
 *
 * Unauthenticated Session-Reflector packet (RFC 5357 section 4.2.1 with this octet):
 *   ... 38 MBZ (2) | 40 Sender TTL (1) | 41 Rcvd DSCP (6 bits) ECN (2 bits) | 42 Packet Padding ...
 * Authenticated and encrypted Session-Reflector packet (RFC 5357 section 4.2.1):
 *   ... 80 Sender TTL (1) | 81 Rcvd DSCP (6 bits) ECN (2 bits) | 82 MBZ (14) | 96 HMAC (16) ...
 *
 * In the unauthenticated format the octet takes the first octet that would otherwise be padding,
 * so a reply carrying it is at least 42 octets. Without the mode the octet is padding (or MBZ)
 * and means nothing: a receiver reads it only when the mode was negotiated or configured.
 * STAMP (RFC 8762) reports DSCP and ECN through its Class of Service TLV (RFC 8972), not here.
 */
import { DecodeError, requireBytes } from './errors.js';
import { SENDER_TTL_OFFSET } from './test-packet.js';

/** Offset of the DSCP/ECN octet in an unauthenticated Session-Reflector packet. */
export const DSCP_ECN_OFFSET = SENDER_TTL_OFFSET + 1;
/** Offset of the DSCP/ECN octet in an authenticated or encrypted Session-Reflector packet. */
export const AUTH_DSCP_ECN_OFFSET = 81;
/** Shortest unauthenticated Session-Reflector packet that carries the octet. */
export const DSCP_ECN_REFLECTOR_LENGTH = DSCP_ECN_OFFSET + 1;
/** The codec's size on the wire. */
export const DSCP_ECN_LENGTH = 1;

/** What the reflector received. */
export interface DscpEcn {
  /** Differentiated Services Code Point, 0-63. */
  dscp: number;
  /** ECN codepoint, 0-3 (0 Not-ECT, 1 ECT(1), 2 ECT(0), 3 CE). */
  ecn: number;
}

/** Size of the encoded value in octets (always 1). */
export function dscpEcnLength(): number {
  return DSCP_ECN_LENGTH;
}

/** The octet of a DSCP and ECN pair (the TOS / Traffic Class layout). */
export function dscpEcnOctet(v: DscpEcn): number {
  if (!Number.isInteger(v.dscp) || v.dscp < 0 || v.dscp > 63) throw new RangeError(`DSCP must be 0..63, got ${v.dscp}`);
  if (!Number.isInteger(v.ecn) || v.ecn < 0 || v.ecn > 3) throw new RangeError(`ECN must be 0..3, got ${v.ecn}`);
  return (v.dscp << 2) | v.ecn;
}

/** Splits an octet into DSCP and ECN. */
export function splitDscpEcn(octet: number): DscpEcn {
  return { dscp: (octet >> 2) & 0x3f, ecn: octet & 3 };
}

/** Encodes into `buf` at `offset` (in a reflector packet: DSCP_ECN_OFFSET or AUTH_DSCP_ECN_OFFSET), or a new 1-octet buffer. */
export function encodeDscpEcn(v: DscpEcn, buf?: Buffer, offset = 0): Buffer {
  const out = buf ?? Buffer.alloc(offset + DSCP_ECN_LENGTH);
  if (offset < 0 || out.length - offset < DSCP_ECN_LENGTH) throw new RangeError(`buffer too small for the DSCP/ECN octet at offset ${offset}`);
  out[offset] = dscpEcnOctet(v);
  return out;
}

/** Decodes the octet at `offset`; throws ERR_TRUNCATED when the buffer is too short to carry it. */
export function decodeDscpEcn(buf: Buffer, offset = 0): DscpEcn {
  requireBytes(buf, offset, DSCP_ECN_LENGTH, 'RFC 7750 DSCP/ECN octet');
  return splitDscpEcn(buf[offset]!);
}

/**
 * The received DS octet from a reply of `length` octets, or null when the reply is too short to
 * carry it (a reflector that does not do RFC 7750 answers a 41-octet request with 41 octets).
 */
export function readDscpEcnOctet(buf: Buffer, length = buf.length, offset = DSCP_ECN_OFFSET): number | null {
  if (length > buf.length) throw new DecodeError('ERR_TRUNCATED', buf.length, 'reply length past the buffer');
  return length > offset ? buf[offset]! : null;
}
