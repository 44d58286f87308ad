import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildReply, buildReplyInto, replyLength, writeReplyT3 } from '../../src/protocol/reflect.js';
import { decodeReflectorPacket, encodeSenderPacket } from '../../src/protocol/test-packet.js';
import { encodeStampSenderPacket } from '../../src/protocol/stamp.js';

const T1 = 1_704_067_200_000_000_000n;

function request(padding: number, fill?: number): Buffer {
  const b = encodeSenderPacket({ seq: 42, timestampNs: T1, errorEstimate: 0x0001, paddingLength: padding });
  if (fill !== undefined) for (let i = 14; i < b.length; i++) b[i] = (fill + i) & 0xff;
  return b;
}

test('reply size is max(41, request size) (RFC 6038 symmetric size)', () => {
  assert.equal(replyLength(14, 'twamp'), 41);
  assert.equal(replyLength(41, 'twamp'), 41);
  assert.equal(replyLength(1000, 'twamp'), 1000);
  assert.equal(replyLength(44, 'stamp'), 44);
  for (const pad of [0, 3, 27, 100, 1458]) {
    const req = request(pad);
    assert.equal(buildReply(req, req.length, 'twamp', { seq: 0, receiveTimestampNs: T1, errorEstimate: 1, senderTtl: 0 }).length, Math.max(41, 14 + pad));
  }
});

test('reply echoes sender fields verbatim, carries T2, TTL, and reuses the padding truncated by 27', () => {
  const req = request(100, 5);
  const reply = buildReply(req, req.length, 'twamp', { seq: 9, receiveTimestampNs: T1 + 1000n, errorEstimate: 0x0102, senderTtl: 61 });
  writeReplyT3(reply, T1 + 2500n);
  const p = decodeReflectorPacket(reply);
  assert.equal(p.seq, 9);
  assert.equal(p.senderSeq, 42);
  assert.equal(p.senderTimestampNs, T1);
  assert.equal(p.senderErrorEstimate, 0x0001);
  assert.equal(p.receiveTimestampNs, T1 + 1000n);
  assert.equal(p.timestampNs, T1 + 2500n);
  assert.equal(p.errorEstimate, 0x0102);
  assert.equal(p.senderTtl, 61);
  assert.equal(reply.readUInt16BE(14), 0, 'MBZ');
  assert.equal(reply.readUInt16BE(38), 0, 'MBZ');
  assert.deepEqual(reply.subarray(41), req.subarray(14, 14 + reply.length - 41));
});

test('a 14-octet request gets a 41-octet reply with zero padding', () => {
  const req = request(0);
  const reply = buildReply(req, req.length, 'twamp', { seq: 0, receiveTimestampNs: T1, errorEstimate: 1, senderTtl: 0 });
  assert.equal(reply.length, 41);
  assert.equal(reply[40], 0);
});

test('STAMP reply: SSID echoed at 14, MBZ(3) after Sender TTL, 44 octets', () => {
  const req = encodeStampSenderPacket({ seq: 3, timestampNs: T1, errorEstimate: 1, ssid: 0xbeef, extraLength: 0 });
  const reply = buildReply(req, req.length, 'stamp', { seq: 3, receiveTimestampNs: T1, errorEstimate: 1, senderTtl: 255 });
  assert.equal(reply.length, 44);
  assert.equal(reply.readUInt16BE(14), 0xbeef);
  assert.equal(reply[40], 255);
  assert.deepEqual([...reply.subarray(41, 44)], [0, 0, 0]);
});

test('a request length past the buffer is clamped: no stale memory in the reply', () => {
  const req = request(27);
  const reply = buildReply(req, 500, 'twamp', { seq: 0, receiveTimestampNs: T1, errorEstimate: 1, senderTtl: 0 });
  assert.equal(reply.length, 41);
});

test('RFC 7750: a TWAMP reply carries the received DS octet at 41 and is at least 42 octets', () => {
  assert.equal(replyLength(41, 'twamp', true), 42);
  assert.equal(replyLength(100, 'twamp', true), 100);
  assert.equal(replyLength(44, 'stamp', true), 44);
  const req = request(27, 9);
  const reply = buildReply(req, req.length, 'twamp', { seq: 0, receiveTimestampNs: T1, errorEstimate: 1, senderTtl: 63, dscpEcn: 0xb9 });
  assert.equal(reply.length, 42);
  assert.equal(reply[40], 63);
  assert.equal(reply[41], 0xb9);
  const long = request(100, 9);
  const r2 = buildReply(long, long.length, 'twamp', { seq: 0, receiveTimestampNs: T1, errorEstimate: 1, senderTtl: 63, dscpEcn: 0x02 });
  assert.equal(r2.length, 114);
  assert.equal(r2[41], 0x02);
  assert.deepEqual(r2.subarray(42), long.subarray(15, 15 + 72), 'the rest of the padding is still the request\'s');
  const without = buildReply(req, req.length, 'twamp', { seq: 0, receiveTimestampNs: T1, errorEstimate: 1, senderTtl: 63 });
  assert.equal(without.length, 41, 'the mode off leaves the size alone');
});

test('RFC 7750: STAMP replies never carry the octet (their 41..43 stay MBZ)', () => {
  const req = encodeStampSenderPacket({ seq: 1, timestampNs: T1, errorEstimate: 1, ssid: 7, extraLength: 0 });
  const reply = buildReply(req, req.length, 'stamp', { seq: 0, receiveTimestampNs: T1, errorEstimate: 1, senderTtl: 63, dscpEcn: 0xb8 });
  assert.equal(reply.length, 44);
  assert.equal(reply.subarray(41, 44).toString('hex'), '000000');
});

test('buildReplyInto writes every octet of the reply into a reused buffer and refuses one too small', () => {
  const out = Buffer.alloc(200, 0xee);
  const req = request(27, 3);
  const n = buildReplyInto(out, req, req.length, 'twamp', { seq: 5, receiveTimestampNs: T1, errorEstimate: 1, senderTtl: 9 });
  assert.equal(n, 41);
  assert.deepEqual(out.subarray(0, n), buildReply(req, req.length, 'twamp', { seq: 5, receiveTimestampNs: T1, errorEstimate: 1, senderTtl: 9 }));
  assert.equal(out[n], 0xee, 'nothing written past the reply');
  assert.throws(() => buildReplyInto(Buffer.alloc(40), req, req.length, 'twamp', { seq: 0, receiveTimestampNs: T1, errorEstimate: 1, senderTtl: 0 }), /buffer too small for a 41-octet reply/);
});
