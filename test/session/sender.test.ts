import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Sender, historyLength, type SenderOptions } from '../../src/session/sender.js';
import { ManualClock } from '../../src/session/clock.js';
import { buildReply, writeReplyT3 } from '../../src/protocol/reflect.js';
import { decodeSenderPacket } from '../../src/protocol/test-packet.js';
import type { ReplyEvent, StatsEvent, SenderDropEvent } from '../../src/session/events.js';
import { FakeTransport, type FakeSocket } from '../helpers/fakes.js';

const OPTS: SenderOptions = {
  count: 10, intervalMs: 100, padding: [27], timeoutMs: 1000, periodMs: 1000, stamp: false, ssid: 0,
  errorEstimate: 0x0001, localAddress: '', localPort: 0, splay: false,
};

/** What a simulated reflector does with packet `seq`: reply after a delay, drop outbound or inbound, duplicate. */
type Plan = (seq: number) => {
  fate: 'ok' | 'drop-out' | 'drop-in'; outMs?: number; inMs?: number; dup?: boolean;
  /** Sender TTL the reflector writes (default 64), RFC 7750 octet it writes, TTL and TOS the reply arrives with. */
  ttl?: number; rxTos?: number; replyTtl?: number; replyTos?: number;
  /** The reflector restarts its counter at 0 with this packet. */
  resetReflector?: boolean;
};

async function run(plan: Plan, o: Partial<SenderOptions> = {}, stateless = false, reflectorFirstSeq = 0) {
  const clock = new ManualClock();
  const transport = new FakeTransport();
  const replies: ReplyEvent[] = [];
  const stats: StatsEvent[] = [];
  const drops: SenderDropEvent[] = [];
  const sender = new Sender({ ...OPTS, ...o }, transport, clock, clock, {
    onReply: (e) => replies.push(e),
    onStats: (e) => stats.push(e),
    onDrop: (e) => drops.push(e),
  });
  await sender.addTarget({ name: 't', address: '127.0.0.1', port: 20001, family: 'IPv4' });
  const sock = transport.sockets[0]!;
  let reflectorSeq = reflectorFirstSeq;
  let handled = 0;
  const deliveries: { atNs: bigint; data: Buffer; ttl?: number; tos?: number }[] = [];
  for (let step = 0; step < 400; step++) {
    // Reflect whatever was sent since the last step.
    for (; handled < sock.sent.length; handled++) {
      const req = sock.sent[handled]!.data;
      const seq = decodeSenderPacket(req).seq;
      const p = plan(seq);
      if (p.fate === 'drop-out') continue;
      if (p.resetReflector) reflectorSeq = 0;
      const t2 = decodeSenderPacket(req).timestampNs + BigInt(Math.round((p.outMs ?? 1) * 1e6));
      const reply = buildReply(req, req.length, 'twamp', { seq: stateless ? seq : reflectorSeq++ >>> 0, receiveTimestampNs: t2, errorEstimate: 1, senderTtl: p.ttl ?? 64, dscpEcn: p.rxTos });
      const t3 = t2 + 10_000n;
      writeReplyT3(reply, t3);
      if (p.fate === 'drop-in') continue;
      const at = t3 + BigInt(Math.round((p.inMs ?? 1) * 1e6));
      deliveries.push({ atNs: at, data: reply, ttl: p.replyTtl, tos: p.replyTos });
      if (p.dup) deliveries.push({ atNs: at + 1000n, data: Buffer.from(reply) });
    }
    deliveries.sort((a, b) => (a.atNs < b.atNs ? -1 : 1));
    while (deliveries.length && deliveries[0]!.atNs <= clock.nowNs()) {
      const d = deliveries.shift()!;
      sock.deliver({ data: d.data, rxTimeNs: clock.nowNs(), ...(d.ttl === undefined ? {} : { ttl: d.ttl }), ...(d.tos === undefined ? {} : { tos: d.tos }) });
    }
    clock.advance(5);
    if (stats.some((s) => s.final)) break;
  }
  return { stats, replies, drops, sock, sender, clock };
}

