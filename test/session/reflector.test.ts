import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Reflector, type ReflectorOptions } from '../../src/session/reflector.js';
import { ManualClock } from '../../src/session/clock.js';
import { CidrSet } from '../../src/config/cidr.js';
import { decodeReflectorPacket, encodeSenderPacket } from '../../src/protocol/test-packet.js';
import type { DroppedEvent, ReflectedEvent } from '../../src/session/events.js';
import { FakeSocket } from '../helpers/fakes.js';

const OPTS: ReflectorOptions = {
  stateless: false, refwaitMs: 900_000, maxSessions: 100, allow: null, rateLimitPps: 0,
  maxRequestBytes: 9000, errorEstimate: 0x0001, stamp: true,
};

function setup(o: Partial<ReflectorOptions> = {}) {
  const clock = new ManualClock();
  const reflected: ReflectedEvent[] = [];
  const dropped: DroppedEvent[] = [];
  const sessions: number[] = [];
  const r = new Reflector({ ...OPTS, ...o }, clock, clock, {
    onReflected: (e) => reflected.push(e),
    onDropped: (e) => dropped.push(e),
    onSessionCount: (n) => sessions.push(n),
  });
  const sock = new FakeSocket();
  const send = (seq: number, from = { address: '192.0.2.1', port: 5000 }, padding = 27, ttl?: number) => {
    const data = encodeSenderPacket({ seq, timestampNs: clock.nowNs(), errorEstimate: 1, paddingLength: padding });
    r.handle({ data, ...from, family: 'IPv4', rxTimeNs: clock.nowNs(), rxTimeSource: 'user', ttl }, sock);
  };
  return { clock, r, sock, send, reflected, dropped, sessions };
}

test('stateful: own counter per sender (address, port), starting at 0', () => {
  const { sock, send } = setup();
  send(100);
  send(101);
  send(7, { address: '192.0.2.2', port: 5000 });
  send(102);
  send(8, { address: '192.0.2.1', port: 5001 });
  const seqs = sock.sent.map((s) => decodeReflectorPacket(s.data).seq);
  assert.deepEqual(seqs, [0, 1, 0, 2, 0]);
  assert.deepEqual(sock.sent.map((s) => decodeReflectorPacket(s.data).senderSeq), [100, 101, 7, 102, 8]);
  assert.equal(sock.sent[2]!.address, '192.0.2.2');
});

test('stateless copies the sender sequence number', () => {
  const { sock, send } = setup({ stateless: true });
  send(100);
  send(55);
  assert.deepEqual(sock.sent.map((s) => decodeReflectorPacket(s.data).seq), [100, 55]);
});

test('T2 is the receive time; T3 is a separate, later read', () => {
  const { clock, r, sock } = setup();
  const data = encodeSenderPacket({ seq: 1, timestampNs: clock.nowNs(), errorEstimate: 1, paddingLength: 27 });
  const t2 = clock.nowNs() - 5000n; // arrived 5 us before we got to it
  r.handle({ data, address: '192.0.2.1', port: 1, family: 'IPv4', rxTimeNs: t2, rxTimeSource: 'kernel' }, sock);
  const p = decodeReflectorPacket(sock.sent[0]!.data);
  assert.equal(p.receiveTimestampNs, t2);
  assert.equal(p.timestampNs, clock.nowNs());
  assert.ok(p.timestampNs > p.receiveTimestampNs);
});

test('Sender TTL: the received TTL when known, 0 when the socket layer cannot read it', () => {
  const { sock, send } = setup();
  send(1, undefined, 27, 62);
  send(2);
  assert.equal(decodeReflectorPacket(sock.sent[0]!.data).senderTtl, 62);
  assert.equal(decodeReflectorPacket(sock.sent[1]!.data).senderTtl, 0);
});

test('REFWAIT: an idle sender starts again at 0; the sweep drops idle state', () => {
  const { clock, sock, send, r, sessions } = setup({ refwaitMs: 10_000 });
  send(1);
  send(2);
  clock.advance(10_001);
  send(3);
  assert.deepEqual(sock.sent.map((s) => decodeReflectorPacket(s.data).seq), [0, 1, 0]);
  clock.advance(20_000); // sweep timer runs
  assert.equal(r.activeSessions, 0);
  assert.equal(sessions.at(-1), 0);
});

test('session bound evicts the least recently seen sender', () => {
  const { clock, sock, send, r } = setup({ maxSessions: 2 });
  send(1, { address: '192.0.2.1', port: 1 });
  clock.advance(1);
  send(1, { address: '192.0.2.2', port: 1 });
  clock.advance(1);
  send(2, { address: '192.0.2.1', port: 1 }); // .1 is now most recent
  clock.advance(1);
  send(1, { address: '192.0.2.3', port: 1 }); // evicts .2
  clock.advance(1);
  send(2, { address: '192.0.2.2', port: 1 }); // .2 starts over (and evicts .1)
  assert.equal(r.activeSessions, 2);
  assert.deepEqual(sock.sent.map((s) => decodeReflectorPacket(s.data).seq), [0, 0, 1, 0, 0]);
});

