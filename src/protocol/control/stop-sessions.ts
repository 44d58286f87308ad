/**
 * Stop-Sessions, RFC 5357 section 3.8 (TWAMP's form: no session descriptions follow).
 *
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |      3        |    Accept     |              MBZ              |   0
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                      Number of Sessions                       |   4
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                        MBZ (8 octets)                         |   8
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                       HMAC (16 octets)                        |  16
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * Number of Sessions carries the real count of sessions in progress on this connection (a
 * known bug elsewhere is to send 0).
 */
import { Command, STOP_SESSIONS_LENGTH, badValue, readBytes, requireMessage, target, writeBytes } from './common.js';

export const STOP_COMMAND_OFFSET = 0;
export const STOP_ACCEPT_OFFSET = 1;
export const STOP_COUNT_OFFSET = 4;
export const STOP_HMAC_OFFSET = 16;

/** A Stop-Sessions. */
export interface StopSessions {
  accept: number;
  numberOfSessions: number;
  hmac: Buffer;
}

/** Length of a Stop-Sessions on the wire. */
export function stopSessionsLength(): number {
  return STOP_SESSIONS_LENGTH;
}

/** Encodes a Stop-Sessions into `buf` at `offset`, or a new buffer. */
export function encodeStopSessions(m: StopSessions, buf?: Buffer, offset = 0): Buffer {
  const out = target(STOP_SESSIONS_LENGTH, buf, offset, 'Stop-Sessions');
  out.writeUInt8(Command.STOP_SESSIONS, offset + STOP_COMMAND_OFFSET);
  out.writeUInt8(m.accept & 0xff, offset + STOP_ACCEPT_OFFSET);
  out.writeUInt32BE(m.numberOfSessions >>> 0, offset + STOP_COUNT_OFFSET);
  writeBytes(out, offset + STOP_HMAC_OFFSET, 16, m.hmac, 'HMAC');
  return out;
}

/** Decodes a Stop-Sessions at `offset`; rejects a wrong command number. */
export function decodeStopSessions(buf: Buffer, offset = 0): StopSessions {
  requireMessage(buf, offset, STOP_SESSIONS_LENGTH, 'Stop-Sessions');
  const command = buf.readUInt8(offset + STOP_COMMAND_OFFSET);
  if (command !== Command.STOP_SESSIONS) badValue(offset, `command ${command} is not Stop-Sessions`);
  return {
    accept: buf.readUInt8(offset + STOP_ACCEPT_OFFSET),
    numberOfSessions: buf.readUInt32BE(offset + STOP_COUNT_OFFSET),
    hmac: readBytes(buf, offset + STOP_HMAC_OFFSET, 16),
  };
}