test('all replies on time: counts, delays from the four timestamps, exit state ok', async () => {
  const { stats, replies } = await run(() => ({ fate: 'ok', outMs: 2, inMs: 3 }));
  const f = stats.find((s) => s.final)!;
  assert.equal(f.result, 'ok');
  assert.equal(f.stats.sent, 10);
  assert.equal(f.stats.received, 10);
  assert.equal(f.stats.lost, 0);
  assert.equal(f.stats.outbound.lossPct, 0);
  assert.equal(f.stats.inbound.lossPct, 0);
  const r = replies[0]!;
  assert.equal(r.outboundNs, 2_000_000n);
  assert.equal(r.rttNs, r.t4Ns - r.t1Ns - (r.t3Ns - r.t2Ns));
  assert.equal(r.senderTtl, 64);
  assert.ok(f.stats.roundtrip.minMs! >= 5 && f.stats.roundtrip.maxMs! <= 10, `rtt ${f.stats.roundtrip.minMs}..${f.stats.roundtrip.maxMs}`);
});

test('stateful reflector: losses are split by direction from its counter', async () => {
  const plan: Plan = (s) => ({ fate: s === 2 || s === 5 ? 'drop-out' : s === 7 ? 'drop-in' : 'ok' });
  const { stats } = await run(plan);
  const f = stats.find((s) => s.final)!.stats;
  assert.equal(f.lost, 3);
  assert.equal(f.reflectorStateful, true);
  assert.equal(f.lostOutbound, 2);
  assert.equal(f.lostInbound, 1);
  assert.equal(f.outbound.lossPct, 20);
  assert.equal(f.inbound.lossPct, 10);
  assert.equal(f.roundtrip.lossPct, 30);
});

test('stateless reflector: only round-trip loss is reported', async () => {
  const { stats } = await run((s) => ({ fate: s === 3 ? 'drop-out' : s === 6 ? 'drop-in' : 'ok' }), {}, true);
  const f = stats.find((s) => s.final)!.stats;
  assert.equal(f.lost, 2);
  assert.equal(f.reflectorStateful, null);
  assert.equal(f.lostOutbound, null);
  assert.equal(f.outbound.lossPct, null);
  assert.equal(f.roundtrip.lossPct, 20);
});

test('a reply after the timeout is late, not received; the packet counts as lost', async () => {
  const { stats, replies } = await run((s) => ({ fate: 'ok', inMs: s === 1 ? 1200 : 1 }), { count: 20 });
  const f = stats.find((s) => s.final)!.stats;
  assert.equal(f.lost, 1);
  assert.equal(f.late, 1);
  assert.equal(f.received, 19);
  assert.equal(replies.filter((r) => r.late).length, 1);
});

test('duplicates are counted and do not add samples or hide loss', async () => {
  const { stats } = await run((s) => ({ fate: 'ok', dup: s % 2 === 0 }));
  const f = stats.find((s) => s.final)!.stats;
  assert.equal(f.duplicates, 5);
  assert.equal(f.received, 10);
  assert.equal(f.roundtrip.samples, 10);
  assert.equal(f.lost, 0);
});

test('reordering (RFC 4737): a reply older than one already received', async () => {
  const { stats } = await run((s) => ({ fate: 'ok', inMs: s === 3 ? 250 : 1 }));
  const f = stats.find((s) => s.final)!.stats;
  assert.equal(f.reordered, 1);
  assert.equal(f.lost, 0);
});

