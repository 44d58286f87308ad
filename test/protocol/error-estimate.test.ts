import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { decodeErrorEstimate, encodeErrorEstimate, errorEstimateFor, errorSeconds } from '../../src/protocol/error-estimate.js';

test('bit layout S Z Scale(6) Multiplier(8)', () => {
  assert.equal(encodeErrorEstimate({ synced: true, ptp: false, scale: 0x3f, multiplier: 0x01 }), 0xbf01);
  assert.equal(encodeErrorEstimate({ synced: false, ptp: true, scale: 0, multiplier: 0xff }), 0x40ff);
  assert.deepEqual(decodeErrorEstimate(0x8a05), { synced: true, ptp: false, scale: 10, multiplier: 5 });
});

test('error = multiplier * 2^(scale-32) s; multiplier 0 is invalid', () => {
  assert.equal(errorSeconds({ synced: false, ptp: false, scale: 32, multiplier: 1 }), 1);
  assert.ok(Number.isNaN(errorSeconds({ synced: false, ptp: false, scale: 32, multiplier: 0 })));
});

test('errorEstimateFor never understates the error and never uses multiplier 0', () => {
  fc.assert(
    fc.property(fc.double({ min: 1e-12, max: 1e9, noNaN: true }), fc.boolean(), (s, synced) => {
      const e = errorEstimateFor(s, synced);
      const back = errorSeconds(e);
      return e.multiplier >= 1 && e.multiplier <= 255 && e.synced === synced && (back >= s || e.scale === 63);
    }),
    { numRuns: 2000 },
  );
  const us = errorEstimateFor(1e-6, false);
  assert.ok(errorSeconds(us) >= 1e-6 && errorSeconds(us) < 1.01e-6, 'tight for 1 us');
});
