/**
 * The sender records once per period, so every scrape describes the same completed periods: a
 * live sender through a relay that drops packets each way never shows a packet as sent but
 * neither received nor lost, and its roundtrip histogram counts exactly the packets received.
 * Recording per packet would fail this: a packet in flight is sent but not yet either.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sampleValue, startTestTelemetry } from './fixtures.js';
import { startLive } from './live.js';

test('every scrape: sent = received + lost, and the roundtrip histogram counts the packets received', async () => {
  const tel = await startTestTelemetry({});
  const live = await startLive({
    targets: 2,
    intervalMs: 10,
    periodMs: 250,
    timeoutMs: 150,
    impaired: [0, 1],
    // Every 4th request and every 7th reply lost.
    impairment: { outbound: { drop: (n) => n % 4 === 0 }, inbound: { drop: (n) => n % 7 === 0 } },
    senderObserver: tel.sender(),
    responderObserver: tel.responder(),
  });
  try {
    let checked = 0;
    let lostSeen = 0;
    const deadline = Date.now() + 4000;
    while (Date.now() < deadline) {
      // Scrapes at times unrelated to the periods' ends.
      await new Promise((r) => setTimeout(r, 37 + Math.random() * 60));
      const text = await tel.exposition();
      for (const target of live.targets) {
        const labels = `source="probe-1",target="${target}"`;
        const sent = sampleValue(text, `twampy_packets_sent_total{${labels}}`);
        const received = sampleValue(text, `twampy_packets_received_total{${labels}}`);
        const lost = sampleValue(text, `twampy_packets_lost_total{${labels},direction="roundtrip"}`);
        const count = sampleValue(text, `twampy_delay_seconds_count{${labels},direction="roundtrip"}`);
        if (sent === undefined || received === undefined || lost === undefined) assert.fail(`counters of ${target} missing`);
        assert.equal(sent, received + lost, `${target}: sent ${sent}, received ${received}, lost ${lost}`);
        if (received > 0) assert.equal(count, received, `${target}: histogram count against received`);
        if (sent > 0) checked++;
        lostSeen = Math.max(lostSeen, lost);
      }
    }
    assert.ok(checked >= 20, `only ${checked} scrapes with packets`);
    assert.ok(lostSeen > 0, 'the relay dropped packets, so some were counted as lost');
  } finally {
    await live.close();
    await tel.shutdown();
  }
});
