/**
 * Typed decode errors shared by every codec. `code` is stable (tests and metrics key on it);
 * `offset` is the byte offset in the buffer where decoding failed.
 */

/** Stable decode error codes. */
export type DecodeErrorCode =
  | 'ERR_TRUNCATED' // fewer bytes than the fixed part of the message
  | 'ERR_TOO_LONG' // more bytes than we accept
  | 'ERR_BAD_VALUE' // a field holds a value the RFC forbids
  | 'ERR_MBZ'; // a must-be-zero field is not zero where that matters

/** A datagram or message that cannot be decoded. */
export class DecodeError extends Error {
  constructor(
    readonly code: DecodeErrorCode,
    readonly offset: number,
    message: string,
  ) {
    super(`${message} (${code} at offset ${offset})`);
    this.name = 'DecodeError';
  }
}

/** Throws ERR_TRUNCATED unless `buf` holds `need` bytes from `offset`. */
export function requireBytes(buf: Uint8Array, offset: number, need: number, what: string): void {
  if (offset < 0 || buf.length - offset < need) {
    throw new DecodeError(
      'ERR_TRUNCATED',
      Math.max(0, buf.length),
      `${what} needs ${need} bytes, got ${Math.max(0, buf.length - offset)}`,
    );
  }
}
