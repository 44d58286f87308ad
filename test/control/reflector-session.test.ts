// The reflector side of a negotiated session, driven by a manual clock and a fake socket:
// reflects only after Start-Sessions and only for the negotiated sender, T2 from the socket and
// T3 from a later clock read, reply sizes, REFWAIT, Timeout after Stop-Sessions, HMAC failures.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../../src/session/clock.js';
import type { DatagramHandler, DatagramSocket, ReceivedDatagram } from '../../src/transport/types.js';
import { DGRAM_CAPABILITIES } from '../../src/transport/dgram.js';
import { ReflectorSession, type TestProtection } from '../../src/control/reflector-session.js';
import { decodeReflectorPacket, encodeSenderPacket } from '../../src/protocol/test-packet.js';
import { decodeAuthReflectorPacket, encodeAuthSenderPacket, openTestPacket, sealTestPacket } from '../../src/protocol/test-auth.js';
import { deriveTestKeys } from '../../src/control/crypto.js';

class FakeSocket implements DatagramSocket {
  readonly capabilities = DGRAM_CAPABILITIES;
  sent: { data: Buffer; port: number; address: string }[] = [];
  handler: DatagramHandler = () => undefined;
  closed = false;
  localAddress() {
    return { address: '127.0.0.1', port: 40500, family: 'IPv4' as const };
  }
  send(data: Buffer, port: number, address: string) {
    this.sent.push({ data: Buffer.from(data), port, address });
  }
  onMessage(h: DatagramHandler) {
    this.handler = h;
  }
  onError() {}
  setTos() {}
  async close() {
    this.closed = true;
  }
}

function setup(protection: TestProtection = { security: 'none' }, senderPort = 0, paddingLength = 27) {
  const clock = new ManualClock(1_700_000_000_000_000_000n);
  const socket = new FakeSocket();
  const drops: string[] = [];
  const ends: { outcome: string; reflected: number }[] = [];
  let activity = 0;
  const reflectedEvents: { requestBytes: number; replyBytes: number; processingNs: bigint }[] = [];
  const session = new ReflectorSession({
    socket,
    protection,
    senderAddress: '192.0.2.1',
    senderPort,
    paddingLength,
    timeoutMs: 500,
    refwaitMs: 2000,
    maxRequestBytes: 9000,
    errorEstimate: 0x0001,
    clock,
    scheduler: clock,
    onActivity: () => activity++,
    onReflected: (e) => reflectedEvents.push(e),
    onDrop: (r) => drops.push(r),
    onEnd: (outcome, reflected) => ends.push({ outcome, reflected }),
  });
  const deliver = (data: Buffer, address = '192.0.2.1', port = 5000) => {
    const d: ReceivedDatagram = { data, address, port, family: 'IPv4', rxTimeNs: clock.nowNs(), rxTimeSource: 'user' };
    socket.handler(d);
  };
  return { clock, socket, drops, ends, session, deliver, activity: () => activity, reflectedEvents };
}

const request = (seq: number, padding = 27) => encodeSenderPacket({ seq, timestampNs: 1_699_999_999_999_000_000n, errorEstimate: 0x0001, paddingLength: padding });

test('open mode: nothing before Start-Sessions, then replies of max(41, request) octets with our own counter', () => {
  const t = setup();
  t.deliver(request(0));
  assert.deepEqual(t.drops, ['not_started']);
  t.session.start();
  t.deliver(request(7, 27));
  t.deliver(request(8, 100));
  t.deliver(request(9, 0));
  assert.equal(t.socket.sent.length, 3);
  assert.deepEqual(t.socket.sent.map((s) => s.data.length), [41, 114, 41]);
  const r = decodeReflectorPacket(t.socket.sent[0]!.data);
  assert.equal(r.seq, 0); // our own counter
  assert.equal(r.senderSeq, 7);
  assert.equal(r.senderTimestampNs, 1_699_999_999_999_000_000n);
  assert.equal(decodeReflectorPacket(t.socket.sent[2]!.data).seq, 2);
  assert.equal(t.socket.sent[0]!.port, 5000);
  assert.equal(t.activity(), 3);
  assert.deepEqual(t.reflectedEvents.map((e) => [e.requestBytes, e.replyBytes, e.processingNs]), [[41, 41, 0n], [114, 114, 0n], [14, 41, 0n]]);
});

