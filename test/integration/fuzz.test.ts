import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { floodThenMeasure, fuzzDatagram, measureThroughGarbage } from '../helpers/fuzz.js';
import { Reflector } from '../../src/session/reflector.js';
import { ManualClock } from '../../src/session/clock.js';
import { REFLECTOR_DEFAULTS } from '../helpers/loopback.js';
import { FakeSocket } from '../helpers/fakes.js';

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
    fc.property(fuzzDatagram, fc.nat(65535), (data, port) => {
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
  const { final, counters, drops } = await floodThenMeasure();
  assert.equal(final.stats.received, 20, 'valid sender fully answered after the flood');
  assert.ok(counters.received >= 9_000, `responder saw ${counters.received} datagrams`);
  assert.equal(counters.dropped.malformed, drops);
  assert.ok(drops > 0);
});

test('the sender survives garbage and foreign replies and still measures', async () => {
  const final = await measureThroughGarbage();
  assert.equal(final.stats.received, 20);
  assert.equal(final.stats.lost, 0);
});