test('replies from another address or port, and garbage, are dropped with a reason', async () => {
  const clock = new ManualClock();
  const transport = new FakeTransport();
  const drops: SenderDropEvent[] = [];
  const sender = new Sender({ ...OPTS, count: 1 }, transport, clock, clock, { onDrop: (e) => drops.push(e) });
  await sender.addTarget({ name: 't', address: '127.0.0.1', port: 20001, family: 'IPv4' });
  const sock = transport.sockets[0] as FakeSocket;
  clock.advance(1);
  const req = sock.sent[0]!.data;
  const reply = buildReply(req, req.length, 'twamp', { seq: 0, receiveTimestampNs: clock.nowNs(), errorEstimate: 1, senderTtl: 0 });
  sock.deliver({ data: reply, rxTimeNs: clock.nowNs(), port: 20002 });
  sock.deliver({ data: reply, rxTimeNs: clock.nowNs(), address: '127.0.0.2' });
  sock.deliver({ data: Buffer.alloc(10), rxTimeNs: clock.nowNs() });
  const wrongT1 = Buffer.from(reply);
  wrongT1[30] ^= 1;
  sock.deliver({ data: wrongT1, rxTimeNs: clock.nowNs() });
  assert.deepEqual(drops.map((d) => d.reason), ['unexpected_source', 'unexpected_source', 'malformed', 'unknown_sequence']);
  await sender.stop(false);
});

test('continuous mode reports every period with per-period counts', async () => {
  const clock = new ManualClock();
  const transport = new FakeTransport();
  const stats: StatsEvent[] = [];
  const sender = new Sender({ ...OPTS, count: 0, periodMs: 1000 }, transport, clock, clock, { onStats: (e) => stats.push(e) });
  await sender.addTarget({ name: 't', address: '127.0.0.1', port: 20001, family: 'IPv4' });
  for (let i = 0; i < 350; i++) clock.advance(10); // 3.5 s, nothing answers
  assert.equal(stats.length, 3);
  assert.ok(stats.every((s) => !s.final && s.result === 'error'));
  assert.ok(stats[1]!.stats.lost >= 9 && stats[1]!.stats.lost <= 11, `lost ${stats[1]!.stats.lost}`);
  assert.equal(stats[1]!.stats.roundtrip.lossPct, 100);
  await sender.stop(false);
});

test('schedule is drift-free: packet k leaves at start + k*interval', async () => {
  const { sock } = await run(() => ({ fate: 'ok' }), { count: 5, intervalMs: 100 });
  const t1s = sock.sent.map((s) => decodeSenderPacket(s.data).timestampNs);
  for (let k = 1; k < t1s.length; k++) {
    const d = Number(t1s[k]! - t1s[0]!) / 1e6;
    assert.ok(Math.abs(d - k * 100) <= 5, `packet ${k} at ${d} ms`);
  }
});

test('padding profile is cycled per packet', async () => {
  const { sock } = await run(() => ({ fate: 'ok' }), { count: 4, padding: [0, 27, 100] });
  assert.deepEqual(sock.sent.map((s) => s.data.length), [14, 41, 114, 14]);
});

test('38-octet replies (nokia/twampy responder without padding) are accepted, Sender TTL unknown', async () => {
  const clock = new ManualClock();
  const transport = new FakeTransport();
  const replies: ReplyEvent[] = [];
  const drops: SenderDropEvent[] = [];
  const sender = new Sender({ ...OPTS, count: 1 }, transport, clock, clock, { onReply: (e) => replies.push(e), onDrop: (e) => drops.push(e) });
  await sender.addTarget({ name: 't', address: '127.0.0.1', port: 20001, family: 'IPv4' });
  const sock = transport.sockets[0] as FakeSocket;
  clock.advance(1);
  const req = sock.sent[0]!.data;
  const full = buildReply(req, req.length, 'twamp', { seq: 0, receiveTimestampNs: clock.nowNs(), errorEstimate: 1, senderTtl: 64 });
  sock.deliver({ data: full.subarray(0, 37), rxTimeNs: clock.nowNs() });
  sock.deliver({ data: full.subarray(0, 38), rxTimeNs: clock.nowNs() });
  assert.deepEqual(drops.map((d) => d.reason), ['malformed']);
  assert.equal(replies.length, 1);
  assert.equal(replies[0]!.senderTtl, null);
  await sender.stop(false);
});

