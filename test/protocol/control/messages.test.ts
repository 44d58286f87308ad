// Byte vectors for every TWAMP-Control message, written by hand from the RFC 4656 / RFC 5357
// field diagrams (not produced by our encoder), checked in both directions, at an offset inside
// a larger buffer, and against every truncation length.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DecodeError } from '../../../src/protocol/errors.js';
import { decodeServerGreeting, encodeServerGreeting, type ServerGreeting } from '../../../src/protocol/control/server-greeting.js';
import {
  decodeSetupResponse,
  encodeSetupResponse,
  keyIdBytes,
  keyIdText,
  type SetupResponse,
} from '../../../src/protocol/control/setup-response.js';
import { decodeServerStart, encodeServerStart, type ServerStart } from '../../../src/protocol/control/server-start.js';
import {
  decodeRequestTwSession,
  dscpOfTypeP,
  encodeRequestTwSession,
  typePForDscp,
  type RequestTwSession,
} from '../../../src/protocol/control/request-tw-session.js';
import { decodeAcceptSession, encodeAcceptSession, type AcceptSession } from '../../../src/protocol/control/accept-session.js';
import { decodeStartSessions, encodeStartSessions } from '../../../src/protocol/control/start-sessions.js';
import { decodeStartAck, encodeStartAck } from '../../../src/protocol/control/start-ack.js';
import { decodeStopSessions, encodeStopSessions } from '../../../src/protocol/control/stop-sessions.js';
import { bytesToIp, ipToBytes, readDuration, writeDuration } from '../../../src/protocol/control/common.js';
import { clientCommandLength } from '../../../src/protocol/control/command.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/[^0-9a-f]/gi, ''), 'hex');
const seq = (start: number, n: number): Buffer => Buffer.from(Array.from({ length: n }, (_, i) => (start + i) & 0xff));

interface Codec<T> {
  encode: (m: T, buf?: Buffer, offset?: number) => Buffer;
  decode: (buf: Buffer, offset?: number) => T;
}

/** Checks wire == encode(value), decode(wire) == value, the same at offset 7, and every truncation. */
function vector<T>(name: string, codec: Codec<T>, value: T, wire: Buffer): void {
  test(`${name}: encodes to the RFC vector`, () => {
    assert.equal(codec.encode(value).toString('hex'), wire.toString('hex'));
  });
  test(`${name}: decodes the RFC vector`, () => {
    assert.deepEqual(codec.decode(wire), value);
  });
  test(`${name}: round-trips at an offset inside a larger buffer`, () => {
    const big = Buffer.alloc(wire.length + 11, 0xee);
    codec.encode(value, big, 7);
    assert.equal(big.subarray(7, 7 + wire.length).toString('hex'), wire.toString('hex'));
    assert.equal(big[6], 0xee);
    assert.equal(big[7 + wire.length], 0xee);
    assert.deepEqual(codec.decode(big, 7), value);
  });
  test(`${name}: every truncation is a DecodeError ERR_TRUNCATED`, () => {
    for (let n = 0; n < wire.length; n++) {
      assert.throws(
        () => codec.decode(wire.subarray(0, n)),
        (e: unknown) => e instanceof DecodeError && e.code === 'ERR_TRUNCATED',
        `length ${n}`,
      );
    }
  });
}

// --- Server-Greeting (RFC 4656 3.1): Unused(12) Modes(4) Challenge(16) Salt(16) Count(4) MBZ(12)
const greeting: ServerGreeting = { modes: 0x0000000f, challenge: seq(0x10, 16), salt: seq(0x20, 16), count: 1024 };
vector('Server-Greeting', { encode: encodeServerGreeting, decode: decodeServerGreeting }, greeting, hex(`
  000000000000000000000000 0000000f
  101112131415161718191a1b1c1d1e1f
  202122232425262728292a2b2c2d2e2f
  00000400 000000000000000000000000`));

