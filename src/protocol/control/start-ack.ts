/**
 * Start-Ack, server to client, RFC 5357 section 3.7 (layout from RFC 4656 section 3.7).
 *
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |     Accept    |                                               |   0
 * +-+-+-+-+-+-+-+-+                                               +
 * |                        MBZ (15 octets)                        |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                       HMAC (16 octets)                        |  16
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 */
import { START_ACK_LENGTH, readBytes, requireMessage, target, writeBytes } from './common.js';

export const SA_ACCEPT_OFFSET = 0;
export const SA_HMAC_OFFSET = 16;

/** A Start-Ack. */
export interface StartAck {
  accept: number;
  hmac: Buffer;
}

/** Length of a Start-Ack on the wire. */
export function startAckLength(): number {
  return START_ACK_LENGTH;
}

/** Encodes a Start-Ack into `buf` at `offset`, or a new buffer. */
export function encodeStartAck(m: StartAck, buf?: Buffer, offset = 0): Buffer {
  const out = target(START_ACK_LENGTH, buf, offset, 'Start-Ack');
  out.writeUInt8(m.accept & 0xff, offset + SA_ACCEPT_OFFSET);
  writeBytes(out, offset + SA_HMAC_OFFSET, 16, m.hmac, 'HMAC');
  return out;
}

/** Decodes a Start-Ack at `offset`. */
export function decodeStartAck(buf: Buffer, offset = 0): StartAck {
  requireMessage(buf, offset, START_ACK_LENGTH, 'Start-Ack');
  return { accept: buf.readUInt8(offset + SA_ACCEPT_OFFSET), hmac: readBytes(buf, offset + SA_HMAC_OFFSET, 16) };
}
