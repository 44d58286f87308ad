/**
 * Accept-Session, server to client, RFC 5357 section 3.5 (layout from RFC 4656 section 3.5).
 *
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |    Accept     |  MBZ          |            Port               |   0
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                        SID (16 octets)                        |   4
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                        MBZ (12 octets)                        |  20
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                       HMAC (16 octets)                        |  32
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * Port: the UDP port where the Session-Reflector receives test packets. The client MUST send
 * to it. With a non-zero Accept a server may put an alternate port here for the client to
 * request again (RFC 5357 section 3.5); otherwise Port is 0.
 */
import { ACCEPT_SESSION_LENGTH, readBytes, requireMessage, target, writeBytes } from './common.js';

export const AS_ACCEPT_OFFSET = 0;
export const AS_PORT_OFFSET = 2;
export const AS_SID_OFFSET = 4;
export const AS_HMAC_OFFSET = 32;

/** An Accept-Session. */
export interface AcceptSession {
  accept: number;
  port: number;
  /** 16-octet session identifier chosen by the server. */
  sid: Buffer;
  hmac: Buffer;
}

/** Length of an Accept-Session on the wire. */
export function acceptSessionLength(): number {
  return ACCEPT_SESSION_LENGTH;
}

/** Encodes an Accept-Session into `buf` at `offset`, or a new buffer. */
export function encodeAcceptSession(m: AcceptSession, buf?: Buffer, offset = 0): Buffer {
  const out = target(ACCEPT_SESSION_LENGTH, buf, offset, 'Accept-Session');
  out.writeUInt8(m.accept & 0xff, offset + AS_ACCEPT_OFFSET);
  out.writeUInt16BE(m.port & 0xffff, offset + AS_PORT_OFFSET);
  writeBytes(out, offset + AS_SID_OFFSET, 16, m.sid, 'SID');
  writeBytes(out, offset + AS_HMAC_OFFSET, 16, m.hmac, 'HMAC');
  return out;
}

/** Decodes an Accept-Session at `offset`. */
export function decodeAcceptSession(buf: Buffer, offset = 0): AcceptSession {
  requireMessage(buf, offset, ACCEPT_SESSION_LENGTH, 'Accept-Session');
  return {
    accept: buf.readUInt8(offset + AS_ACCEPT_OFFSET),
    port: buf.readUInt16BE(offset + AS_PORT_OFFSET),
    sid: readBytes(buf, offset + AS_SID_OFFSET, 16),
    hmac: readBytes(buf, offset + AS_HMAC_OFFSET, 16),
  };
}
