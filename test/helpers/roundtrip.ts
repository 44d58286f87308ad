/**
 * Round-trip helper for codecs: encodes at offset 0 and inside a larger buffer at an odd offset,
 * decodes both, and checks that the value survives and that the bytes around the packet are untouched.
 */
import assert from 'node:assert/strict';

/** Checks encode/decode/length agree, at offset 0 and at an offset inside a larger buffer. */
export function roundTrip<T>(
  value: T,
  codec: { encode: (v: T, buf?: Buffer, off?: number) => Buffer; decode: (buf: Buffer, off?: number, len?: number) => T; length: (v: T) => number },
): Buffer {
  const plain = codec.encode(value);
  assert.equal(plain.length, codec.length(value), 'encode length matches length()');
  assert.deepEqual(codec.decode(plain), value);
  const off = 7;
  const big = Buffer.alloc(off + plain.length + 5, 0xee);
  codec.encode(value, big, off);
  assert.deepEqual(big.subarray(off, off + plain.length), plain, 'same bytes at an offset');
  assert.ok(big.subarray(0, off).every((b) => b === 0xee), 'bytes before untouched');
  assert.ok(big.subarray(off + plain.length).every((b) => b === 0xee), 'bytes after untouched');
  assert.deepEqual(codec.decode(big, off, plain.length), value);
  return plain;
}
