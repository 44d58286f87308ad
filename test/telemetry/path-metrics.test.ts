/**
 * Path series of the sender: `twampy_hops` per direction (the last reply of the period, gone
 * after a period without replies or a target error) and `twampy_dscp_remarked_total`, which
 * appears once re-marking is measurable and adds each period's count.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { PathStats } from '../../src/session/events.js';
import { dir, samples, sampleValue, startTestTelemetry, stats } from './fixtures.js';

const T = 'r1:20001';
const S = 'source="probe-1",target="r1:20001"';
const OK = { outbound: dir(1, 2, 3, 0.5, 0), inbound: dir(1, 2, 3, 0.5, 0), roundtrip: dir(2, 4, 6, 1, 0) };
const NONE: PathStats = { hopsOutbound: null, hopsInbound: null, sentDscp: 46, reflectorRxDscp: null, replyDscp: null, remarkedOutbound: null, remarkedInbound: null };

test('twampy_hops follows the period; twampy_dscp_remarked_total appears once measurable and adds per period', async () => {
  const t = await startTestTelemetry({});
  try {
    const s = t.sender();
    s.onTargetAdded?.(T);
    let text = await t.exposition();
    assert.deepEqual(samples(text, 'twampy_hops'), [], 'nothing measured yet');
    assert.deepEqual(samples(text, 'twampy_dscp_remarked_total'), [], 'not zero-initialised before it can be measured');

    s.onStats?.(stats(T, OK, { path: { ...NONE, hopsOutbound: { last: 2, min: 1, max: 2 }, hopsInbound: { last: 1, min: 1, max: 1 }, reflectorRxDscp: 0, replyDscp: 0, remarkedOutbound: 3, remarkedInbound: 0 } }));
    text = await t.exposition();
    assert.equal(sampleValue(text, `twampy_hops{${S},direction="outbound"}`), 2);
    assert.equal(sampleValue(text, `twampy_hops{${S},direction="inbound"}`), 1);
    assert.equal(sampleValue(text, `twampy_dscp_remarked_total{${S},direction="outbound"}`), 3);
    assert.equal(sampleValue(text, `twampy_dscp_remarked_total{${S},direction="inbound"}`), 0);

    // Next period: Sender TTL only (portable layer at our end), 2 more re-marked.
    s.onStats?.(stats(T, OK, { path: { ...NONE, hopsOutbound: { last: 1, min: 1, max: 1 }, reflectorRxDscp: 0, remarkedOutbound: 2 } }));
    text = await t.exposition();
    assert.equal(sampleValue(text, `twampy_hops{${S},direction="outbound"}`), 1);
    assert.deepEqual(samples(text, 'twampy_hops').filter((l) => l.includes('inbound')), [], 'inbound hops gone when not measured');
    assert.equal(sampleValue(text, `twampy_dscp_remarked_total{${S},direction="outbound"}`), 5);

    // A target error: the hop figure is no longer current.
    s.onTargetError?.({ target: T, code: 'ERR_SOCKET', message: 'boom' });
    assert.deepEqual(samples(await t.exposition(), 'twampy_hops'), []);

    // Removing the target removes the counters too.
    s.onTargetRemoved?.(T);
    text = await t.exposition();
    assert.deepEqual(samples(text, 'twampy_dscp_remarked_total'), []);
  } finally {
    await t.shutdown();
  }
});