test('only the negotiated sender address (and port, when given) is answered', () => {
  const t = setup({ security: 'none' }, 6000);
  t.session.start();
  t.deliver(request(1), '192.0.2.99', 6000);
  t.deliver(request(1), '192.0.2.1', 6001);
  t.deliver(request(1), '::ffff:192.0.2.1', 6000); // IPv4-mapped form of the right sender
  assert.deepEqual(t.drops, ['unexpected_source', 'unexpected_source']);
  assert.equal(t.socket.sent.length, 1);
  t.deliver(Buffer.alloc(5), '192.0.2.1', 6000);
  assert.deepEqual(t.drops.at(-1), 'malformed');
});

test('REFWAIT ends a started session without packets; each packet restarts it', async () => {
  const t = setup();
  t.session.start();
  t.clock.advance(1500);
  t.deliver(request(0));
  t.clock.advance(1500);
  assert.deepEqual(t.ends, []);
  t.clock.advance(600);
  assert.deepEqual(t.ends, [{ outcome: 'timed_out', reflected: 1 }]);
  await new Promise((r) => setImmediate(r));
  assert.equal(t.socket.closed, true);
});

test('after Stop-Sessions it reflects for the Timeout, then completes', () => {
  const t = setup();
  t.session.start();
  t.session.stop();
  t.clock.advance(400);
  t.deliver(request(0));
  assert.equal(t.socket.sent.length, 1);
  t.clock.advance(200);
  assert.deepEqual(t.ends, [{ outcome: 'completed', reflected: 1 }]);
  t.deliver(request(1));
  assert.equal(t.socket.sent.length, 1);
});

for (const security of ['authenticated', 'encrypted'] as const) {
  test(`${security} mode: opens the request, answers 112+ octets sealed with the session keys, drops a bad HMAC`, () => {
    const keys = deriveTestKeys(Buffer.alloc(16, 1), Buffer.alloc(16, 2), Buffer.alloc(32, 3));
    const t = setup({ security, keys });
    t.session.start();
    const req = sealTestPacket(encodeAuthSenderPacket({ seq: 42, timestampNs: 1_699_999_999_999_000_000n, errorEstimate: 0x0001, paddingLength: 64 }), 'sender', security, keys);
    t.deliver(req);
    assert.equal(t.socket.sent.length, 1);
    const wire = t.socket.sent[0]!.data;
    assert.equal(wire.length, 112); // max(112, 48 + 64)
    const r = decodeAuthReflectorPacket(openTestPacket(wire, 'reflector', security, keys));
    assert.equal(r.senderSeq, 42);
    assert.equal(r.seq, 0);
    assert.equal(r.senderTimestampNs, 1_699_999_999_999_000_000n);
    const bad = Buffer.from(req);
    bad[40] ^= 0xff; // inside the HMAC
    t.deliver(bad);
    assert.deepEqual(t.drops, ['bad_hmac']);
    t.deliver(request(1)); // an unauthenticated packet on an authenticated session
    assert.deepEqual(t.drops, ['bad_hmac', 'malformed']);
  });
}

test('replies are as long as the negotiated request size even when a request is shorter', () => {
  const t = setup({ security: 'none' }, 0, 100);
  t.session.start();
  t.deliver(request(0, 0)); // 14 octets, 114 negotiated
  t.deliver(request(1, 200)); // longer than negotiated: symmetric with what came
  assert.deepEqual(t.socket.sent.map((s) => s.data.length), [114, 214]);
  assert.ok(t.socket.sent[0]!.data.subarray(41).every((b) => b === 0));
  assert.equal(decodeReflectorPacket(t.socket.sent[0]!.data).senderSeq, 0);
});
