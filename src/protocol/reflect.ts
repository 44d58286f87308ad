/**
 * Building a Session-Reflector reply from a Session-Sender request, RFC 5357 section 4.2.1 with
 * RFC 6038 section 4.2 (symmetric size) and RFC 8762 section 4.3 (STAMP).
 *
 * The sender's Sequence Number, Timestamp and Error Estimate are copied byte for byte, so the
 * echo is exact whatever timestamp format the sender used. The reply is max(41, request length)
 * octets (STAMP: max(44, request length)); its padding reuses the request's padding, truncated by
 * the 27 octets the reflector header is longer (RFC 6038), so both directions carry equal sizes.
 * T3 is written separately by `writeReplyT3` just before the reply is sent.
 *
 * RFC 7750 (DSCP and ECN Monitoring, src/protocol/dscp-ecn.ts): when `dscpEcn` is given, a TWAMP
 * reply carries the received DS octet at offset 41 and is at least 42 octets. STAMP replies never
 * carry it (their octets 41-43 are MBZ; STAMP has its own Class of Service TLV).
 */
import {
  RECEIVE_TIMESTAMP_OFFSET,
  REFLECTOR_ERROR_ESTIMATE_OFFSET,
  REFLECTOR_HEADER_LENGTH,
  REFLECTOR_PADDING_OFFSET,
  REFLECTOR_SEQ_OFFSET,
  REFLECTOR_TIMESTAMP_OFFSET,
  SENDER_HEADER_LENGTH,
  SENDER_PADDING_OFFSET,
  SENDER_SEQ_ECHO_OFFSET,
  SENDER_SEQ_OFFSET,
  SENDER_TTL_OFFSET,
} from './test-packet.js';
import { STAMP_BASE_LENGTH, STAMP_SSID_OFFSET } from './stamp.js';
import { DSCP_ECN_OFFSET, DSCP_ECN_REFLECTOR_LENGTH } from './dscp-ecn.js';
import { writeNtp } from './timestamp.js';

/** Reply format chosen for a request. */
export type ReplyFormat = 'twamp' | 'stamp';

/** Inputs of a reply other than the request itself. */
export interface ReplyFields {
  /** Reflector sequence number (own counter, or the sender's when stateless). */
  seq: number;
  /** T2, ns since the Unix epoch (NTP format on the wire). */
  receiveTimestampNs: bigint;
  /** Our 16-bit error estimate (Z must be 0: we write NTP timestamps). */
  errorEstimate: number;
  /** TTL of the received request; 0 when unknown. */
  senderTtl: number;
  /** RFC 7750: the request's DS octet as received (DSCP << 2 | ECN); omitted when the mode is off. */
  dscpEcn?: number;
}

/** Length of the reply to a request of `requestLength` octets (`dscpEcn`: RFC 7750 in use). */
export function replyLength(requestLength: number, format: ReplyFormat, dscpEcn = false): number {
  const min = format === 'stamp' ? STAMP_BASE_LENGTH : dscpEcn ? DSCP_ECN_REFLECTOR_LENGTH : REFLECTOR_HEADER_LENGTH;
  return Math.max(min, requestLength);
}

/** Reads the sender's sequence number from a request. */
export function requestSeq(req: Buffer): number {
  return req.readUInt32BE(SENDER_SEQ_OFFSET);
}

/** Builds the reply to `req` (its first `reqLen` octets) without T3; returns a new buffer. */
export function buildReply(req: Buffer, requestLength: number, format: ReplyFormat, f: ReplyFields): Buffer {
  // Never trust a length past the buffer: allocUnsafe memory must not leak into the padding.
  const reqLen = Math.min(requestLength, req.length);
  const out = Buffer.allocUnsafe(replyLength(reqLen, format, f.dscpEcn !== undefined));
  buildReplyInto(out, req, reqLen, format, f);
  return out;
}

