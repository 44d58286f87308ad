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
  const len = replyLength(reqLen, format, f.dscpEcn !== undefined);
  const out = Buffer.allocUnsafe(len);
  out.writeUInt32BE(f.seq >>> 0, REFLECTOR_SEQ_OFFSET);
  out.fill(0, REFLECTOR_TIMESTAMP_OFFSET, REFLECTOR_TIMESTAMP_OFFSET + 8); // T3 comes later
  out.writeUInt16BE(f.errorEstimate & 0xbfff, REFLECTOR_ERROR_ESTIMATE_OFFSET);
  if (format === 'stamp') {
    out[STAMP_SSID_OFFSET] = req[STAMP_SSID_OFFSET]!;
    out[STAMP_SSID_OFFSET + 1] = req[STAMP_SSID_OFFSET + 1]!;
  } else {
    out.writeUInt16BE(0, STAMP_SSID_OFFSET);
  }
  writeNtp(out, RECEIVE_TIMESTAMP_OFFSET, f.receiveTimestampNs);
  // Sender Sequence Number, Timestamp and Error Estimate (14 octets) echoed verbatim at 24..38.
  req.copy(out, SENDER_SEQ_ECHO_OFFSET, 0, SENDER_HEADER_LENGTH);
  out.writeUInt16BE(0, SENDER_TTL_OFFSET - 2); // MBZ
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
  return out;
}

/** Writes T3 into a reply built by `buildReply`. */
export function writeReplyT3(reply: Buffer, t3Ns: bigint): void {
  writeNtp(reply, REFLECTOR_TIMESTAMP_OFFSET, t3Ns);
}
