/**
 * TWAMP-Test packets in unauthenticated mode (also TWAMP-Light): RFC 5357 section 4.1.2
 * (Session-Sender) and section 4.2.1 (Session-Reflector), with RFC 6038 symmetric size and the
 * STAMP (RFC 8762 section 4.3.1) reflector variant that carries the SSID (RFC 8972) at offset 14.
 *
 * Session-Sender packet (14 octets + padding):
 *   0 Sequence Number (4) | 4 Timestamp (8) | 12 Error Estimate (2) | 14 Packet Padding ...
 *
 * Session-Reflector packet (41 octets + padding):
 *   0 Sequence Number (4)        4 Timestamp T3 (8)          12 Error Estimate (2)
 *  14 MBZ (2) [STAMP: SSID]     16 Receive Timestamp T2 (8)  24 Sender Sequence Number (4)
 *  28 Sender Timestamp T1 (8)   36 Sender Error Estimate (2) 38 MBZ (2)
 *  40 Sender TTL (1)            41 Packet Padding ...        [STAMP: 41 MBZ (3), 44 TLVs ...]
 *
 * Timestamps are NTP format unless the Z bit of the error estimate next to them says PTP.
 */
import { DecodeError, requireBytes } from './errors.js';
import { decodeErrorEstimate } from './error-estimate.js';
import { readTimestamp, writeNtp, writePtp } from './timestamp.js';

export const SENDER_SEQ_OFFSET = 0;
export const SENDER_TIMESTAMP_OFFSET = 4;
export const SENDER_ERROR_ESTIMATE_OFFSET = 12;
export const SENDER_PADDING_OFFSET = 14;
/** Fixed part of a Session-Sender packet. */
export const SENDER_HEADER_LENGTH = 14;

export const REFLECTOR_SEQ_OFFSET = 0;
export const REFLECTOR_TIMESTAMP_OFFSET = 4;
export const REFLECTOR_ERROR_ESTIMATE_OFFSET = 12;
export const REFLECTOR_MBZ1_OFFSET = 14;
/** STAMP puts the Session-Sender Identifier where TWAMP has its first MBZ. */
export const REFLECTOR_SSID_OFFSET = 14;
export const RECEIVE_TIMESTAMP_OFFSET = 16;
export const SENDER_SEQ_ECHO_OFFSET = 24;
export const SENDER_TIMESTAMP_ECHO_OFFSET = 28;
export const SENDER_ERROR_ESTIMATE_ECHO_OFFSET = 36;
export const REFLECTOR_MBZ2_OFFSET = 38;
export const SENDER_TTL_OFFSET = 40;
export const REFLECTOR_PADDING_OFFSET = 41;
/** Fixed part of a Session-Reflector packet. */
export const REFLECTOR_HEADER_LENGTH = 41;
/** Padding a sender needs so that both directions carry equal sizes (RFC 6038 section 4.2.1). */
export const SYMMETRIC_PADDING = REFLECTOR_HEADER_LENGTH - SENDER_HEADER_LENGTH;

/** A Session-Sender packet. Padding content is not modelled: it is zero when we send. */
export interface SenderPacket {
  seq: number;
  /** T1, ns since the Unix epoch. */
  timestampNs: bigint;
  /** 16-bit error estimate. */
  errorEstimate: number;
  /** Bytes of padding after the fixed part. */
  paddingLength: number;
}

/** A Session-Reflector packet. */
export interface ReflectorPacket {
  seq: number;
  /** T3, ns since the Unix epoch. */
  timestampNs: bigint;
  errorEstimate: number;
  /** TWAMP: 0; STAMP: the Session-Sender Identifier. */
  ssid: number;
  /** T2, ns since the Unix epoch. */
  receiveTimestampNs: bigint;
  senderSeq: number;
  /** T1 as echoed. */
  senderTimestampNs: bigint;
  senderErrorEstimate: number;
  /** TTL the reflector saw (0 when it could not read it). */
  senderTtl: number;
  paddingLength: number;
}

/** Length of a Session-Sender packet on the wire. */
export function senderPacketLength(p: Pick<SenderPacket, 'paddingLength'>): number {
  return SENDER_HEADER_LENGTH + p.paddingLength;
}

/** Writes a timestamp in the format the error estimate's Z bit selects. */
export function writeTimestampFor(buf: Buffer, offset: number, ns: bigint, errorEstimate: number): void {
  if (errorEstimate & 0x4000) writePtp(buf, offset, ns);
  else writeNtp(buf, offset, ns);
}

/** Encodes a Session-Sender packet (zero padding) into `buf` at `offset`, or a new buffer. */
export function encodeSenderPacket(p: SenderPacket, buf?: Buffer, offset = 0): Buffer {
  const len = senderPacketLength(p);
  const out = buf ?? Buffer.alloc(len + offset);
  if (out.length - offset < len) throw new RangeError(`buffer too small for ${len}-byte sender packet`);
  out.writeUInt32BE(p.seq >>> 0, offset + SENDER_SEQ_OFFSET);
  writeTimestampFor(out, offset + SENDER_TIMESTAMP_OFFSET, p.timestampNs, p.errorEstimate);
  out.writeUInt16BE(p.errorEstimate & 0xffff, offset + SENDER_ERROR_ESTIMATE_OFFSET);
  out.fill(0, offset + SENDER_PADDING_OFFSET, offset + len);
  return out;
}

