/**
 * STAMP unauthenticated packets, RFC 8762 section 4.2.1 (Session-Sender) and 4.3.1
 * (Session-Reflector), with the SSID of RFC 8972 section 3.
 *
 * Session-Sender (44 octets):
 *   0 Sequence Number (4) | 4 Timestamp (8) | 12 Error Estimate (2) | 14 SSID (2) | 16 MBZ (28)
 * Session-Reflector (44 octets): the TWAMP reflector layout (see test-packet.ts) with the SSID at
 *   14 and MBZ (3) at 41. Optional TLVs (RFC 8972) follow the 44-octet base in both directions.
 */
import { requireBytes } from './errors.js';
import {
  REFLECTOR_HEADER_LENGTH,
  SENDER_ERROR_ESTIMATE_OFFSET,
  SENDER_SEQ_OFFSET,
  SENDER_TIMESTAMP_OFFSET,
  writeTimestampFor,
} from './test-packet.js';
import { decodeErrorEstimate } from './error-estimate.js';
import { readTimestamp } from './timestamp.js';

/** Base length of both STAMP packets in unauthenticated mode. */
export const STAMP_BASE_LENGTH = 44;
export const STAMP_SSID_OFFSET = 14;
export const STAMP_SENDER_MBZ_OFFSET = 16;
/** Where the reflector's trailing MBZ(3) starts. */
export const STAMP_REFLECTOR_MBZ_OFFSET = REFLECTOR_HEADER_LENGTH;

/** A STAMP Session-Sender packet. */
export interface StampSenderPacket {
  seq: number;
  timestampNs: bigint;
  errorEstimate: number;
  ssid: number;
  /** Bytes after the 44-octet base (TLVs or padding), zero-filled when we send. */
  extraLength: number;
}

/** Length of a STAMP sender packet on the wire. */
export function stampSenderPacketLength(p: Pick<StampSenderPacket, 'extraLength'>): number {
  return STAMP_BASE_LENGTH + p.extraLength;
}

/** Encodes a STAMP Session-Sender packet into `buf` at `offset`, or a new buffer. */
export function encodeStampSenderPacket(p: StampSenderPacket, buf?: Buffer, offset = 0): Buffer {
  const len = stampSenderPacketLength(p);
  const out = buf ?? Buffer.alloc(len + offset);
  if (out.length - offset < len) throw new RangeError(`buffer too small for ${len}-byte STAMP packet`);
  out.writeUInt32BE(p.seq >>> 0, offset + SENDER_SEQ_OFFSET);
  writeTimestampFor(out, offset + SENDER_TIMESTAMP_OFFSET, p.timestampNs, p.errorEstimate);
  out.writeUInt16BE(p.errorEstimate & 0xffff, offset + SENDER_ERROR_ESTIMATE_OFFSET);
  out.writeUInt16BE(p.ssid & 0xffff, offset + STAMP_SSID_OFFSET);
  out.fill(0, offset + STAMP_SENDER_MBZ_OFFSET, offset + len);
  return out;
}

/** Decodes a STAMP Session-Sender packet of `length` bytes at `offset`. */
export function decodeStampSenderPacket(buf: Buffer, offset = 0, length = buf.length - offset): StampSenderPacket {
  requireBytes(buf, offset, STAMP_BASE_LENGTH, 'STAMP sender packet');
  requireBytes(buf, offset, length, 'STAMP sender packet');
  const errorEstimate = buf.readUInt16BE(offset + SENDER_ERROR_ESTIMATE_OFFSET);
  return {
    seq: buf.readUInt32BE(offset + SENDER_SEQ_OFFSET),
    timestampNs: readTimestamp(buf, offset + SENDER_TIMESTAMP_OFFSET, decodeErrorEstimate(errorEstimate).ptp),
    errorEstimate,
    ssid: buf.readUInt16BE(offset + STAMP_SSID_OFFSET),
    extraLength: length - STAMP_BASE_LENGTH,
  };
}

/**
 * Whether a request looks like a STAMP Session-Sender packet: at least 44 octets with the 28-octet
 * MBZ field zero. A TWAMP-Light request with 30+ octets of zero padding also matches; the reply
 * is then byte-identical in both formats except that the SSID (here zero) is echoed, so the
 * guess is harmless.
 */
export function looksLikeStamp(buf: Buffer, length: number): boolean {
  if (length < STAMP_BASE_LENGTH) return false;
  for (let i = STAMP_SENDER_MBZ_OFFSET; i < STAMP_BASE_LENGTH; i++) if (buf[i] !== 0) return false;
  return true;
}