test('too short, too long, not allowed and rate-limited datagrams are dropped by reason', () => {
  const { clock, r, sock, send, dropped } = setup({ allow: new CidrSet(['192.0.2.0/24']), rateLimitPps: 2, maxRequestBytes: 100 });
  for (const len of [0, 1, 11, 13]) {
    r.handle({ data: Buffer.alloc(len), address: '192.0.2.1', port: 1, family: 'IPv4', rxTimeNs: clock.nowNs(), rxTimeSource: 'user' }, sock);
  }
  r.handle({ data: Buffer.alloc(101), address: '192.0.2.1', port: 1, family: 'IPv4', rxTimeNs: clock.nowNs(), rxTimeSource: 'user' }, sock);
  send(1, { address: '198.51.100.1', port: 1 });
  send(1, { address: '192.0.2.9', port: 1 });
  send(2, { address: '192.0.2.9', port: 1 });
  send(3, { address: '192.0.2.9', port: 1 }); // third within the same instant: over 2 pps burst
  clock.advance(1000);
  send(4, { address: '192.0.2.9', port: 1 });
  assert.deepEqual(dropped.map((d) => d.reason), ['malformed', 'malformed', 'malformed', 'malformed', 'malformed', 'not_allowed', 'rate_limited']);
  assert.match(dropped[0]!.detail, /too short: 0 octets/);
  assert.match(dropped[4]!.detail, /too long: 101 octets/);
  assert.equal(sock.sent.length, 3);
  assert.deepEqual(r.counters.dropped, { malformed: 5, not_allowed: 1, rate_limited: 1, unknown_session: 0 });
});

test('processing time reported is T3 - T2', () => {
  const { clock, r, sock, reflected } = setup();
  const data = encodeSenderPacket({ seq: 1, timestampNs: clock.nowNs(), errorEstimate: 1, paddingLength: 0 });
  r.handle({ data, address: '192.0.2.1', port: 1, family: 'IPv4', rxTimeNs: clock.nowNs() - 7000n, rxTimeSource: 'user' }, sock);
  assert.equal(reflected[0]!.processingNs, 7000n);
  assert.equal(reflected[0]!.replyBytes, 41);
  assert.equal(reflected[0]!.format, 'twamp');
});

test('reply TOS: copied from the request, fixed, or left to the socket', () => {
  for (const [replyTos, received, expected] of [['copy', 0x89, 0x89], [0xb8, 0x89, 0xb8], [null, 0x89, undefined]] as const) {
    const { clock, r, sock } = setup({ replyTos });
    const data = encodeSenderPacket({ seq: 1, timestampNs: clock.nowNs(), errorEstimate: 1, paddingLength: 27 });
    r.handle({ data, address: '192.0.2.1', port: 1, family: 'IPv4', rxTimeNs: clock.nowNs(), rxTimeSource: 'kernel', tos: received }, sock);
    assert.equal(sock.sent[0]!.tos, expected, `replyTos ${String(replyTos)}`);
  }
});

test('RFC 7750 monitoring: TWAMP replies report the received DS octet; STAMP replies and the mode off do not', () => {
  const { clock, r, sock } = setup({ dscpEcnMonitoring: true });
  const twamp = encodeSenderPacket({ seq: 1, timestampNs: clock.nowNs(), errorEstimate: 1, paddingLength: 27 });
  r.handle({ data: twamp, address: '192.0.2.1', port: 1, family: 'IPv4', rxTimeNs: clock.nowNs(), rxTimeSource: 'kernel', ttl: 60, tos: 0xb9 }, sock);
  const stampShaped = encodeSenderPacket({ seq: 2, timestampNs: clock.nowNs(), errorEstimate: 1, paddingLength: 30 });
  r.handle({ data: stampShaped, address: '192.0.2.1', port: 1, family: 'IPv4', rxTimeNs: clock.nowNs(), rxTimeSource: 'kernel', ttl: 60, tos: 0xb9 }, sock);
  assert.equal(sock.sent[0]!.data.length, 42);
  assert.equal(sock.sent[0]!.data[40], 60);
  assert.equal(sock.sent[0]!.data[41], 0xb9);
  assert.equal(sock.sent[1]!.data.length, 44, 'answered as STAMP');
  assert.equal(sock.sent[1]!.data[41], 0, 'STAMP MBZ');
  const off = setup();
  off.r.handle({ data: twamp, address: '192.0.2.1', port: 1, family: 'IPv4', rxTimeNs: off.clock.nowNs(), rxTimeSource: 'kernel', ttl: 60, tos: 0xb9 }, off.sock);
  assert.equal(off.sock.sent[0]!.data.length, 41);
});

test('a socket that copies on send gets replies built in one reused buffer, byte-identical to fresh ones', () => {
  const clock = new ManualClock();
  const copying = new FakeSocket();
  (copying as unknown as { copiesOnSend: boolean }).copiesOnSend = true;
  const plain = new FakeSocket();
  const a = new Reflector({ ...OPTS, dscpEcnMonitoring: true }, clock, clock);
  const b = new Reflector({ ...OPTS, dscpEcnMonitoring: true }, clock, clock);
  // Sizes up and down (and past the initial buffer), TWAMP and STAMP-shaped, so stale bytes would show.
  for (const [i, pad] of [27, 3000, 0, 100, 27, 5000, 30, 27].entries()) {
    const data = encodeSenderPacket({ seq: i, timestampNs: clock.nowNs(), errorEstimate: 1, paddingLength: pad });
    for (let k = 14; k < data.length; k++) data[k] = (k * 7 + i) & 0xff;
    if (pad === 30) data.fill(0, 14, 44); // STAMP-shaped: zero MBZ
    const d = { data, address: '192.0.2.1', port: 1, family: 'IPv4' as const, rxTimeNs: clock.nowNs(), rxTimeSource: 'kernel' as const, ttl: 61, tos: 0x2a };
    a.handle(d, copying);
    b.handle(d, plain);
    clock.advance(1);
  }
  assert.equal(copying.sent.length, 8);
  for (let i = 0; i < 8; i++) assert.deepEqual(copying.sent[i]!.data, plain.sent[i]!.data, `reply ${i}`);
  a.close();
  b.close();
});
