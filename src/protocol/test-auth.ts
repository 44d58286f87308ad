/**
 * TWAMP-Test packets in authenticated and encrypted modes: RFC 5357 section 4.1.2
 * (Session-Sender) and section 4.2.1 (Session-Reflector; 112 octets, RFC 5357 erratum 5045).
 *
 * Session-Sender packet (48 octets + padding):
 *   0 Sequence Number (4)   4 MBZ (12)
 *  16 Timestamp (8)        24 Error Estimate (2)   26 MBZ (6)
 *  32 HMAC (16)            48 Packet Padding ...
 *
 * Session-Reflector packet (112 octets + padding):
 *   0 Sequence Number (4)   4 MBZ (12)
 *  16 Timestamp T3 (8)     24 Error Estimate (2)   26 MBZ (6)
 *  32 Receive Timestamp T2 (8)                     40 MBZ (8)
 *  48 Sender Sequence Number (4)                   52 MBZ (12)
 *  64 Sender Timestamp (8) 72 Sender Error Estimate (2)   74 MBZ (6)
 *  80 Sender TTL (1)       81 MBZ (15)
 *  96 HMAC (16)           112 Packet Padding ...
 *
 * Protection (the same as perfSONAR's twampd/twping): in authenticated mode the first block is
 * encrypted with AES-ECB; in encrypted mode every block before the HMAC is encrypted with
 * AES-CBC and IV 0 (the first block of which is the ECB block). The HMAC (HMAC-SHA1, 16 octets)
 * covers the plaintext of the encrypted blocks. The padding is never encrypted. Keys come from
 * `deriveTestKeys` (src/control/crypto.ts).
 *
 * The plaintext codecs below are pure; `sealTestPacket` / `openTestPacket` add the crypto.
 */
import { createCipheriv, createDecipheriv, createHmac, timingSafeEqual } from 'node:crypto';
import { DecodeError, requireBytes } from './errors.js';
import { decodeErrorEstimate } from './error-estimate.js';
import { readTimestamp } from './timestamp.js';
import { writeTimestampFor, type ReflectorPacket, type SenderPacket } from './test-packet.js';

export const AUTH_SENDER_SEQ_OFFSET = 0;
export const AUTH_SENDER_TIMESTAMP_OFFSET = 16;
export const AUTH_SENDER_ERROR_ESTIMATE_OFFSET = 24;
export const AUTH_SENDER_HMAC_OFFSET = 32;
/** Fixed part of an authenticated Session-Sender packet. */
export const AUTH_SENDER_HEADER_LENGTH = 48;

export const AUTH_REFLECTOR_SEQ_OFFSET = 0;
export const AUTH_REFLECTOR_TIMESTAMP_OFFSET = 16;
export const AUTH_REFLECTOR_ERROR_ESTIMATE_OFFSET = 24;
export const AUTH_RECEIVE_TIMESTAMP_OFFSET = 32;
export const AUTH_SENDER_SEQ_ECHO_OFFSET = 48;
export const AUTH_SENDER_TIMESTAMP_ECHO_OFFSET = 64;
export const AUTH_SENDER_ERROR_ESTIMATE_ECHO_OFFSET = 72;
export const AUTH_SENDER_TTL_OFFSET = 80;
export const AUTH_REFLECTOR_HMAC_OFFSET = 96;
/** Fixed part of an authenticated Session-Reflector packet. */
export const AUTH_REFLECTOR_HEADER_LENGTH = 112;

/** Which TWAMP-Test protection applies. */
export type TestSecurity = 'authenticated' | 'encrypted';
/** Which side's packet. */
export type TestPacketKind = 'sender' | 'reflector';

/** Keys of one test session. */
export interface TestPacketKeys {
  aesKey: Uint8Array;
  hmacKey: Uint8Array;
}

/** Length of an authenticated Session-Sender packet. */
export function authSenderPacketLength(p: Pick<SenderPacket, 'paddingLength'>): number {
  return AUTH_SENDER_HEADER_LENGTH + p.paddingLength;
}

/** Length of an authenticated Session-Reflector packet. */
export function authReflectorPacketLength(p: Pick<ReflectorPacket, 'paddingLength'>): number {
  return AUTH_REFLECTOR_HEADER_LENGTH + p.paddingLength;
}

