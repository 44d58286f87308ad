/**
 * Golden exposition: the exact text /metrics serves for a known sequence of session events,
 * produced by the real MeterProvider, store and PrometheusSerializer.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PrometheusSerializer } from '@opentelemetry/exporter-prometheus';
import { PROCESSING_BUCKETS_S } from '../../src/telemetry/catalog.js';
import { dir, samples, sampleValue, startTestTelemetry, stats } from './fixtures.js';

const T = 'r1:20001';
const S = 'source="probe-1",target="r1:20001"';

function histogramLines(name: string, labels: string, bounds: readonly number[], values: number[]): string {
  let sum = 0;
  for (const v of values) sum += v;
  const lines = [`${name}_count{${labels}} ${values.length}`, `${name}_sum{${labels}} ${sum}`];
  for (const b of bounds) lines.push(`${name}_bucket{${labels},le="${b}"} ${values.filter((v) => v <= b).length}`);
  lines.push(`${name}_bucket{${labels},le="+Inf"} ${values.length}`);
  return lines.join('\n');
}

test('golden: sender and responder series, types, units and labels', async () => {
  const buckets = [0.001, 0.01, 0.1];
  const t = await startTestTelemetry({ nodegraph: true, buckets });
  try {
    const s = t.sender();
    const r = t.responder();
    s.onTargetAdded?.(T);
    // One period: 4 sent, 3 on time (seq 0, 2, 1: the last reordered), a duplicate of 2, seq 3
    // lost and then late. Its delay samples are the on-time replies'.
    s.onStats?.(
      stats(
        T,
        {
          outbound: dir(2, 9.667, 20, 1.5, 25, [2, 7, 20]),
          inbound: dir(3, 13.667, 30, 2.5, 0, [3, 8, 30]),
          roundtrip: dir(5, 23.333, 50, 3.25, 25, [5, 15, 50]),
        },
        { sent: 4, received: 3, lost: 1, lostOutbound: 1, lostInbound: 0, duplicates: 1, reordered: 1, late: 1, clockSynced: true },
      ),
    );
    s.onDrop?.({ reason: 'malformed', address: '192.0.2.1', port: 9 });
    s.onDrop?.({ reason: 'malformed', address: '192.0.2.1', port: 9 });
    r.onReflected?.({ address: '192.0.2.7', port: 5000, requestBytes: 41, replyBytes: 41, processingNs: 3_000n, format: 'twamp' });
    r.onReflected?.({ address: '192.0.2.7', port: 5000, requestBytes: 44, replyBytes: 44, processingNs: 40_000n, format: 'stamp' });
    r.onDropped?.({ reason: 'malformed', address: '192.0.2.8', port: 1, bytes: 3, detail: 'short' });
    r.onDropped?.({ reason: 'rate_limited', address: '192.0.2.8', port: 1, bytes: 41, detail: 'limit' });
    r.onSessionCount?.(2);

    const expected = `# HELP target_info Target metadata
# TYPE target_info gauge
target_info{service_instance_id="test-instance",host_name="test-host",service_name="twampy",service_version="1.2.3"} 1
# HELP twampy_packets_sent_total Test packets sent, counted at the end of the round or period that settled their fate (reply or timeout), so that sent = received + lost
# UNIT twampy_packets_sent_total {packet}
# TYPE twampy_packets_sent_total counter
twampy_packets_sent_total{${S}} 4
# HELP twampy_packets_received_total Replies received within the timeout (duplicates excluded)
# UNIT twampy_packets_received_total {packet}
# TYPE twampy_packets_received_total counter
twampy_packets_received_total{${S}} 3
# HELP twampy_packets_lost_total Packets without a reply within the timeout; outbound and inbound only when the reflector keeps its own sequence counter
# UNIT twampy_packets_lost_total {packet}
# TYPE twampy_packets_lost_total counter
twampy_packets_lost_total{${S},direction="roundtrip"} 1
twampy_packets_lost_total{${S},direction="outbound"} 1
twampy_packets_lost_total{${S},direction="inbound"} 0
# HELP twampy_packets_duplicated_total Duplicate replies received
# UNIT twampy_packets_duplicated_total {packet}
# TYPE twampy_packets_duplicated_total counter
twampy_packets_duplicated_total{${S}} 1
# HELP twampy_packets_reordered_total Replies that arrived after a reply with a higher sequence number (RFC 4737)
# UNIT twampy_packets_reordered_total {packet}
# TYPE twampy_packets_reordered_total counter
twampy_packets_reordered_total{${S}} 1
# HELP twampy_packets_late_total Replies that arrived after the timeout (also counted as lost)
# UNIT twampy_packets_late_total {packet}
# TYPE twampy_packets_late_total counter
twampy_packets_late_total{${S}} 1
# HELP twampy_delay_seconds Delay per on-time reply in seconds, added at the end of each round or period; roundtrip always, outbound and inbound only when both clocks were synchronised for the whole period or one-way histograms are forced
# UNIT twampy_delay_seconds s
# TYPE twampy_delay_seconds histogram
${histogramLines('twampy_delay_seconds', `${S},direction="roundtrip"`, buckets, [0.005, 0.015, 0.05])}
${histogramLines('twampy_delay_seconds', `${S},direction="outbound"`, buckets, [0.002, 0.007, 0.02])}
${histogramLines('twampy_delay_seconds', `${S},direction="inbound"`, buckets, [0.003, 0.008, 0.03])}
# HELP twampy_latency_min TWAMP min latency in ms over the last round or period
# UNIT twampy_latency_min ms
# TYPE twampy_latency_min gauge
twampy_latency_min{${S},direction="outbound"} 2
twampy_latency_min{${S},direction="inbound"} 3
twampy_latency_min{${S},direction="roundtrip"} 5
# HELP twampy_latency_avg TWAMP avg latency in ms over the last round or period
# UNIT twampy_latency_avg ms
# TYPE twampy_latency_avg gauge
twampy_latency_avg{${S},direction="outbound"} 9.667
twampy_latency_avg{${S},direction="inbound"} 13.667
twampy_latency_avg{${S},direction="roundtrip"} 23.333
# HELP twampy_latency_max TWAMP max latency in ms over the last round or period
# UNIT twampy_latency_max ms
# TYPE twampy_latency_max gauge
twampy_latency_max{${S},direction="outbound"} 20
twampy_latency_max{${S},direction="inbound"} 30
twampy_latency_max{${S},direction="roundtrip"} 50
# HELP twampy_jitter TWAMP jitter (RFC 3550) in ms at the end of the last round or period
# UNIT twampy_jitter ms
# TYPE twampy_jitter gauge
twampy_jitter{${S},direction="outbound"} 1.5
twampy_jitter{${S},direction="inbound"} 2.5
twampy_jitter{${S},direction="roundtrip"} 3.25
# HELP twampy_loss TWAMP loss in percent of packets sent in the last round or period
# UNIT twampy_loss %
# TYPE twampy_loss gauge
twampy_loss{${S},direction="outbound"} 25
twampy_loss{${S},direction="inbound"} 0
twampy_loss{${S},direction="roundtrip"} 25
# HELP twampy_result TWAMP result of the last round or period: 1 for the current state (ok or error), 0 for the other
# UNIT twampy_result 1
# TYPE twampy_result gauge
twampy_result{${S},twampy_result="ok"} 1
twampy_result{${S},twampy_result="error"} 0
# HELP twampy_clock_synchronized 1 when every reply of the last period that had replies came with both clocks claiming synchronisation (S bit), else 0
# UNIT twampy_clock_synchronized 1
# TYPE twampy_clock_synchronized gauge
twampy_clock_synchronized{${S}} 1
# HELP twampy_edge Edge for the Grafana node graph, 1 while the target is configured; loss and latency come from twampy_loss and twampy_latency_avg
# UNIT twampy_edge 1
# TYPE twampy_edge gauge
twampy_edge{id="probe-1-r1:20001",${S}} 1
# HELP twampy_responder_processing_seconds Responder processing time T3-T2 in seconds
# UNIT twampy_responder_processing_seconds s
# TYPE twampy_responder_processing_seconds histogram
${histogramLines('twampy_responder_processing_seconds', 'source="probe-1"', PROCESSING_BUCKETS_S, [3e-6, 4e-5])}
# HELP twampy_sender_packets_dropped_total Datagrams the sender could not use, by reason
# UNIT twampy_sender_packets_dropped_total {packet}
# TYPE twampy_sender_packets_dropped_total counter
twampy_sender_packets_dropped_total{source="probe-1",reason="malformed"} 2
# HELP twampy_responder_packets_reflected_total Test packets reflected
# UNIT twampy_responder_packets_reflected_total {packet}
# TYPE twampy_responder_packets_reflected_total counter
twampy_responder_packets_reflected_total{source="probe-1"} 2
# HELP twampy_responder_packets_dropped_total Datagrams dropped by the responder, by reason
# UNIT twampy_responder_packets_dropped_total {packet}
# TYPE twampy_responder_packets_dropped_total counter
twampy_responder_packets_dropped_total{source="probe-1",reason="malformed"} 1
twampy_responder_packets_dropped_total{source="probe-1",reason="not_allowed"} 0
twampy_responder_packets_dropped_total{source="probe-1",reason="rate_limited"} 1
twampy_responder_packets_dropped_total{source="probe-1",reason="unknown_session"} 0
# HELP twampy_responder_active_sessions Sessions (sender address and port) the responder currently holds
# UNIT twampy_responder_active_sessions {session}
# TYPE twampy_responder_active_sessions gauge
twampy_responder_active_sessions{source="probe-1"} 2
`;
    assert.equal(await t.exposition(), expected);
    // Our writer and the SDK's PrometheusSerializer agree byte for byte on the same points.
    const sdk = new PrometheusSerializer(undefined, false, undefined, false, true);
    assert.equal(sdk.serialize((await t.collect()).resourceMetrics), expected);
  } finally {
    await t.shutdown();
  }
});

test('a failed round removes latency and jitter instead of leaving the last good values', async () => {
  const t = await startTestTelemetry({});
  try {
    const s = t.sender();
    s.onStats?.(stats(T, { outbound: dir(1, 2, 3, 0.5, 0), inbound: dir(1, 2, 3, 0.5, 0), roundtrip: dir(2, 4, 6, 1, 0) }, { clockSynced: true }));
    let text = await t.exposition();
    assert.equal(samples(text, 'twampy_latency_avg').length, 3);
    assert.equal(sampleValue(text, `twampy_result{${S},twampy_result="ok"}`), 1);
    assert.equal(sampleValue(text, `twampy_clock_synchronized{${S}}`), 1);

    // Every packet of the next period lost: no samples, loss 100 %, result error.
    const none = dir(null, null, null, null, 100);
    s.onStats?.(stats(T, { outbound: dir(null, null, null, null, null), inbound: dir(null, null, null, null, null), roundtrip: none }, { sent: 10, received: 0, lost: 10 }));
    text = await t.exposition();
    for (const name of ['twampy_latency_min', 'twampy_latency_avg', 'twampy_latency_max', 'twampy_jitter']) {
      assert.deepEqual(samples(text, name), [], `${name} must not survive a failed round`);
    }
    assert.deepEqual(samples(text, 'twampy_loss'), [`twampy_loss{${S},direction="roundtrip"} 100`]);
    assert.equal(sampleValue(text, `twampy_result{${S},twampy_result="ok"}`), 0);
    assert.equal(sampleValue(text, `twampy_result{${S},twampy_result="error"}`), 1);
    // A period without replies says nothing new about the clocks.
    assert.equal(sampleValue(text, `twampy_clock_synchronized{${S}}`), 1);

    // Good again, then a target error (e.g. the socket failed): figures go, result is error.
    s.onStats?.(stats(T, { outbound: dir(1, 2, 3, 0.5, 0), inbound: dir(1, 2, 3, 0.5, 0), roundtrip: dir(2, 4, 6, 1, 0) }));
    assert.equal(samples(await t.exposition(), 'twampy_latency_avg').length, 3);
    s.onTargetError?.({ target: T, code: 'ERR_SOCKET', message: 'boom' });
    text = await t.exposition();
    assert.deepEqual(samples(text, 'twampy_latency_avg'), []);
    assert.equal(sampleValue(text, `twampy_result{${S},twampy_result="error"}`), 1);
    assert.equal(sampleValue(text, `twampy_target_errors_total{${S},reason="err_socket"}`), 1);

    // An error about a name that is not measured is counted but creates no other series.
    s.onTargetError?.({ target: 'nowhere.invalid:20001', code: 'ERR_RESOLVE', message: 'ENOTFOUND' });
    text = await t.exposition();
    assert.equal(sampleValue(text, 'twampy_target_errors_total{source="probe-1",target="nowhere.invalid:20001",reason="err_resolve"}'), 1);
    assert.equal(text.split('\n').filter((l) => l.includes('nowhere.invalid')).length, 1);
  } finally {
    await t.shutdown();
  }
});

test('one-way histograms need synchronised clocks unless forced; negative one-way delays are left out', async () => {
  // Two replies with unsynchronised clocks, one of them with a negative outbound delay.
  const period = stats(T, { outbound: dir(-4, -1, 2, 0, 0, [2, -4]), inbound: dir(3, 6, 9, 0, 0, [3, 9]), roundtrip: dir(5, 5, 5, 0, 0, [5, 5]) }, { sent: 2, received: 2 });
  for (const force of [false, true]) {
    const t = await startTestTelemetry({ oneWayHistograms: force });
    try {
      const s = t.sender();
      s.onStats?.(period);
      const text = await t.exposition();
      assert.equal(sampleValue(text, `twampy_delay_seconds_count{${S},direction="roundtrip"}`), 2);
      assert.equal(sampleValue(text, `twampy_delay_seconds_count{${S},direction="outbound"}`), force ? 1 : undefined);
      assert.equal(sampleValue(text, `twampy_delay_seconds_count{${S},direction="inbound"}`), force ? 2 : undefined);
      if (force) assert.equal(sampleValue(text, `twampy_delay_seconds_sum{${S},direction="outbound"}`), 0.002);
    } finally {
      await t.shutdown();
    }
  }
});

test('removing a target removes all of its series and keeps the others', async () => {
  const t = await startTestTelemetry({ nodegraph: true });
  try {
    const s = t.sender();
    for (const name of ['a:1', 'b:1']) {
      s.onTargetAdded?.(name);
      s.onStats?.(stats(name, { outbound: dir(0.5, 0.5, 0.5, 0, 0), inbound: dir(0.5, 0.5, 0.5, 0, 0), roundtrip: dir(1, 1, 1, 0, 0) }, { lostOutbound: 0, lostInbound: 0, clockSynced: true }));
    }
    const before = await t.exposition();
    const countOf = (text: string, target: string) => text.split('\n').filter((l) => l.includes(`target="${target}"`)).length;
    const perTarget = countOf(before, 'a:1');
    assert.ok(perTarget > 20, `expected the full set of series for a:1, got ${perTarget}`);
    assert.equal(countOf(before, 'b:1'), perTarget);

    // A period recorded just before the removal must not bring the series back.
    s.onStats?.(stats('a:1', { outbound: dir(0.5, 0.5, 0.5, 0, 0), inbound: dir(0.5, 0.5, 0.5, 0, 0), roundtrip: dir(1, 1, 1, 0, 0) }, { lostOutbound: 0, lostInbound: 0 }));
    s.onTargetRemoved?.('a:1');
    const after = await t.exposition();
    assert.equal(countOf(after, 'a:1'), 0);
    assert.equal(countOf(after, 'b:1'), perTarget);
    assert.equal(countOf(await t.exposition(), 'a:1'), 0);
  } finally {
    await t.shutdown();
  }
});