test('path: hop counts each way from Sender TTL and the reply TTL, min/max/last over the period', async () => {
  // Our TTL 255; the reflector saw 254 then 253 (a route change); replies arrive with 254 (reflector sends 255).
  const { stats, replies } = await run((s) => ({ fate: 'ok', ttl: s < 5 ? 254 : 253, replyTtl: 254 }));
  assert.equal(replies[0]!.hopsOutbound, 1);
  assert.equal(replies[0]!.hopsInbound, 1);
  const p = stats.find((s) => s.final)!.stats.path;
  assert.deepEqual(p.hopsOutbound, { last: 2, min: 1, max: 2 });
  assert.deepEqual(p.hopsInbound, { last: 1, min: 1, max: 1 });
  assert.equal(p.reflectorRxDscp, null, 'RFC 7750 not monitored');
  assert.equal(p.remarkedOutbound, null);
});

test('path: --ttl changes the outbound reference; Sender TTL 0 (unknown) and impossible values give no hop count', async () => {
  const a = await run(() => ({ fate: 'ok', ttl: 60 }), { ttl: 64 });
  assert.equal(a.replies[0]!.hopsOutbound, 4);
  const b = await run(() => ({ fate: 'ok', ttl: 0 }));
  assert.equal(b.replies[0]!.hopsOutbound, null);
  assert.equal(b.replies[0]!.hopsInbound, null, 'no reply TTL from this socket layer');
  assert.equal(b.stats.find((s) => s.final)!.stats.path.hopsOutbound, null);
  const c = await run(() => ({ fate: 'ok', ttl: 200 }), { ttl: 64 });
  assert.equal(c.replies[0]!.hopsOutbound, null, 'a reflector cannot see more TTL than we sent');
});

test('path: RFC 7750 octet read only when monitoring; re-marking counted each way', async () => {
  // We send EF (46); the first 4 requests arrive as EF, the rest re-marked to 0 with ECT(0).
  // Replies come back with DSCP 0 throughout (the reflector copies): differs from the reflector's on the first 4.
  const plan: Plan = (s) => ({ fate: 'ok', rxTos: s < 4 ? 0xb8 : 0x02, replyTos: 0x00 });
  const on = await run(plan, { tos: 0xb8, dscpEcnMonitoring: true });
  assert.equal(on.replies[0]!.reflectorRxTos, 0xb8);
  assert.equal(on.replies[9]!.reflectorRxTos, 0x02);
  const p = on.stats.find((s) => s.final)!.stats.path;
  assert.equal(p.sentDscp, 46);
  assert.equal(p.reflectorRxDscp, 0);
  assert.equal(p.replyDscp, 0);
  assert.equal(p.remarkedOutbound, 6);
  assert.equal(p.remarkedInbound, 4);
  const off = await run(plan, { tos: 0xb8 });
  assert.equal(off.replies[0]!.reflectorRxTos, null, 'without the flag the octet is padding');
  assert.equal(off.stats.find((s) => s.final)!.stats.path.remarkedOutbound, null);
  assert.equal(off.stats.find((s) => s.final)!.stats.path.remarkedInbound, null);
});

test('path: monitoring on but a reflector that answers 41 octets reports nothing (not a DSCP 0)', async () => {
  const { replies, stats } = await run(() => ({ fate: 'ok' }), { dscpEcnMonitoring: true });
  assert.equal(replies[0]!.bytes, 41);
  assert.equal(replies[0]!.reflectorRxTos, null);
  assert.equal(stats.find((s) => s.final)!.stats.path.remarkedOutbound, null);
});