/** Encodes the plaintext of an authenticated Session-Sender packet (HMAC zero, padding zero). */
export function encodeAuthSenderPacket(p: SenderPacket, buf?: Buffer, offset = 0): Buffer {
  const len = authSenderPacketLength(p);
  const out = buf ?? Buffer.alloc(offset + len);
  if (out.length - offset < len) throw new RangeError(`buffer too small for ${len}-byte sender packet`);
  out.fill(0, offset, offset + len);
  out.writeUInt32BE(p.seq >>> 0, offset + AUTH_SENDER_SEQ_OFFSET);
  writeTimestampFor(out, offset + AUTH_SENDER_TIMESTAMP_OFFSET, p.timestampNs, p.errorEstimate);
  out.writeUInt16BE(p.errorEstimate & 0xffff, offset + AUTH_SENDER_ERROR_ESTIMATE_OFFSET);
  return out;
}

/** Decodes the plaintext of an authenticated Session-Sender packet of `length` bytes. */
export function decodeAuthSenderPacket(buf: Buffer, offset = 0, length = buf.length - offset): SenderPacket {
  requireBytes(buf, offset, AUTH_SENDER_HEADER_LENGTH, 'authenticated TWAMP-Test sender packet');
  if (length < AUTH_SENDER_HEADER_LENGTH || offset + length > buf.length) {
    throw new DecodeError('ERR_TRUNCATED', offset + Math.max(0, length), 'authenticated sender packet length out of range');
  }
  const errorEstimate = buf.readUInt16BE(offset + AUTH_SENDER_ERROR_ESTIMATE_OFFSET);
  return {
    seq: buf.readUInt32BE(offset + AUTH_SENDER_SEQ_OFFSET),
    timestampNs: readTimestamp(buf, offset + AUTH_SENDER_TIMESTAMP_OFFSET, decodeErrorEstimate(errorEstimate).ptp),
    errorEstimate,
    paddingLength: length - AUTH_SENDER_HEADER_LENGTH,
  };
}

/** Encodes the plaintext of an authenticated Session-Reflector packet (HMAC zero, padding zero). */
export function encodeAuthReflectorPacket(p: ReflectorPacket, buf?: Buffer, offset = 0): Buffer {
  const len = authReflectorPacketLength(p);
  const out = buf ?? Buffer.alloc(offset + len);
  if (out.length - offset < len) throw new RangeError(`buffer too small for ${len}-byte reflector packet`);
  out.fill(0, offset, offset + len);
  out.writeUInt32BE(p.seq >>> 0, offset + AUTH_REFLECTOR_SEQ_OFFSET);
  writeTimestampFor(out, offset + AUTH_REFLECTOR_TIMESTAMP_OFFSET, p.timestampNs, p.errorEstimate);
  out.writeUInt16BE(p.errorEstimate & 0xffff, offset + AUTH_REFLECTOR_ERROR_ESTIMATE_OFFSET);
  writeTimestampFor(out, offset + AUTH_RECEIVE_TIMESTAMP_OFFSET, p.receiveTimestampNs, p.errorEstimate);
  out.writeUInt32BE(p.senderSeq >>> 0, offset + AUTH_SENDER_SEQ_ECHO_OFFSET);
  writeTimestampFor(out, offset + AUTH_SENDER_TIMESTAMP_ECHO_OFFSET, p.senderTimestampNs, p.senderErrorEstimate);
  out.writeUInt16BE(p.senderErrorEstimate & 0xffff, offset + AUTH_SENDER_ERROR_ESTIMATE_ECHO_OFFSET);
  out.writeUInt8(p.senderTtl & 0xff, offset + AUTH_SENDER_TTL_OFFSET);
  return out;
}

