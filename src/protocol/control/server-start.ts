/**
 * Server-Start, server to client, RFC 4656 section 3.1 (TWAMP: RFC 5357 section 3.1).
 *
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                         MBZ (15 octets)                       |   0
 * +                                               +-+-+-+-+-+-+-+-+
 * |                                               |   Accept      |  15
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                     Server-IV (16 octets)                     |  16
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                      Start-Time (Timestamp)                   |  32
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                         MBZ (8 octets)                        |  40
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * This codec handles plaintext. In authenticated, encrypted and mixed modes the third block
 * (Start-Time and MBZ) is the first block of the server's CBC stream (IV = Server-IV), and it is
 * prepended to the HMAC of the server's next message (src/control/channel.ts).
 */
import { SERVER_START_LENGTH, readBytes, requireMessage, target, writeBytes } from './common.js';
import { readNtp, writeNtp } from '../timestamp.js';

export const SERVER_START_ACCEPT_OFFSET = 15;
export const SERVER_START_IV_OFFSET = 16;
export const SERVER_START_TIME_OFFSET = 32;
/** Offset of the block that is encrypted in the secure modes. */
export const SERVER_START_ENCRYPTED_OFFSET = 32;

/** A Server-Start. */
export interface ServerStart {
  /** Accept value (0 = OK). */
  accept: number;
  /** 16 octets: the IV of the server-to-client CBC stream. */
  serverIv: Buffer;
  /** When the server started, ns since the Unix epoch; 0n is sent as an all-zero timestamp. */
  startTimeNs: bigint;
}

/** Length of a Server-Start on the wire. */
export function serverStartLength(): number {
  return SERVER_START_LENGTH;
}

/** Encodes a Server-Start into `buf` at `offset`, or a new buffer. */
export function encodeServerStart(m: ServerStart, buf?: Buffer, offset = 0): Buffer {
  const out = target(SERVER_START_LENGTH, buf, offset, 'Server-Start');
  out.writeUInt8(m.accept & 0xff, offset + SERVER_START_ACCEPT_OFFSET);
  writeBytes(out, offset + SERVER_START_IV_OFFSET, 16, m.serverIv, 'Server-IV');
  if (m.startTimeNs !== 0n) writeNtp(out, offset + SERVER_START_TIME_OFFSET, m.startTimeNs);
  return out;
}

/** Decodes a Server-Start at `offset`. */
export function decodeServerStart(buf: Buffer, offset = 0): ServerStart {
  requireMessage(buf, offset, SERVER_START_LENGTH, 'Server-Start');
  const zero = buf.readUInt32BE(offset + SERVER_START_TIME_OFFSET) === 0 && buf.readUInt32BE(offset + SERVER_START_TIME_OFFSET + 4) === 0;
  return {
    accept: buf.readUInt8(offset + SERVER_START_ACCEPT_OFFSET),
    serverIv: readBytes(buf, offset + SERVER_START_IV_OFFSET, 16),
    startTimeNs: zero ? 0n : readNtp(buf, offset + SERVER_START_TIME_OFFSET),
  };
}
