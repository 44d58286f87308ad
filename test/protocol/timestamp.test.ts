import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { nsToNtp, ntpToNs, readNtp, writeNtp, readPtp, writePtp, NTP_UNIX_OFFSET_S } from '../../src/protocol/timestamp.js';

test('Unix epoch is NTP second 0x83AA7E80 with zero fraction', () => {
  assert.deepEqual(nsToNtp(0n), { seconds: 0x83aa7e80, fraction: 0 });
  assert.equal(NTP_UNIX_OFFSET_S, 2_208_988_800n);
});

test('half a second is fraction 0x80000000 (2^31), not 500000000', () => {
  const ns = 1_704_067_200_500_000_000n; // 2024-01-01T00:00:00.5Z
  const buf = Buffer.alloc(8);
  writeNtp(buf, 0, ns);
  assert.equal(buf.toString('hex'), 'e93c7f00' + '80000000');
  assert.equal(readNtp(buf, 0), ns);
});

test('one nanosecond is fraction 4 (2^32/1e9 = 4.29, rounded)', () => {
  assert.equal(nsToNtp(1n).fraction, 4);
  assert.equal(nsToNtp(999_999_999n).fraction, 0xfffffffc); // 2^32 * 0.999999999 = 4294967291.7 -> ...
});

test('fraction rounding never overflows into 2^32', () => {
  // 999_999_999.9 ns is not representable; the largest ns value keeps the fraction below 2^32.
  const r = nsToNtp(1_999_999_999n);
  assert.ok(r.fraction < 2 ** 32);
});

test('ns -> NTP -> ns is exact (fraction unit 0.23 ns < 0.5 ns)', () => {
  fc.assert(
    fc.property(fc.bigInt(0n, 4_000_000_000n * 1_000_000_000n), (ns) => {
      const buf = Buffer.alloc(8);
      writeNtp(buf, 0, ns);
      return readNtp(buf, 0) === ns;
    }),
    { numRuns: 5000 },
  );
});

test('NTP era 1 (after 2036-02-07) reads back as the right date', () => {
  const ns = BigInt(Date.UTC(2040, 0, 1)) * 1_000_000n;
  const buf = Buffer.alloc(8);
  writeNtp(buf, 0, ns);
  assert.ok(buf.readUInt32BE(0) < 0x8000_0000, 'seconds wrapped');
  assert.equal(readNtp(buf, 0), ns);
  assert.equal(ntpToNs(0xe93c7f00, 0), 1_704_067_200n * 1_000_000_000n);
});

test('PTP truncated format is seconds since 1970 and nanoseconds', () => {
  const buf = Buffer.alloc(8);
  writePtp(buf, 0, 1_704_067_200_123_456_789n);
  assert.equal(buf.toString('hex'), '65920080' + '075bcd15');
  assert.equal(readPtp(buf, 0), 1_704_067_200_123_456_789n);
});

test('the fast writeNtp agrees with the exact BigInt conversion bit for bit', () => {
  fc.assert(
    fc.property(fc.bigInt(0n, 4_000_000_000n * 1_000_000_000n), (ns) => {
      const buf = Buffer.alloc(8);
      writeNtp(buf, 0, ns);
      const exact = nsToNtp(ns);
      return buf.readUInt32BE(0) === exact.seconds && buf.readUInt32BE(4) === exact.fraction;
    }),
    { numRuns: 20_000 },
  );
  // A thousand points spread over the second, at two epochs.
  const buf = Buffer.alloc(8);
  for (const base of [0n, 1_704_067_200_000_000_000n]) {
    for (let r = 0n; r < 1_000_000_000n; r += 999_983n) {
      writeNtp(buf, 0, base + r);
      assert.equal(buf.readUInt32BE(4), nsToNtp(base + r).fraction);
    }
  }
});

test('ntpToNs agrees with the exact BigInt formula for any seconds and fraction', () => {
  const exact = (sec: number, frac: number) => {
    let s = BigInt(sec);
    if (s < 0x8000_0000n) s += 1n << 32n;
    return (s - 2_208_988_800n) * 1_000_000_000n + (BigInt(frac) * 1_000_000_000n + (1n << 31n)) / (1n << 32n);
  };
  fc.assert(fc.property(fc.nat(0xffffffff), fc.nat(0xffffffff), (sec, frac) => ntpToNs(sec, frac) === exact(sec, frac)), { numRuns: 20_000 });
  for (const frac of [0, 1, 2, 3, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff]) assert.equal(ntpToNs(0xe93c7f00, frac), exact(0xe93c7f00, frac));
});

test('writeNtp near now (the fast path) and across re-basing matches the exact conversion', () => {
  const now = BigInt(Date.now()) * 1_000_000n;
  const day = 86_400n * 1_000_000_000n;
  fc.assert(
    fc.property(fc.bigInt(-200n * day, 200n * day), (off) => {
      const ns = now + off;
      const buf = Buffer.alloc(8);
      writeNtp(buf, 0, ns);
      const exact = nsToNtp(ns);
      return buf.readUInt32BE(0) === exact.seconds && buf.readUInt32BE(4) === exact.fraction;
    }),
    { numRuns: 20_000 },
  );
  // Far future then back to now: the base moves, results stay exact.
  const buf = Buffer.alloc(8);
  for (const ns of [now + 60n * day, now + 61n * day + 123_456_789n, now, now - 1n]) {
    writeNtp(buf, 0, ns);
    assert.deepEqual({ seconds: buf.readUInt32BE(0), fraction: buf.readUInt32BE(4) }, nsToNtp(ns));
  }
});

test('writeNtp refuses an offset outside the buffer instead of writing part of a timestamp', () => {
  const ns = 1_704_067_200_123_456_789n;
  assert.throws(() => writeNtp(Buffer.alloc(7), 0, ns), /writeNtp: offset 0 outside a 7-octet buffer/);
  assert.throws(() => writeNtp(Buffer.alloc(16), 9, ns), RangeError);
  assert.throws(() => writeNtp(Buffer.alloc(16), -1, ns), RangeError);
  const b = Buffer.alloc(16, 0xee);
  writeNtp(b, 8, ns);
  assert.equal(b.readUInt32BE(8), nsToNtp(ns).seconds);
  assert.equal(b.readUInt32BE(12), nsToNtp(ns).fraction);
  assert.ok(b.subarray(0, 8).every((x) => x === 0xee));
});