// --- Set-Up-Response (RFC 4656 3.1): Mode(4) KeyID(80) Token(64) Client-IV(16)
const setup: SetupResponse = {
  mode: 2,
  keyId: Buffer.concat([Buffer.from('alice'), Buffer.alloc(75)]),
  token: seq(0x40, 64),
  clientIv: seq(0xa0, 16),
};
vector('Set-Up-Response', { encode: encodeSetupResponse, decode: decodeSetupResponse }, setup, hex(`
  00000002 616c696365 ${'00'.repeat(75)}
  404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f
  606162636465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f
  a0a1a2a3a4a5a6a7a8a9aaabacadaeaf`));

test('Set-Up-Response: KeyID text helpers', () => {
  assert.equal(keyIdText(setup.keyId), 'alice');
  assert.equal(keyIdBytes('alice').toString(), 'alice');
  assert.throws(() => keyIdBytes('x'.repeat(81)), RangeError);
});

// --- Server-Start (RFC 4656 3.1): MBZ(15) Accept(1) Server-IV(16) Start-Time(8) MBZ(8)
// Start-Time 2023-11-14T22:13:20Z = Unix 1700000000 = NTP 0xe9fe4e80 (3908988800), fraction 0x80000000 (0.5 s).
const start: ServerStart = { accept: 0, serverIv: seq(0xb0, 16), startTimeNs: 1_700_000_000_500_000_000n };
vector('Server-Start', { encode: encodeServerStart, decode: decodeServerStart }, start, hex(`
  000000000000000000000000000000 00
  b0b1b2b3b4b5b6b7b8b9babbbcbdbebf
  e8fe4e80 80000000 0000000000000000`.replace('e8fe4e80', (3908988800).toString(16))));
vector('Server-Start (refused, zero start time)', { encode: encodeServerStart, decode: decodeServerStart },
  { accept: 1, serverIv: Buffer.alloc(16), startTimeNs: 0n }, hex(`${'00'.repeat(15)}01 ${'00'.repeat(32)}`));

// --- Request-TW-Session (RFC 5357 3.5), IPv4
const reqV4: RequestTwSession = {
  ipvn: 4,
  confSender: 0,
  confReceiver: 0,
  scheduleSlots: 0,
  packets: 0,
  senderPort: 0x9c41, // 40001
  receiverPort: 0x4e21, // 20001
  senderAddress: '192.0.2.1',
  receiverAddress: '198.51.100.7',
  sid: Buffer.alloc(16),
  paddingLength: 27,
  startTimeNs: 0n,
  timeoutNs: 2_500_000_000n, // 2.5 s
  typeP: typePForDscp(46),
  hmac: Buffer.alloc(16),
};
vector('Request-TW-Session (IPv4)', { encode: encodeRequestTwSession, decode: decodeRequestTwSession }, reqV4, hex(`
  05 04 00 00   00000000   00000000   9c41 4e21
  c0000201 000000000000000000000000
  c6336407 000000000000000000000000
  00000000000000000000000000000000
  0000001b  0000000000000000  00000002 80000000  2e000000  0000000000000000
  00000000000000000000000000000000`));

// --- Request-TW-Session, IPv6, zero addresses mean "the control connection's"
const reqV6: RequestTwSession = {
  ...reqV4,
  ipvn: 6,
  senderAddress: '2001:db8::1',
  receiverAddress: null,
  sid: seq(1, 16),
  startTimeNs: 1_700_000_000_500_000_000n,
  timeoutNs: 0n,
  typeP: 0,
  hmac: seq(0xf0, 16),
};
vector('Request-TW-Session (IPv6)', { encode: encodeRequestTwSession, decode: decodeRequestTwSession }, reqV6, hex(`
  05 06 00 00   00000000   00000000   9c41 4e21
  20010db8000000000000000000000001
  00000000000000000000000000000000
  0102030405060708090a0b0c0d0e0f10
  0000001b  e8fe4e80 80000000  0000000000000000  00000000  0000000000000000
  f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff`.replace('e8fe4e80', (3908988800).toString(16))));

