/**
 * Server-Greeting, server to client, RFC 4656 section 3.1 (TWAMP: RFC 5357 section 3.1).
 *
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                        Unused (12 octets)                     |   0
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                            Modes                              |  12
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                     Challenge (16 octets)                     |  16
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                        Salt (16 octets)                       |  32
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                        Count (4 octets)                       |  48
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                        MBZ (12 octets)                        |  52
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * Modes = 0 means the server will not talk to this client and closes the connection.
 * Count is the PBKDF2 iteration count (RFC 4656: a power of 2, at least 1024).
 */
import { SERVER_GREETING_LENGTH, readBytes, requireMessage, target, writeBytes } from './common.js';

export const GREETING_MODES_OFFSET = 12;
export const GREETING_CHALLENGE_OFFSET = 16;
export const GREETING_SALT_OFFSET = 32;
export const GREETING_COUNT_OFFSET = 48;

/** A Server-Greeting. */
export interface ServerGreeting {
  /** Bit set of supported modes. */
  modes: number;
  /** 16 random octets the client returns inside its Token. */
  challenge: Buffer;
  /** 16 octets of PBKDF2 salt. */
  salt: Buffer;
  /** PBKDF2 iteration count. */
  count: number;
}

/** Length of a Server-Greeting on the wire. */
export function serverGreetingLength(): number {
  return SERVER_GREETING_LENGTH;
}

/** Encodes a Server-Greeting into `buf` at `offset`, or a new buffer. */
export function encodeServerGreeting(m: ServerGreeting, buf?: Buffer, offset = 0): Buffer {
  const out = target(SERVER_GREETING_LENGTH, buf, offset, 'Server-Greeting');
  out.writeUInt32BE(m.modes >>> 0, offset + GREETING_MODES_OFFSET);
  writeBytes(out, offset + GREETING_CHALLENGE_OFFSET, 16, m.challenge, 'Challenge');
  writeBytes(out, offset + GREETING_SALT_OFFSET, 16, m.salt, 'Salt');
  out.writeUInt32BE(m.count >>> 0, offset + GREETING_COUNT_OFFSET);
  return out;
}

/** Decodes a Server-Greeting at `offset`. Unused and MBZ octets are ignored. */
export function decodeServerGreeting(buf: Buffer, offset = 0): ServerGreeting {
  requireMessage(buf, offset, SERVER_GREETING_LENGTH, 'Server-Greeting');
  return {
    modes: buf.readUInt32BE(offset + GREETING_MODES_OFFSET),
    challenge: readBytes(buf, offset + GREETING_CHALLENGE_OFFSET, 16),
    salt: readBytes(buf, offset + GREETING_SALT_OFFSET, 16),
    count: buf.readUInt32BE(offset + GREETING_COUNT_OFFSET),
  };
}
