import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as dgram from 'node:dgram';
import fc from 'fast-check';
import { loopbackResponder, measure } from '../helpers/loopback.js';
import { Reflector } from '../../src/session/reflector.js';
import { ManualClock } from '../../src/session/clock.js';
import { encodeSenderPacket } from '../../src/protocol/test-packet.js';
import { buildReply, writeReplyT3 } from '../../src/protocol/reflect.js';
import { REFLECTOR_DEFAULTS } from '../helpers/loopback.js';
import { FakeSocket } from '../helpers/fakes.js';
import { systemClock } from '../../src/session/clock.js';

const valid = encodeSenderPacket({ seq: 1, timestampNs: 1_704_067_200_000_000_000n, errorEstimate: 1, paddingLength: 27 });

/** Random datagrams and mutations of a valid request. */
const datagram = fc.oneof(
  fc.uint8Array({ minLength: 0, maxLength: 1600 }).map((a) => Buffer.from(a)),
  fc.tuple(fc.nat(valid.length - 1), fc.nat(255), fc.nat(valid.length + 40)).map(([i, v, len]) => {
    const b = Buffer.alloc(len);
    valid.copy(b, 0, 0, Math.min(len, valid.length));
    if (i < len) b[i] = v;
    return b;
  }),
);

test('10,000 random and mutated datagrams at the reflector: no throw, each answered or dropped with a reason', () => {
  const clock = new ManualClock();
  let reflected = 0;
  let dropped = 0;
  const r = new Reflector({ ...REFLECTOR_DEFAULTS, maxRequestBytes: 1500 }, clock, clock, {
    onReflected: () => reflected++,
    onDropped: () => dropped++,
  });
  const sock = new FakeSocket();
  fc.assert(
    fc.property(datagram, fc.nat(65535), (data, port) => {
      r.handle({ data, address: '192.0.2.1', port, family: 'IPv4', rxTimeNs: clock.nowNs(), rxTimeSource: 'user' }, sock);
    }),
    { numRuns: 10_000 },
  );
  assert.equal(reflected + dropped, 10_000);
  assert.equal(sock.sent.length, reflected);
  for (const s of sock.sent) assert.ok(s.data.length >= 41);
  r.close();
});

test('a live responder flooded with 10,000 garbage datagrams still answers a valid sender', async () => {
  let drops = 0;
  const r = await loopbackResponder('127.0.0.1', { maxRequestBytes: 1500 }, { onDropped: () => drops++ });
  const client = dgram.createSocket('udp4');
  await new Promise<void>((res) => client.bind(0, '127.0.0.1', res));
  try {
    const samples = fc.sample(datagram, { numRuns: 10_000, seed: 42 });
    for (let i = 0; i < samples.length; i += 200) {
      await Promise.all(
        samples.slice(i, i + 200).map((d) => new Promise<void>((res) => client.send(d, r.port, '127.0.0.1', () => res()))),
      );
      await new Promise((res) => setImmediate(res));
    }
    await new Promise((res) => setTimeout(res, 100));
    const { final } = await measure('127.0.0.1', r.port, { count: 20 });
    assert.equal(final.stats.received, 20, 'valid sender fully answered after the flood');
    const c = r.reflector.counters;
    assert.ok(c.received >= 9_000, `responder saw ${c.received} datagrams`);
    assert.equal(c.dropped.malformed, drops);
    assert.ok(drops > 0);
  } finally {
    client.close();
    await r.close();
  }
});

test('the sender survives garbage and foreign replies and still measures', async () => {
  const srv = dgram.createSocket('udp4');
  await new Promise<void>((res) => srv.bind(0, '127.0.0.1', res));
  const garbage = fc.sample(datagram, { numRuns: 600, seed: 7 });
  let g = 0;
  let seq = 0;
  srv.on('message', (req, rinfo) => {
    for (let k = 0; k < 30; k++) srv.send(garbage[g++ % garbage.length]!, rinfo.port, rinfo.address);
    const reply = buildReply(req, req.length, 'twamp', { seq: seq++, receiveTimestampNs: systemClock.nowNs(), errorEstimate: 1, senderTtl: 0 });
    writeReplyT3(reply, systemClock.nowNs());
    srv.send(reply, rinfo.port, rinfo.address);
  });
  try {
    const { final } = await measure('127.0.0.1', srv.address().port, { count: 20 });
    assert.equal(final.stats.received, 20);
    assert.equal(final.stats.lost, 0);
  } finally {
    srv.close();
  }
});
