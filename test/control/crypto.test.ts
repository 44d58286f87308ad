// Crypto building blocks against published vectors, and the TWAMP constructions built on them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  CbcStream,
  aesCbcEncrypt,
  aesEcbEncrypt,
  decryptToken,
  deriveTestKeys,
  deriveTokenKey,
  encryptToken,
  hmac16,
} from '../../src/control/crypto.js';
import {
  AUTH_REFLECTOR_HEADER_LENGTH,
  AUTH_SENDER_HEADER_LENGTH,
  decodeAuthReflectorPacket,
  decodeAuthSenderPacket,
  encodeAuthReflectorPacket,
  encodeAuthSenderPacket,
  openTestPacket,
  sealTestPacket,
} from '../../src/protocol/test-auth.js';
import { DecodeError } from '../../src/protocol/errors.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s/g, ''), 'hex');

test('PBKDF2-HMAC-SHA1 (RFC 6070 vectors, first 16 octets)', () => {
  assert.equal(deriveTokenKey(Buffer.from('password'), Buffer.from('salt'), 1).toString('hex'), '0c60c80f961f0e71f3a9b524af601206');
  assert.equal(deriveTokenKey(Buffer.from('password'), Buffer.from('salt'), 4096).toString('hex'), '4b007901b765489abead49d926f721d0');
});

test('AES-128 (FIPS-197 C.1) and HMAC-SHA1 (RFC 2202 case 1, truncated to 16)', () => {
  const key = hex('000102030405060708090a0b0c0d0e0f');
  assert.equal(aesEcbEncrypt(key, hex('00112233445566778899aabbccddeeff')).toString('hex'), '69c4e0d86a7b0430d8cdb78070b4c55a');
  assert.equal(hmac16(Buffer.alloc(20, 0x0b), Buffer.from('Hi There')).toString('hex'), 'b617318655057264e28bc0b6fb378c8e');
});

test('Token: AES-CBC with IV 0 over challenge | AES key | HMAC key, and back', () => {
  const tokenKey = deriveTokenKey(Buffer.from('secret'), Buffer.alloc(16, 7), 1024);
  const parts = { challenge: Buffer.alloc(16, 1), aesKey: Buffer.alloc(16, 2), hmacKey: Buffer.alloc(32, 3) };
  const token = encryptToken(parts, tokenKey);
  assert.equal(token.length, 64);
  // CBC with IV 0: the first block is the ECB encryption of the challenge.
  assert.deepEqual(token.subarray(0, 16), aesEcbEncrypt(tokenKey, parts.challenge));
  assert.deepEqual(decryptToken(token, tokenKey), parts);
  const wrong = decryptToken(token, deriveTokenKey(Buffer.from('Secret'), Buffer.alloc(16, 7), 1024));
  assert.notDeepEqual(wrong.challenge, parts.challenge);
});

test('CbcStream: block-by-block chaining equals one CBC pass, both ways', () => {
  const key = Buffer.alloc(16, 9);
  const iv = Buffer.alloc(16, 4);
  const plain = Buffer.from(Array.from({ length: 96 }, (_, i) => i));
  const oneShot = aesCbcEncrypt(key, iv, plain);
  const enc = new CbcStream(key, iv, 'encrypt');
  const pieces = [enc.update(plain.subarray(0, 16)), enc.update(plain.subarray(16, 48)), enc.update(plain.subarray(48))];
  assert.deepEqual(Buffer.concat(pieces), oneShot);
  const dec = new CbcStream(key, iv, 'decrypt');
  const back: Buffer[] = [];
  for (let i = 0; i < 96; i += 16) back.push(dec.update(oneShot.subarray(i, i + 16)));
  assert.deepEqual(Buffer.concat(back), plain);
  assert.throws(() => enc.update(Buffer.alloc(5)), RangeError);
});

test('test keys: AES key = ECB_SID(AES session key), HMAC key = CBC_SID,IV0(HMAC session key)', () => {
  const sid = Buffer.alloc(16, 0x11);
  const aes = Buffer.alloc(16, 0x22);
  const mac = Buffer.alloc(32, 0x33);
  const k = deriveTestKeys(sid, aes, mac);
  assert.deepEqual(k.aesKey, aesEcbEncrypt(sid, aes));
  assert.deepEqual(k.hmacKey.subarray(0, 16), aesEcbEncrypt(sid, mac.subarray(0, 16)));
  assert.equal(k.hmacKey.length, 32);
});

const keys = { aesKey: Buffer.alloc(16, 0x5a), hmacKey: Buffer.alloc(32, 0xa5) };
const senderPkt = { seq: 7, timestampNs: 1_700_000_000_000_000_000n, errorEstimate: 0x0101, paddingLength: 20 };
const reflPkt = {
  seq: 3,
  timestampNs: 1_700_000_000_002_000_000n,
  errorEstimate: 0x0101,
  ssid: 0,
  receiveTimestampNs: 1_700_000_000_001_000_000n,
  senderSeq: 7,
  senderTimestampNs: 1_700_000_000_000_000_000n,
  senderErrorEstimate: 0x0101,
  senderTtl: 64,
  paddingLength: 0,
};

test('authenticated test packets: layout offsets (RFC 5357 4.1.2 / 4.2.1, 112-octet reflector)', () => {
  const s = encodeAuthSenderPacket(senderPkt);
  assert.equal(s.length, AUTH_SENDER_HEADER_LENGTH + 20);
  assert.equal(s.readUInt32BE(0), 7);
  assert.equal(s.subarray(4, 16).toString('hex'), '00'.repeat(12));
  assert.equal(s.readUInt16BE(24), 0x0101);
  const r = encodeAuthReflectorPacket(reflPkt);
  assert.equal(r.length, AUTH_REFLECTOR_HEADER_LENGTH);
  assert.equal(r.readUInt32BE(48), 7);
  assert.equal(r[80], 64);
  assert.deepEqual(decodeAuthSenderPacket(s), senderPkt);
  assert.deepEqual(decodeAuthReflectorPacket(r), reflPkt);
});

for (const security of ['authenticated', 'encrypted'] as const) {
  test(`${security} test packets: seal then open round-trips; tampering is rejected`, () => {
    const plain = encodeAuthSenderPacket(senderPkt);
    const wire = sealTestPacket(Buffer.from(plain), 'sender', security, keys);
    // What is encrypted: the first block (authenticated) or both blocks before the HMAC (encrypted).
    assert.notDeepEqual(wire.subarray(0, 16), plain.subarray(0, 16));
    if (security === 'authenticated') assert.deepEqual(wire.subarray(16, 32), plain.subarray(16, 32));
    else assert.notDeepEqual(wire.subarray(16, 32), plain.subarray(16, 32));
    const opened = openTestPacket(wire, 'sender', security, keys);
    assert.deepEqual(decodeAuthSenderPacket(opened), senderPkt);
    const bad = Buffer.from(wire);
    bad[0] ^= 1;
    assert.throws(() => openTestPacket(bad, 'sender', security, keys), (e: unknown) => e instanceof DecodeError && e.code === 'ERR_BAD_VALUE' && e.offset === 32);
    const r = sealTestPacket(encodeAuthReflectorPacket(reflPkt), 'reflector', security, keys);
    assert.deepEqual(decodeAuthReflectorPacket(openTestPacket(r, 'reflector', security, keys)), reflPkt);
    assert.throws(() => openTestPacket(r.subarray(0, 100), 'reflector', security, keys), DecodeError);
  });
}
