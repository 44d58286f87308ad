import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestTelemetry } from './fixtures.js';
import { CONTROL_METRICS, exposedName } from '../../src/telemetry/catalog.js';
import { REJECT_REASONS, SESSION_OUTCOMES } from '../../src/telemetry/control-metrics.js';

function value(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(series + ' '));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

test('TWAMP server events become control series; reflected packets count as the responder\'s', async () => {
  const t = await startTestTelemetry({});
  try {
    const c = t.control();
    let text = await t.exposition();
    for (const spec of Object.values(CONTROL_METRICS)) assert.ok(text.includes(`\n${exposedName(spec)}{`), `${spec.name} present from the start`);
    for (const o of SESSION_OUTCOMES) assert.equal(value(text, `twampy_control_sessions_total{source="probe-1",outcome="${o}"}`), 0);
    for (const r of REJECT_REASONS) assert.equal(value(text, `twampy_control_rejected_total{source="probe-1",reason="${r}"}`), 0);
    c.onConnection?.({ address: '192.0.2.1', port: 1, result: 'accepted' });
    c.onConnection?.({ address: '192.0.2.1', port: 2, result: 'refused', reason: 'not_allowed' });
    c.onReject?.({ reason: 'bad_token', address: '192.0.2.1', port: 1, detail: 'wrong secret' });
    c.onSession?.({ outcome: 'accepted', address: '192.0.2.1', port: 5000, sid: 'ab' });
    c.onSession?.({ outcome: 'completed', address: '192.0.2.1', port: 5000, sid: 'ab', reflected: 3 });
    c.onActive?.(2, 1);
    c.onReflected?.({ address: '192.0.2.1', port: 5001, requestBytes: 41, replyBytes: 41, processingNs: 20_000n, format: 'twamp' });
    c.onTestDrop?.('bad_hmac', '192.0.2.1');
    text = await t.exposition();
    assert.equal(value(text, 'twampy_control_connections_total{source="probe-1",outcome="accepted"}'), 1);
    assert.equal(value(text, 'twampy_control_connections_total{source="probe-1",outcome="refused"}'), 1);
    assert.equal(value(text, 'twampy_control_rejected_total{source="probe-1",reason="bad_token"}'), 1);
    assert.equal(value(text, 'twampy_control_sessions_total{source="probe-1",outcome="accepted"}'), 1);
    assert.equal(value(text, 'twampy_control_sessions_total{source="probe-1",outcome="completed"}'), 1);
    assert.equal(value(text, 'twampy_control_active_connections{source="probe-1"}'), 2);
    assert.equal(value(text, 'twampy_control_active_sessions{source="probe-1"}'), 1);
    assert.equal(value(text, 'twampy_responder_packets_reflected_total{source="probe-1"}'), 1);
    assert.equal(value(text, 'twampy_responder_processing_seconds_count{source="probe-1"}'), 1);
    assert.equal(value(text, 'twampy_responder_packets_dropped_total{source="probe-1",reason="malformed"}'), 1);
  } finally {
    await t.shutdown();
  }
});