test('Request-TW-Session: wrong command and bad IP version are ERR_BAD_VALUE', () => {
  const w = encodeRequestTwSession(reqV4);
  w[0] = 2;
  assert.throws(() => decodeRequestTwSession(w), (e: unknown) => e instanceof DecodeError && e.code === 'ERR_BAD_VALUE' && e.offset === 0);
  w[0] = 5;
  w[1] = 5;
  assert.throws(() => decodeRequestTwSession(w), (e: unknown) => e instanceof DecodeError && e.code === 'ERR_BAD_VALUE' && e.offset === 1);
});

test('Type-P Descriptor: DSCP form only (RFC 4656 3.5)', () => {
  assert.equal(typePForDscp(46), 0x2e000000); // EF
  assert.equal(dscpOfTypeP(0x2e000000), 46);
  assert.equal(dscpOfTypeP(0), 0);
  assert.equal(dscpOfTypeP(0x40000000), null); // 01: PHB ID form, not supported
  assert.equal(dscpOfTypeP(0x2e000001), null);
  assert.throws(() => typePForDscp(64), RangeError);
});

// --- Accept-Session (RFC 5357 3.5): Accept(1) MBZ(1) Port(2) SID(16) MBZ(12) HMAC(16)
const acc: AcceptSession = { accept: 0, port: 862, sid: seq(0x30, 16), hmac: seq(0xc0, 16) };
vector('Accept-Session', { encode: encodeAcceptSession, decode: decodeAcceptSession }, acc, hex(`
  00 00 035e 303132333435363738393a3b3c3d3e3f ${'00'.repeat(12)}
  c0c1c2c3c4c5c6c7c8c9cacbcccdcecf`));

// --- Start-Sessions (RFC 4656 3.7): 2, MBZ(15), HMAC(16)
vector('Start-Sessions', { encode: encodeStartSessions, decode: decodeStartSessions }, { hmac: seq(0xd0, 16) }, hex(`
  02 ${'00'.repeat(15)} d0d1d2d3d4d5d6d7d8d9dadbdcdddedf`));

// --- Start-Ack (RFC 4656 3.7): Accept, MBZ(15), HMAC(16)
vector('Start-Ack', { encode: encodeStartAck, decode: decodeStartAck }, { accept: 5, hmac: Buffer.alloc(16) }, hex(`
  05 ${'00'.repeat(31)}`));

// --- Stop-Sessions (RFC 5357 3.8): 3, Accept, MBZ(2), Number of Sessions(4), MBZ(8), HMAC(16)
vector('Stop-Sessions', { encode: encodeStopSessions, decode: decodeStopSessions }, { accept: 0, numberOfSessions: 3, hmac: Buffer.alloc(16) }, hex(`
  03 00 0000 00000003 0000000000000000 ${'00'.repeat(16)}`));

test('client command lengths', () => {
  assert.equal(clientCommandLength(5), 112);
  assert.equal(clientCommandLength(2), 32);
  assert.equal(clientCommandLength(3), 32);
  assert.equal(clientCommandLength(6), null);
  assert.equal(clientCommandLength(0), null);
});

test('address fields: IPv6 text forms', () => {
  assert.equal(ipToBytes('::').toString('hex'), '00'.repeat(16));
  assert.equal(ipToBytes('::1').toString('hex'), `${'00'.repeat(15)}01`);
  assert.equal(ipToBytes('fe80::1:2').toString('hex'), 'fe800000000000000000000000010002');
  assert.equal(ipToBytes('::ffff:192.0.2.1').toString('hex'), '00000000000000000000ffffc0000201');
  assert.equal(bytesToIp(hex('20010db8000000000000000000000001'), 6), '2001:db8::1');
  assert.equal(bytesToIp(hex('20010db8000100000000000100000001'), 6), '2001:db8:1::1:0:1');
  assert.equal(bytesToIp(hex('00010002000300040005000600070008'), 6), '1:2:3:4:5:6:7:8');
});

test('Timeout duration format: seconds and a 2^-32 fraction, no epoch', () => {
  const b = Buffer.alloc(8);
  writeDuration(b, 0, 900_000_000_000n);
  assert.equal(b.toString('hex'), '0000038400000000');
  writeDuration(b, 0, 250_000_000n);
  assert.equal(b.toString('hex'), '0000000040000000');
  assert.equal(readDuration(b, 0), 250_000_000n);
});
