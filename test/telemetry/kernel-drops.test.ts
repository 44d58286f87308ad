/**
 * `twampy_responder_kernel_drops_total`: absent unless a socket layer that counts kernel drops
 * registers a source; then zero-initialised and following the sum of the sockets' cumulative
 * counts, read at collection time.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { samples, sampleValue, startTestTelemetry } from './fixtures.js';

const NAME = 'twampy_responder_kernel_drops_total{source="probe-1"}';

test('kernel drops: no series on the portable layer; with sources, the sum of their cumulative counts', async () => {
  const t = await startTestTelemetry({});
  try {
    const r = t.responder();
    assert.deepEqual(samples(await t.exposition(), 'twampy_responder_kernel_drops_total'), [], 'no source, no series');
    let a = 0;
    let b = 0;
    r.countKernelDrops(() => a);
    r.countKernelDrops(() => b);
    assert.equal(sampleValue(await t.exposition(), NAME), 0, 'zero-initialised');
    a = 5;
    assert.equal(sampleValue(await t.exposition(), NAME), 5);
    b = 2;
    a = 7;
    assert.equal(sampleValue(await t.exposition(), NAME), 9);
    // A source whose count leaves the sum (socket closed) never makes the counter go back.
    a = 0;
    assert.equal(sampleValue(await t.exposition(), NAME), 9);
  } finally {
    await t.shutdown();
  }
});
