import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  AUTH_DSCP_ECN_OFFSET, DSCP_ECN_OFFSET, DSCP_ECN_REFLECTOR_LENGTH, decodeDscpEcn, dscpEcnLength, dscpEcnOctet,
  encodeDscpEcn, readDscpEcnOctet, splitDscpEcn, type DscpEcn,
} from '../../src/protocol/dscp-ecn.js';
import { AUTH_SENDER_TTL_OFFSET, AUTH_REFLECTOR_HMAC_OFFSET } from '../../src/protocol/test-auth.js';
import { SENDER_TTL_OFFSET, encodeReflectorPacket } from '../../src/protocol/test-packet.js';
import { DecodeError } from '../../src/protocol/errors.js';
import { roundTrip } from '../helpers/roundtrip.js';

const codec = { encode: encodeDscpEcn, decode: (b: Buffer, o?: number) => decodeDscpEcn(b, o), length: dscpEcnLength };

test('RFC 7750 octet sits right after Sender TTL in both reflector formats', () => {
  assert.equal(DSCP_ECN_OFFSET, SENDER_TTL_OFFSET + 1);
  assert.equal(DSCP_ECN_OFFSET, 41);
  assert.equal(DSCP_ECN_REFLECTOR_LENGTH, 42);
  assert.equal(AUTH_DSCP_ECN_OFFSET, AUTH_SENDER_TTL_OFFSET + 1);
  assert.ok(AUTH_DSCP_ECN_OFFSET < AUTH_REFLECTOR_HMAC_OFFSET, 'inside the MBZ before the HMAC');
});

test('hex vectors: DSCP in the upper six bits, ECN in the lower two', () => {
  const vectors: [DscpEcn, string][] = [
    [{ dscp: 46, ecn: 0 }, 'b8'], // EF, Not-ECT
    [{ dscp: 46, ecn: 3 }, 'bb'], // EF, CE
    [{ dscp: 0, ecn: 2 }, '02'], // best effort, ECT(0)
    [{ dscp: 34, ecn: 1 }, '89'], // AF41, ECT(1)
    [{ dscp: 63, ecn: 3 }, 'ff'],
  ];
  for (const [v, hex] of vectors) {
    assert.equal(encodeDscpEcn(v).toString('hex'), hex);
    assert.deepEqual(decodeDscpEcn(Buffer.from(hex, 'hex')), v);
  }
});

test('a 42-octet reflector packet with the octet, as a hex vector', () => {
  const base = encodeReflectorPacket({
    seq: 1, timestampNs: 0n, errorEstimate: 1, ssid: 0, receiveTimestampNs: 0n, senderSeq: 1,
    senderTimestampNs: 0n, senderErrorEstimate: 1, senderTtl: 254, paddingLength: 1,
  });
  encodeDscpEcn({ dscp: 10, ecn: 2 }, base, DSCP_ECN_OFFSET);
  assert.equal(base.subarray(38).toString('hex'), '0000' + 'fe' + '2a');
  assert.equal(readDscpEcnOctet(base), 0x2a);
  assert.deepEqual(decodeDscpEcn(base, DSCP_ECN_OFFSET), { dscp: 10, ecn: 2 });
});

test('round trips at an offset; octet helpers agree with the codec', () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 63 }), fc.integer({ min: 0, max: 3 }), (dscp, ecn) => {
      roundTrip({ dscp, ecn }, codec);
      assert.deepEqual(splitDscpEcn(dscpEcnOctet({ dscp, ecn })), { dscp, ecn });
    }),
  );
});

test('precise errors: out-of-range values, truncated buffers, a reply too short to carry it', () => {
  assert.throws(() => encodeDscpEcn({ dscp: 64, ecn: 0 }), /DSCP must be 0\.\.63, got 64/);
  assert.throws(() => encodeDscpEcn({ dscp: 0, ecn: 4 }), /ECN must be 0\.\.3, got 4/);
  assert.throws(() => encodeDscpEcn({ dscp: 0, ecn: 0 }, Buffer.alloc(41), DSCP_ECN_OFFSET), RangeError);
  assert.throws(() => decodeDscpEcn(Buffer.alloc(41), DSCP_ECN_OFFSET), (e: unknown) => e instanceof DecodeError && e.code === 'ERR_TRUNCATED');
  assert.equal(readDscpEcnOctet(Buffer.alloc(41)), null, 'a 41-octet reply carries no octet');
  assert.equal(readDscpEcnOctet(Buffer.alloc(60, 7), 41), null, 'length, not the buffer, decides');
  assert.throws(() => readDscpEcnOctet(Buffer.alloc(41), 42), DecodeError);
});
