import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  decodeReflectorPacket, decodeSenderPacket, encodeReflectorPacket, encodeSenderPacket,
  reflectorPacketLength, senderPacketLength, REFLECTOR_HEADER_LENGTH, SENDER_HEADER_LENGTH, SYMMETRIC_PADDING,
  type ReflectorPacket, type SenderPacket,
} from '../../src/protocol/test-packet.js';
import { DecodeError } from '../../src/protocol/errors.js';
import { roundTrip } from '../helpers/roundtrip.js';

const T0 = 1_704_067_200_000_000_000n; // 2024-01-01T00:00:00Z = NTP 0xe93c7f00
const senderCodec = { encode: encodeSenderPacket, decode: decodeSenderPacket, length: senderPacketLength };
const reflectorCodec = { encode: encodeReflectorPacket, decode: decodeReflectorPacket, length: reflectorPacketLength };

// RFC 5357 section 4.1.2: Sequence Number, Timestamp, Error Estimate, Packet Padding.
const SENDER_HEX = '00000001' + 'e93c7f00' + '80000000' + '0001' + '00'.repeat(27);
// RFC 5357 section 4.2.1: Seq, T3, ErrEst, MBZ, T2, Sender Seq, T1, Sender ErrEst, MBZ, Sender TTL.
const REFLECTOR_HEX =
  '00000007' + 'e93c7f00' + 'c0000000' + '0001' + '0000' + 'e93c7f00' + 'a0000000' +
  '00000001' + 'e93c7f00' + '80000000' + '0001' + '0000' + '40';

const SENDER: SenderPacket = { seq: 1, timestampNs: T0 + 500_000_000n, errorEstimate: 1, paddingLength: 27 };
const REFLECTOR: ReflectorPacket = {
  seq: 7, timestampNs: T0 + 750_000_000n, errorEstimate: 1, ssid: 0, receiveTimestampNs: T0 + 625_000_000n,
  senderSeq: 1, senderTimestampNs: T0 + 500_000_000n, senderErrorEstimate: 1, senderTtl: 64, paddingLength: 0,
};

test('sender packet: 14 octets + padding, hex vector both ways', () => {
  assert.equal(SENDER_HEADER_LENGTH, 14);
  assert.equal(SYMMETRIC_PADDING, 27);
  assert.equal(encodeSenderPacket(SENDER).toString('hex'), SENDER_HEX);
  assert.deepEqual(decodeSenderPacket(Buffer.from(SENDER_HEX, 'hex')), SENDER);
});

test('reflector packet: 41 octets with MBZ and Sender TTL, hex vector both ways', () => {
  assert.equal(REFLECTOR_HEADER_LENGTH, 41);
  assert.equal(encodeReflectorPacket(REFLECTOR).toString('hex'), REFLECTOR_HEX);
  assert.deepEqual(decodeReflectorPacket(Buffer.from(REFLECTOR_HEX, 'hex')), REFLECTOR);
});

test('round trips at an offset inside a larger buffer', () => {
  roundTrip(SENDER, senderCodec);
  roundTrip({ ...SENDER, paddingLength: 0 }, senderCodec);
  roundTrip(REFLECTOR, reflectorCodec);
  fc.assert(
    fc.property(fc.nat(0xffffffff), fc.bigInt(0n, 3_000_000_000_000_000_000n), fc.integer({ min: 0, max: 0x3fff }), fc.nat(1500), (seq, ts, ee, pad) => {
      roundTrip({ seq, timestampNs: ts, errorEstimate: ee, paddingLength: pad }, senderCodec);
    }),
    { numRuns: 300 },
  );
});

test('every truncation length is a typed ERR_TRUNCATED with an offset', () => {
  const s = Buffer.from(SENDER_HEX, 'hex');
  for (let len = 0; len < SENDER_HEADER_LENGTH; len++) {
    assert.throws(() => decodeSenderPacket(s.subarray(0, len)), (e: unknown) => e instanceof DecodeError && e.code === 'ERR_TRUNCATED' && typeof e.offset === 'number');
  }
  const r = Buffer.from(REFLECTOR_HEX, 'hex');
  for (let len = 0; len < REFLECTOR_HEADER_LENGTH; len++) {
    assert.throws(() => decodeReflectorPacket(r.subarray(0, len)), (e: unknown) => e instanceof DecodeError && e.code === 'ERR_TRUNCATED');
  }
  // A length that runs past the buffer is refused too.
  assert.throws(() => decodeReflectorPacket(r, 0, r.length + 1), DecodeError);
});

test('MBZ fields in a received reflector packet are ignored, not fatal', () => {
  const r = Buffer.from(REFLECTOR_HEX, 'hex');
  r[38] = 0xff;
  assert.equal(decodeReflectorPacket(r).senderTtl, 64);
});

test('Z bit selects PTP timestamps for the fields it covers', () => {
  const ptpEe = 0x4001;
  const p = { ...SENDER, errorEstimate: ptpEe };
  const buf = encodeSenderPacket(p);
  assert.equal(buf.readUInt32BE(4), 1_704_067_200); // Unix seconds, not NTP
  assert.equal(buf.readUInt32BE(8), 500_000_000); // nanoseconds
  assert.deepEqual(decodeSenderPacket(buf), p);
});
