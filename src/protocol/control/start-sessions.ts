/**
 * Start-Sessions, client to server, RFC 5357 section 3.7 (layout from RFC 4656 section 3.7).
 *
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |      2        |                                               |   0
 * +-+-+-+-+-+-+-+-+                                               +
 * |                        MBZ (15 octets)                        |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                       HMAC (16 octets)                        |  16
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 */
import { Command, START_SESSIONS_LENGTH, badValue, readBytes, requireMessage, target, writeBytes } from './common.js';

export const SS_COMMAND_OFFSET = 0;
export const SS_HMAC_OFFSET = 16;

/** A Start-Sessions. */
export interface StartSessions {
  hmac: Buffer;
}

/** Length of a Start-Sessions on the wire. */
export function startSessionsLength(): number {
  return START_SESSIONS_LENGTH;
}

/** Encodes a Start-Sessions into `buf` at `offset`, or a new buffer. */
export function encodeStartSessions(m: StartSessions, buf?: Buffer, offset = 0): Buffer {
  const out = target(START_SESSIONS_LENGTH, buf, offset, 'Start-Sessions');
  out.writeUInt8(Command.START_SESSIONS, offset + SS_COMMAND_OFFSET);
  writeBytes(out, offset + SS_HMAC_OFFSET, 16, m.hmac, 'HMAC');
  return out;
}

/** Decodes a Start-Sessions at `offset`; rejects a wrong command number. */
export function decodeStartSessions(buf: Buffer, offset = 0): StartSessions {
  requireMessage(buf, offset, START_SESSIONS_LENGTH, 'Start-Sessions');
  const command = buf.readUInt8(offset + SS_COMMAND_OFFSET);
  if (command !== Command.START_SESSIONS) badValue(offset, `command ${command} is not Start-Sessions`);
  return { hmac: readBytes(buf, offset + SS_HMAC_OFFSET, 16) };
}