/** Decodes a Session-Sender packet of `length` bytes at `offset`. */
export function decodeSenderPacket(buf: Buffer, offset = 0, length = buf.length - offset): SenderPacket {
  requireBytes(buf, offset, SENDER_HEADER_LENGTH, 'TWAMP-Test sender packet');
  if (length < SENDER_HEADER_LENGTH || offset + length > buf.length) {
    throw new DecodeError('ERR_TRUNCATED', offset + Math.max(0, length), 'TWAMP-Test sender packet length out of range');
  }
  const errorEstimate = buf.readUInt16BE(offset + SENDER_ERROR_ESTIMATE_OFFSET);
  return {
    seq: buf.readUInt32BE(offset + SENDER_SEQ_OFFSET),
    timestampNs: readTimestamp(buf, offset + SENDER_TIMESTAMP_OFFSET, decodeErrorEstimate(errorEstimate).ptp),
    errorEstimate,
    paddingLength: length - SENDER_HEADER_LENGTH,
  };
}

/** Length of a Session-Reflector packet on the wire. */
export function reflectorPacketLength(p: Pick<ReflectorPacket, 'paddingLength'>): number {
  return REFLECTOR_HEADER_LENGTH + p.paddingLength;
}

/** Encodes a Session-Reflector packet (zero padding) into `buf` at `offset`, or a new buffer. */
export function encodeReflectorPacket(p: ReflectorPacket, buf?: Buffer, offset = 0): Buffer {
  const len = reflectorPacketLength(p);
  const out = buf ?? Buffer.alloc(len + offset);
  if (out.length - offset < len) throw new RangeError(`buffer too small for ${len}-byte reflector packet`);
  out.writeUInt32BE(p.seq >>> 0, offset + REFLECTOR_SEQ_OFFSET);
  writeTimestampFor(out, offset + REFLECTOR_TIMESTAMP_OFFSET, p.timestampNs, p.errorEstimate);
  out.writeUInt16BE(p.errorEstimate & 0xffff, offset + REFLECTOR_ERROR_ESTIMATE_OFFSET);
  out.writeUInt16BE(p.ssid & 0xffff, offset + REFLECTOR_SSID_OFFSET);
  writeTimestampFor(out, offset + RECEIVE_TIMESTAMP_OFFSET, p.receiveTimestampNs, p.errorEstimate);
  out.writeUInt32BE(p.senderSeq >>> 0, offset + SENDER_SEQ_ECHO_OFFSET);
  writeTimestampFor(out, offset + SENDER_TIMESTAMP_ECHO_OFFSET, p.senderTimestampNs, p.senderErrorEstimate);
  out.writeUInt16BE(p.senderErrorEstimate & 0xffff, offset + SENDER_ERROR_ESTIMATE_ECHO_OFFSET);
  out.writeUInt16BE(0, offset + REFLECTOR_MBZ2_OFFSET);
  out.writeUInt8(p.senderTtl & 0xff, offset + SENDER_TTL_OFFSET);
  out.fill(0, offset + REFLECTOR_PADDING_OFFSET, offset + len);
  return out;
}

/** Decodes a Session-Reflector packet of `length` bytes at `offset`. MBZ fields are ignored (RFC 5357: receivers ignore them). */
export function decodeReflectorPacket(buf: Buffer, offset = 0, length = buf.length - offset): ReflectorPacket {
  requireBytes(buf, offset, REFLECTOR_HEADER_LENGTH, 'TWAMP-Test reflector packet');
  if (length < REFLECTOR_HEADER_LENGTH || offset + length > buf.length) {
    throw new DecodeError('ERR_TRUNCATED', offset + Math.max(0, length), 'TWAMP-Test reflector packet length out of range');
  }
  const errorEstimate = buf.readUInt16BE(offset + REFLECTOR_ERROR_ESTIMATE_OFFSET);
  const senderErrorEstimate = buf.readUInt16BE(offset + SENDER_ERROR_ESTIMATE_ECHO_OFFSET);
  const ptp = decodeErrorEstimate(errorEstimate).ptp;
  return {
    seq: buf.readUInt32BE(offset + REFLECTOR_SEQ_OFFSET),
    timestampNs: readTimestamp(buf, offset + REFLECTOR_TIMESTAMP_OFFSET, ptp),
    errorEstimate,
    ssid: buf.readUInt16BE(offset + REFLECTOR_SSID_OFFSET),
    receiveTimestampNs: readTimestamp(buf, offset + RECEIVE_TIMESTAMP_OFFSET, ptp),
    senderSeq: buf.readUInt32BE(offset + SENDER_SEQ_ECHO_OFFSET),
    senderTimestampNs: readTimestamp(
      buf,
      offset + SENDER_TIMESTAMP_ECHO_OFFSET,
      decodeErrorEstimate(senderErrorEstimate).ptp,
    ),
    senderErrorEstimate,
    senderTtl: buf.readUInt8(offset + SENDER_TTL_OFFSET),
    paddingLength: length - REFLECTOR_HEADER_LENGTH,
  };
}
