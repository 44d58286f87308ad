import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeStampSenderPacket, encodeStampSenderPacket, looksLikeStamp, stampSenderPacketLength, STAMP_BASE_LENGTH } from '../../src/protocol/stamp.js';
import { DecodeError } from '../../src/protocol/errors.js';
import { roundTrip } from '../helpers/roundtrip.js';

const T0 = 1_704_067_200_000_000_000n;
const codec = { encode: encodeStampSenderPacket, decode: decodeStampSenderPacket, length: stampSenderPacketLength };

test('STAMP sender packet: 44 octets, SSID at 14, MBZ(28) (RFC 8762 4.2.1, RFC 8972)', () => {
  const p = { seq: 2, timestampNs: T0, errorEstimate: 0x0001, ssid: 0xabcd, extraLength: 0 };
  const hex = '00000002' + 'e93c7f00' + '00000000' + '0001' + 'abcd' + '00'.repeat(28);
  assert.equal(STAMP_BASE_LENGTH, 44);
  assert.equal(encodeStampSenderPacket(p).toString('hex'), hex);
  assert.deepEqual(decodeStampSenderPacket(Buffer.from(hex, 'hex')), p);
  roundTrip(p, codec);
  roundTrip({ ...p, extraLength: 20 }, codec);
});

test('STAMP truncations are typed errors', () => {
  const b = encodeStampSenderPacket({ seq: 1, timestampNs: T0, errorEstimate: 1, ssid: 1, extraLength: 0 });
  for (let len = 0; len < 44; len++) assert.throws(() => decodeStampSenderPacket(b.subarray(0, len)), DecodeError);
});

test('STAMP detection: 44+ octets with zero MBZ; TWAMP-Light 41-octet requests are not STAMP', () => {
  const b = encodeStampSenderPacket({ seq: 1, timestampNs: T0, errorEstimate: 1, ssid: 7, extraLength: 0 });
  assert.equal(looksLikeStamp(b, b.length), true);
  assert.equal(looksLikeStamp(b, 41), false);
  const noisy = Buffer.from(b);
  noisy[30] = 1;
  assert.equal(looksLikeStamp(noisy, noisy.length), false);
});
