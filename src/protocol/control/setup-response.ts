/**
 * Set-Up-Response, client to server, RFC 4656 section 3.1 (TWAMP: RFC 5357 section 3.1).
 *
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                             Mode                              |   0
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                       KeyID (80 octets)                       |   4
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                       Token (64 octets)                       |  84
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                     Client-IV (16 octets)                     | 148
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * KeyID is a UTF-8 string padded with zero octets. Token is
 * AES-CBC(IV=0, key=PBKDF2(secret, salt, count))(Challenge | AES Session-key | HMAC Session-key).
 * In unauthenticated mode KeyID, Token and Client-IV are unused (zero).
 */
import { SETUP_RESPONSE_LENGTH, readBytes, requireMessage, target, writeBytes } from './common.js';

export const SETUP_MODE_OFFSET = 0;
export const SETUP_KEYID_OFFSET = 4;
export const SETUP_KEYID_LENGTH = 80;
export const SETUP_TOKEN_OFFSET = 84;
export const SETUP_TOKEN_LENGTH = 64;
export const SETUP_CLIENT_IV_OFFSET = 148;

/** A Set-Up-Response. */
export interface SetupResponse {
  /** The one mode the client chose (0: the client gives up). */
  mode: number;
  /** KeyID as raw bytes (up to 80, zero padded on the wire). */
  keyId: Buffer;
  /** The encrypted 64-octet token. */
  token: Buffer;
  /** 16 octets: the IV of the client-to-server CBC stream. */
  clientIv: Buffer;
}

/** Length of a Set-Up-Response on the wire. */
export function setupResponseLength(): number {
  return SETUP_RESPONSE_LENGTH;
}

/** Encodes a Set-Up-Response into `buf` at `offset`, or a new buffer. */
export function encodeSetupResponse(m: SetupResponse, buf?: Buffer, offset = 0): Buffer {
  const out = target(SETUP_RESPONSE_LENGTH, buf, offset, 'Set-Up-Response');
  out.writeUInt32BE(m.mode >>> 0, offset + SETUP_MODE_OFFSET);
  writeBytes(out, offset + SETUP_KEYID_OFFSET, SETUP_KEYID_LENGTH, m.keyId, 'KeyID');
  writeBytes(out, offset + SETUP_TOKEN_OFFSET, SETUP_TOKEN_LENGTH, m.token, 'Token');
  writeBytes(out, offset + SETUP_CLIENT_IV_OFFSET, 16, m.clientIv, 'Client-IV');
  return out;
}

/** Decodes a Set-Up-Response at `offset`. */
export function decodeSetupResponse(buf: Buffer, offset = 0): SetupResponse {
  requireMessage(buf, offset, SETUP_RESPONSE_LENGTH, 'Set-Up-Response');
  return {
    mode: buf.readUInt32BE(offset + SETUP_MODE_OFFSET),
    keyId: readBytes(buf, offset + SETUP_KEYID_OFFSET, SETUP_KEYID_LENGTH),
    token: readBytes(buf, offset + SETUP_TOKEN_OFFSET, SETUP_TOKEN_LENGTH),
    clientIv: readBytes(buf, offset + SETUP_CLIENT_IV_OFFSET, 16),
  };
}

/** KeyID text from its zero-padded field (up to the first zero octet). */
export function keyIdText(keyId: Buffer): string {
  const end = keyId.indexOf(0);
  return keyId.subarray(0, end < 0 ? keyId.length : end).toString('utf8');
}

/** KeyID field bytes from text; throws when the UTF-8 form exceeds 80 octets. */
export function keyIdBytes(text: string): Buffer {
  const b = Buffer.from(text, 'utf8');
  if (b.length > SETUP_KEYID_LENGTH) throw new RangeError(`KeyID is ${b.length} bytes, at most 80 allowed`);
  return b;
}