/** Decodes the plaintext of an authenticated Session-Reflector packet of `length` bytes. */
export function decodeAuthReflectorPacket(buf: Buffer, offset = 0, length = buf.length - offset): ReflectorPacket {
  requireBytes(buf, offset, AUTH_REFLECTOR_HEADER_LENGTH, 'authenticated TWAMP-Test reflector packet');
  if (length < AUTH_REFLECTOR_HEADER_LENGTH || offset + length > buf.length) {
    throw new DecodeError('ERR_TRUNCATED', offset + Math.max(0, length), 'authenticated reflector packet length out of range');
  }
  const errorEstimate = buf.readUInt16BE(offset + AUTH_REFLECTOR_ERROR_ESTIMATE_OFFSET);
  const senderErrorEstimate = buf.readUInt16BE(offset + AUTH_SENDER_ERROR_ESTIMATE_ECHO_OFFSET);
  const ptp = decodeErrorEstimate(errorEstimate).ptp;
  return {
    seq: buf.readUInt32BE(offset + AUTH_REFLECTOR_SEQ_OFFSET),
    timestampNs: readTimestamp(buf, offset + AUTH_REFLECTOR_TIMESTAMP_OFFSET, ptp),
    errorEstimate,
    ssid: 0,
    receiveTimestampNs: readTimestamp(buf, offset + AUTH_RECEIVE_TIMESTAMP_OFFSET, ptp),
    senderSeq: buf.readUInt32BE(offset + AUTH_SENDER_SEQ_ECHO_OFFSET),
    senderTimestampNs: readTimestamp(
      buf,
      offset + AUTH_SENDER_TIMESTAMP_ECHO_OFFSET,
      decodeErrorEstimate(senderErrorEstimate).ptp,
    ),
    senderErrorEstimate,
    senderTtl: buf.readUInt8(offset + AUTH_SENDER_TTL_OFFSET),
    paddingLength: length - AUTH_REFLECTOR_HEADER_LENGTH,
  };
}

/** Offset of the HMAC field of a packet kind. */
export function hmacOffset(kind: TestPacketKind): number {
  return kind === 'sender' ? AUTH_SENDER_HMAC_OFFSET : AUTH_REFLECTOR_HMAC_OFFSET;
}

/** Bytes at the start of the packet that are encrypted and covered by the HMAC. */
export function protectedLength(kind: TestPacketKind, security: TestSecurity): number {
  return security === 'authenticated' ? 16 : hmacOffset(kind);
}

function cbc(key: Uint8Array, data: Uint8Array, decrypt: boolean): Buffer {
  const c = decrypt ? createDecipheriv('aes-128-cbc', key, Buffer.alloc(16)) : createCipheriv('aes-128-cbc', key, Buffer.alloc(16));
  c.setAutoPadding(false);
  return Buffer.concat([c.update(data), c.final()]);
}

/** Fills the HMAC of a plaintext packet and encrypts its protected blocks, in place; returns it. */
export function sealTestPacket(packet: Buffer, kind: TestPacketKind, security: TestSecurity, keys: TestPacketKeys): Buffer {
  const n = protectedLength(kind, security);
  const h = hmacOffset(kind);
  if (packet.length < h + 16) throw new RangeError(`${kind} packet too short to seal`);
  const mac = createHmac('sha1', keys.hmacKey).update(packet.subarray(0, n)).digest();
  mac.copy(packet, h, 0, 16);
  cbc(keys.aesKey, packet.subarray(0, n), false).copy(packet, 0);
  return packet;
}

/**
 * Decrypts the protected blocks of a received packet into a new buffer and checks the HMAC.
 * Throws DecodeError ERR_TRUNCATED when too short, ERR_BAD_VALUE (offset of the HMAC) when the
 * HMAC does not match.
 */
export function openTestPacket(wire: Buffer, kind: TestPacketKind, security: TestSecurity, keys: TestPacketKeys): Buffer {
  const n = protectedLength(kind, security);
  const h = hmacOffset(kind);
  requireBytes(wire, 0, h + 16, `${security} TWAMP-Test ${kind} packet`);
  const plain = Buffer.from(wire);
  cbc(keys.aesKey, wire.subarray(0, n), true).copy(plain, 0);
  const mac = createHmac('sha1', keys.hmacKey).update(plain.subarray(0, n)).digest().subarray(0, 16);
  if (!timingSafeEqual(mac, wire.subarray(h, h + 16))) throw new DecodeError('ERR_BAD_VALUE', h, 'TWAMP-Test HMAC mismatch');
  return plain;
}