test('a long run remembers the last 65,536 packets: a late reply within them is late, one older is unknown', async () => {
  const clock = new ManualClock();
  const transport = new FakeTransport();
  const replies: ReplyEvent[] = [];
  const drops: SenderDropEvent[] = [];
  const sender = new Sender({ ...OPTS, count: 0, intervalMs: 1, timeoutMs: 20, periodMs: 1000 }, transport, clock, clock, {
    onReply: (e) => replies.push(e),
    onDrop: (e) => drops.push(e),
  });
  await sender.addTarget({ name: 't', address: '127.0.0.1', port: 20001, family: 'IPv4' });
  const sock = transport.sockets[0]!;
  const reply = (req: Buffer) => {
    const r = buildReply(req, req.length, 'twamp', { seq: decodeSenderPacket(req).seq, receiveTimestampNs: clock.nowNs(), errorEstimate: 1, senderTtl: 64 });
    writeReplyT3(r, clock.nowNs());
    return r;
  };
  // Replies to seq 10 and 1,000 are held back; both packets time out and are lost.
  const held = new Map<number, Buffer>();
  for (let ms = 0; ms < 66_000; ms++) {
    clock.advance(1);
    for (const { data } of sock.sent) {
      const seq = decodeSenderPacket(data).seq;
      if (seq === 10 || seq === 1_000) held.set(seq, reply(data));
      else sock.deliver({ data: reply(data), rxTimeNs: clock.nowNs() });
    }
    sock.sent.length = 0;
  }
  await sender.stop(false);
  const sent = sender.totals().get('t')?.sent ?? 0;
  assert.ok(sent - 1_000 < 65_536 && sent - 10 > 65_536, `sent ${sent}`);
  replies.length = 0;
  sock.deliver({ data: held.get(1_000)!, rxTimeNs: clock.nowNs() });
  sock.deliver({ data: held.get(10)!, rxTimeNs: clock.nowNs() });
  assert.deepEqual(replies.map((r) => [r.seq, r.late]), [[1_000, true]]);
  assert.deepEqual(drops.map((d) => d.reason), ['unknown_sequence']);
});

test('the 32-bit sequence number wraps without a burst: steady schedule, no loss, no reordering, losses still split', async () => {
  // 2^32 packets take 49.7 days at 1 ms; starting near the wrap stands in for that run. The
  // reflector's own counter wraps too, a few packets before ours.
  const first = 2 ** 32 - 20;
  const plan: Plan = (s) => ({ fate: s === 2 ** 32 - 3 || s === 4 ? 'drop-out' : s === 7 ? 'drop-in' : 'ok' });
  const { stats, sock } = await run(plan, { count: 40, intervalMs: 20, timeoutMs: 500, firstSeq: first }, false, 2 ** 32 - 25);
  const seqs = sock.sent.map((p) => decodeSenderPacket(p.data).seq);
  assert.deepEqual(seqs, Array.from({ length: 40 }, (_, k) => (first + k) >>> 0));
  const t1s = sock.sent.map((p) => decodeSenderPacket(p.data).timestampNs);
  for (let k = 1; k < t1s.length; k++) assert.equal(t1s[k]! - t1s[k - 1]!, 20_000_000n, `packet ${k} is one interval after the one before`);
  const f = stats.find((s) => s.final)!.stats;
  assert.equal(f.sent, 40);
  assert.equal(f.received, 37);
  assert.equal(f.lost, 3);
  assert.equal(f.reordered, 0);
  assert.equal(f.lostOutbound, 2);
  assert.equal(f.lostInbound, 1);
});

test('a reflector that restarts its counter: the loss across the restart is not split, later ones are', async () => {
  // Packet 9 is lost inbound just before the reflector restarts (its counter goes back from 9 to 0);
  // packet 15 is lost outbound after it.
  const plan: Plan = (s) => ({ fate: s === 9 ? 'drop-in' : s === 15 ? 'drop-out' : 'ok', resetReflector: s === 10 });
  const { stats } = await run(plan, { count: 20, intervalMs: 20, timeoutMs: 500 });
  const f = stats.find((s) => s.final)!.stats;
  assert.equal(f.lost, 2);
  assert.equal(f.lostOutbound, 1);
  assert.equal(f.lostInbound, 0);
});

test('packets remembered: 65,536, or four timeouts at high rates, at most 2^24', () => {
  assert.equal(historyLength(100, 2000), 65_536, 'the defaults');
  assert.equal(historyLength(1, 1000), 65_536);
  assert.equal(historyLength(0.01, 2000), 2 ** 20, '800,000 packets in four timeouts, rounded up to a power of two');
  assert.equal(historyLength(0.01, 3_600_000), 2 ** 24, 'capped: 4 MiB per target');
});