/**
 * Builds the reply into the start of `out` (which must hold `replyLength(...)` octets; every one
 * of them is written) and returns its length. Lets a reflector whose socket copies on send reuse
 * one buffer instead of allocating a reply per packet.
 */
export function buildReplyInto(out: Buffer, req: Buffer, requestLength: number, format: ReplyFormat, f: ReplyFields): number {
  const reqLen = Math.min(requestLength, req.length);
  const len = replyLength(reqLen, format, f.dscpEcn !== undefined);
  if (out.length < len) throw new RangeError(`buffer too small for a ${len}-octet reply`);
  // Byte stores rather than writeUInt*BE and copy(): this runs per reflected packet, and the
  // offsets are fixed and inside `len` (checked above), so Buffer's own checks buy nothing.
  const seq = f.seq >>> 0;
  out[REFLECTOR_SEQ_OFFSET] = seq >>> 24;
  out[REFLECTOR_SEQ_OFFSET + 1] = (seq >>> 16) & 255;
  out[REFLECTOR_SEQ_OFFSET + 2] = (seq >>> 8) & 255;
  out[REFLECTOR_SEQ_OFFSET + 3] = seq & 255;
  // T3 comes later; zeroed so that a reply never carries stale bytes.
  for (let i = REFLECTOR_TIMESTAMP_OFFSET; i < REFLECTOR_TIMESTAMP_OFFSET + 8; i++) out[i] = 0;
  const ee = f.errorEstimate & 0xbfff;
  out[REFLECTOR_ERROR_ESTIMATE_OFFSET] = ee >>> 8;
  out[REFLECTOR_ERROR_ESTIMATE_OFFSET + 1] = ee & 255;
  if (format === 'stamp') {
    out[STAMP_SSID_OFFSET] = req[STAMP_SSID_OFFSET]!;
    out[STAMP_SSID_OFFSET + 1] = req[STAMP_SSID_OFFSET + 1]!;
  } else {
    out[STAMP_SSID_OFFSET] = 0;
    out[STAMP_SSID_OFFSET + 1] = 0;
  }
  writeNtp(out, RECEIVE_TIMESTAMP_OFFSET, f.receiveTimestampNs);
  // Sender Sequence Number, Timestamp and Error Estimate (14 octets) echoed verbatim at 24..38.
  for (let i = 0; i < SENDER_HEADER_LENGTH; i++) out[SENDER_SEQ_ECHO_OFFSET + i] = req[i]!;
  out[SENDER_TTL_OFFSET - 2] = 0; // MBZ
  out[SENDER_TTL_OFFSET - 1] = 0;
  out[SENDER_TTL_OFFSET] = f.senderTtl & 0xff;
  if (format === 'stamp') {
    out.fill(0, REFLECTOR_PADDING_OFFSET, STAMP_BASE_LENGTH);
    if (len > STAMP_BASE_LENGTH) req.copy(out, STAMP_BASE_LENGTH, STAMP_BASE_LENGTH, len);
  } else {
    const padLen = len - REFLECTOR_HEADER_LENGTH;
    const avail = Math.max(0, Math.min(padLen, reqLen - SENDER_PADDING_OFFSET));
    if (avail > 0) req.copy(out, REFLECTOR_PADDING_OFFSET, SENDER_PADDING_OFFSET, SENDER_PADDING_OFFSET + avail);
    if (avail < padLen) out.fill(0, REFLECTOR_PADDING_OFFSET + avail, len);
    // RFC 7750: the octet after Sender TTL reports the DS field we received (it replaces the first padding octet).
    if (f.dscpEcn !== undefined) out[DSCP_ECN_OFFSET] = f.dscpEcn & 0xff;
  }
  return len;
}

/** Writes T3 into a reply built by `buildReply`. */
export function writeReplyT3(reply: Buffer, t3Ns: bigint): void {
  writeNtp(reply, REFLECTOR_TIMESTAMP_OFFSET, t3Ns);
}
