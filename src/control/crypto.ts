/**
 * TWAMP crypto, RFC 4656 sections 3.1, 3.2 and 4.1.2 as TWAMP uses them (RFC 5357 sections 3.1,
 * 4.1.2 and 4.2.1). Everything here is AES-128 and HMAC-SHA1 from node:crypto.
 *
 * - Token key: PBKDF2-HMAC-SHA1(shared secret, Salt, Count), 16 octets.
 * - Token: AES-CBC, IV = 0, over Challenge(16) | AES Session-key(16) | HMAC Session-key(32).
 * - Control stream: each direction is one AES-CBC stream keyed by the AES Session-key, with
 *   Client-IV (client to server) or Server-IV (server to client); every message's HMAC is
 *   HMAC-SHA1(HMAC Session-key) over the plaintext blocks before its HMAC field, truncated to
 *   16 octets. The server's first HMAC also covers the last block of Server-Start.
 * - Test session keys (one pair per SID): AES key = AES-ECB(key = SID)(AES Session-key); HMAC
 *   key = AES-CBC(key = SID, IV = 0)(HMAC Session-key). This is the derivation of RFC 4656
 *   section 4.1 that perfSONAR's twampd and twping use as well.
 */
import { createCipheriv, createDecipheriv, createHmac, pbkdf2Sync, timingSafeEqual, type Cipher, type Decipher } from 'node:crypto';

const ZERO_IV = Buffer.alloc(16);

/** Derives the 16-octet key that encrypts the Token from the shared secret. */
export function deriveTokenKey(secret: Uint8Array, salt: Uint8Array, count: number): Buffer {
  return pbkdf2Sync(secret, salt, count, 16, 'sha1');
}

/** The three secrets a Token carries. */
export interface TokenContents {
  challenge: Buffer;
  /** 16 octets. */
  aesKey: Buffer;
  /** 32 octets. */
  hmacKey: Buffer;
}

/** AES-128-CBC without padding over whole blocks. */
export function aesCbcEncrypt(key: Uint8Array, iv: Uint8Array, data: Uint8Array): Buffer {
  const c = createCipheriv('aes-128-cbc', key, iv);
  c.setAutoPadding(false);
  return Buffer.concat([c.update(data), c.final()]);
}

/** AES-128-CBC decryption without padding over whole blocks. */
export function aesCbcDecrypt(key: Uint8Array, iv: Uint8Array, data: Uint8Array): Buffer {
  const d = createDecipheriv('aes-128-cbc', key, iv);
  d.setAutoPadding(false);
  return Buffer.concat([d.update(data), d.final()]);
}

/** AES-128-ECB over whole blocks. */
export function aesEcbEncrypt(key: Uint8Array, data: Uint8Array): Buffer {
  const c = createCipheriv('aes-128-ecb', key, null);
  c.setAutoPadding(false);
  return Buffer.concat([c.update(data), c.final()]);
}

/** Builds the encrypted 64-octet Token of Set-Up-Response. */
export function encryptToken(t: TokenContents, tokenKey: Uint8Array): Buffer {
  if (t.challenge.length !== 16 || t.aesKey.length !== 16 || t.hmacKey.length !== 32) {
    throw new RangeError('token parts must be 16, 16 and 32 octets');
  }
  return aesCbcEncrypt(tokenKey, ZERO_IV, Buffer.concat([t.challenge, t.aesKey, t.hmacKey]));
}

/** Opens a 64-octet Token with the key derived from the shared secret. */
export function decryptToken(token: Uint8Array, tokenKey: Uint8Array): TokenContents {
  if (token.length !== 64) throw new RangeError('token must be 64 octets');
  const p = aesCbcDecrypt(tokenKey, ZERO_IV, token);
  return { challenge: p.subarray(0, 16), aesKey: p.subarray(16, 32), hmacKey: p.subarray(32, 64) };
}

/** HMAC-SHA1 over the concatenation of `parts`, truncated to 16 octets (RFC 4656 section 3.2). */
export function hmac16(key: Uint8Array, ...parts: Uint8Array[]): Buffer {
  const h = createHmac('sha1', key);
  for (const p of parts) h.update(p);
  return h.digest().subarray(0, 16);
}

/** Constant-time comparison of two 16-octet HMACs. */
export function hmacEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Per-test-session keys derived from the control session keys and the SID. */
export interface TestKeys {
  aesKey: Buffer;
  hmacKey: Buffer;
}

/** Derives the TWAMP-Test AES and HMAC keys of session `sid`. */
export function deriveTestKeys(sid: Uint8Array, aesSessionKey: Uint8Array, hmacSessionKey: Uint8Array): TestKeys {
  return {
    aesKey: aesEcbEncrypt(sid, aesSessionKey),
    hmacKey: aesCbcEncrypt(sid, ZERO_IV, hmacSessionKey),
  };
}

/**
 * One direction of the control connection: an AES-CBC stream that continues across messages,
 * plus the pending HMAC prefix (the Server-Start block). Encrypting and decrypting may be done
 * block by block; the chaining state carries over.
 */
export class CbcStream {
  private readonly enc: Cipher | null;
  private readonly dec: Decipher | null;

  constructor(key: Uint8Array, iv: Uint8Array, direction: 'encrypt' | 'decrypt') {
    if (direction === 'encrypt') {
      this.enc = createCipheriv('aes-128-cbc', key, iv);
      this.enc.setAutoPadding(false);
      this.dec = null;
    } else {
      this.dec = createDecipheriv('aes-128-cbc', key, iv);
      this.dec.setAutoPadding(false);
      this.enc = null;
    }
  }

  /** Encrypts (or decrypts) whole blocks, continuing the chain. */
  update(data: Uint8Array): Buffer {
    if (data.length % 16 !== 0) throw new RangeError('CBC stream works on whole 16-octet blocks');
    const out = (this.enc ?? this.dec)!.update(data);
    if (out.length !== data.length) throw new Error('CBC stream held back data');
    return out;
  }
}

/** Random bytes from the CSPRNG. */
export { randomBytes } from 'node:crypto';
