import { test } from 'node:test';
import assert from 'node:assert/strict';
import { attributeGap, DirectionAccumulator, JitterEstimator, percentileSorted } from '../../src/session/stats.js';

test('nearest-rank percentiles are exact sample values', () => {
  const s = Array.from({ length: 100 }, (_, i) => i + 1);
  assert.equal(percentileSorted(s, 50), 50);
  assert.equal(percentileSorted(s, 90), 90);
  assert.equal(percentileSorted(s, 99), 99);
  assert.equal(percentileSorted([3], 99), 3);
  assert.equal(percentileSorted([], 50), null);
  assert.equal(percentileSorted([1, 2, 3, 4], 50), 2);
});

test('RFC 3550 jitter: J += (|D| - J)/16 on a known sequence', () => {
  const j = new JitterEstimator();
  for (const d of [10, 12, 10, 14]) j.add(d);
  // D = 2, 2, 4 -> J = 2/16 = 0.125; 0.125 + (2-0.125)/16 = 0.2421875; + (4-0.2421875)/16 = 0.47705078125
  assert.equal(j.value, 0.47705078125);
  assert.equal(new JitterEstimator().value, null);
});

test('direction summary: min, max, avg, loss over packets sent', () => {
  const a = new DirectionAccumulator();
  for (const v of [4, 1, 3, 2]) a.add(v * 1e6);
  const s = a.summary(1, 5);
  assert.equal(s.minMs, 1);
  assert.equal(s.maxMs, 4);
  assert.equal(s.avgMs, 2.5);
  assert.equal(s.lossPct, 20);
  assert.equal(s.samples, 4);
  assert.equal(a.summary(null, 5).lossPct, null);
  a.reset();
  assert.equal(a.summary(0, 0).samples, 0);
});

test('negative one-way delays (unsynchronised clocks) are kept, never clamped', () => {
  const a = new DirectionAccumulator();
  a.add(-3_500_000);
  a.add(-1_000_000);
  assert.equal(a.summary(0, 2).minMs, -3.5);
});

test('loss attribution from a stateful reflector counter', () => {
  assert.deepEqual(attributeGap(3, 1), { outbound: 2, inbound: 1 });
  assert.deepEqual(attributeGap(0, 0), { outbound: 0, inbound: 0 });
  assert.equal(attributeGap(2, 5), null, 'reflector counted more than we sent: shared or restarted counter');
  assert.equal(attributeGap(2, -4), null, 'counter went backwards');
});
