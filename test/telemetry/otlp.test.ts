/**
 * OTLP push through the real exporters to a loopback receiver that decodes JSON and protobuf,
 * with a real sender and responder producing the measurements.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { OTLPMetricExporter as JsonExporter } from '@opentelemetry/exporter-metrics-otlp-http';
import { OTLPMetricExporter as ProtoExporter } from '@opentelemetry/exporter-metrics-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { AggregationTemporality, DataPointType, type ResourceMetrics } from '@opentelemetry/sdk-metrics';
import { DEFAULT_DELAY_BUCKETS_S } from '../../src/telemetry/catalog.js';
import { dir, RecordingLogger, sampleValue, startTestTelemetry, stats } from './fixtures.js';
import { poll, startLive } from './live.js';
import { latestWith, startOtlpReceiver, type OtlpRequest } from './otlp-receiver.js';

function point(req: OtlpRequest, name: string, attrs: Record<string, string>) {
  return req.metrics.get(name)?.points.find((p) => Object.entries(attrs).every(([k, v]) => p.attributes[k] === v));
}

for (const protocol of ['http/json', 'http/protobuf'] as const) {
  test(`OTLP ${protocol}: names, values, temporality, headers and resource attributes`, async () => {
    const receiver = await startOtlpReceiver('ok');
    const tel = await startTestTelemetry(
      { otlp: receiver.url, otlpProtocol: protocol },
      {
        OTEL_METRIC_EXPORT_INTERVAL: '250',
        OTEL_EXPORTER_OTLP_HEADERS: 'x-tenant=lab',
        OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment=lab',
      },
    );
    const live = await startLive({
      targets: 2,
      intervalMs: 20,
      synced: true,
      periodMs: 300,
      senderObserver: tel.sender(),
      responderObserver: tel.responder(),
    });
    try {
      const req = await poll('a push with latency gauges for both targets', () => {
        const r = latestWith(receiver, 'twampy_latency_avg');
        return r && live.targets.every((t) => point(r, 'twampy_latency_avg', { target: t, direction: 'roundtrip' })) ? r : undefined;
      });
      assert.match(req.contentType, protocol === 'http/json' ? /^application\/json/ : /^application\/x-protobuf/);
      assert.equal(req.headers['x-tenant'], 'lab');
      assert.equal(req.resource['service.name'], 'twampy');
      assert.equal(req.resource['service.version'], '1.2.3');
      assert.equal(req.resource['service.instance.id'], 'test-instance');
      assert.equal(req.resource['host.name'], 'test-host');
      assert.equal(req.resource['deployment.environment'], 'lab');

      const sent = req.metrics.get('twampy_packets_sent');
      assert.equal(sent?.kind, 'sum');
      assert.equal(sent?.monotonic, true);
      assert.equal(sent?.temporality, 2, 'cumulative');
      assert.equal(sent?.unit, '{packet}');
      assert.equal(sent?.scope, 'twampy');
      for (const t of live.targets) {
        assert.ok((point(req, 'twampy_packets_sent', { target: t, source: 'probe-1' })?.value ?? 0) > 0, `sent for ${t}`);
        const avg = point(req, 'twampy_latency_avg', { target: t, direction: 'roundtrip' })?.value;
        assert.ok(avg !== undefined && avg > 0 && avg < 1000, `roundtrip avg of ${t} is ${avg} ms`);
        const h = point(req, 'twampy_delay_seconds', { target: t, direction: 'roundtrip' });
        assert.deepEqual(h?.explicitBounds, [...DEFAULT_DELAY_BUCKETS_S]);
        assert.ok((h?.count ?? 0) > 0);
        assert.equal(h?.bucketCounts?.reduce((a, b) => a + b, 0), h?.count);
        // Clocks claimed synchronised: one-way histograms are there too.
        assert.ok((point(req, 'twampy_delay_seconds', { target: t, direction: 'outbound' })?.count ?? 0) > 0);
      }
      assert.equal(req.metrics.get('twampy_latency_avg')?.kind, 'gauge');
      assert.equal(req.metrics.get('twampy_latency_avg')?.unit, 'ms');
      assert.equal(req.metrics.get('twampy_delay_seconds')?.kind, 'histogram');
      assert.ok((point(req, 'twampy_responder_packets_reflected', { source: 'probe-1' })?.value ?? 0) > 0);

      // Cumulative: a later push carries a larger total with the same start time.
      const before = point(req, 'twampy_packets_sent', { target: 't0' })!;
      const later = await poll('a later push with more packets', () => {
        const r = receiver.requests.at(-1);
        const p = r && point(r, 'twampy_packets_sent', { target: 't0' });
        return p && p.value! > before.value! ? p : undefined;
      });
      assert.equal(later.startTimeUnixNano, before.startTimeUnixNano);
      const last = receiver.requests.at(-1)!;
      assert.ok((point(last, 'twampy_otlp_exports', {})?.value ?? 0) >= 1);
      assert.equal(point(last, 'twampy_otlp_export_failures', {})?.value, 0);
    } finally {
      await live.close();
      await tel.shutdown(2000);
      await receiver.close();
    }
  });
}

test('OTLP: the last batch is pushed on shutdown', async () => {
  const receiver = await startOtlpReceiver('ok');
  const tel = await startTestTelemetry({ otlp: receiver.url, otlpProtocol: 'http/json' }, { OTEL_METRIC_EXPORT_INTERVAL: '600000' });
  try {
    const s = tel.sender();
    s.onStats?.(stats('final:1', { outbound: dir(null, null, null, null, null), inbound: dir(null, null, null, null, null), roundtrip: dir(1, 1, 1, 0, 0) }, { sent: 7, received: 7 }));
    assert.equal(receiver.requests.length, 0, 'nothing pushed before the interval');
    await tel.shutdown(3000);
    assert.equal(receiver.requests.length, 1);
    assert.equal(point(receiver.requests[0]!, 'twampy_packets_sent', { target: 'final:1' })?.value, 7);
  } finally {
    await tel.shutdown(1000);
    await receiver.close();
  }
});

for (const [preference, protocol] of [['delta', 'http/protobuf'], ['lowmemory', 'http/json']] as const) {
  test(`OTLP ${protocol} with OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE=${preference}: deltas that add up`, async () => {
    const receiver = await startOtlpReceiver('ok');
    const tel = await startTestTelemetry(
      { otlp: receiver.url, otlpProtocol: protocol },
      { OTEL_METRIC_EXPORT_INTERVAL: '150', OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE: preference },
      new RecordingLogger(),
      true,
    );
    const none = dir(null, null, null, null, null);
    const period = (sent: number, samplesMs: number[]) =>
      stats('d:1', { outbound: none, inbound: none, roundtrip: dir(1, 1, 1, 0, 0, samplesMs) }, { sent, received: samplesMs.length });
    try {
      const s = tel.sender();
      s.onStats?.(period(7, [1, 2]));
      const first = await poll('a push with the first period', () => {
        const r = latestWith(receiver, 'twampy_packets_sent');
        return r && point(r, 'twampy_packets_sent', { target: 'd:1' }) ? r : undefined;
      });
      const sent1 = point(first, 'twampy_packets_sent', { target: 'd:1' })!;
      assert.equal(first.metrics.get('twampy_packets_sent')?.temporality, 1, 'delta');
      assert.equal(sent1.value, 7);
      assert.equal(point(first, 'twampy_delay_seconds', { target: 'd:1', direction: 'roundtrip' })?.count, 2);
      assert.equal(first.metrics.get('twampy_latency_avg')?.kind, 'gauge');
      // Observable counters (the process CPU seconds) are deltas under delta, cumulative under lowmemory.
      assert.equal(first.metrics.get('process_cpu_seconds')?.temporality, preference === 'delta' ? 1 : 2);

      const pushesBefore = receiver.requests.length;
      s.onStats?.(period(5, [3, 4, 5]));
      const later = await poll('a push with the second period', () => {
        const r = receiver.requests.slice(pushesBefore).find((q) => point(q, 'twampy_packets_sent', { target: 'd:1' }));
        return r;
      });
      const sent2 = point(later, 'twampy_packets_sent', { target: 'd:1' })!;
      assert.equal(sent2.value, 5, 'the second period only');
      assert.equal(sent2.startTimeUnixNano, sent1.timeUnixNano, 'from where the previous delta ended');
      const h2 = point(later, 'twampy_delay_seconds', { target: 'd:1', direction: 'roundtrip' })!;
      assert.equal(h2.count, 3);
      assert.equal(h2.bucketCounts?.reduce((a, b) => a + b, 0), 3);
      // Pushes in between carried no packet counts for the target: the deltas add up to the total.
      const total = receiver.requests.reduce((n, q) => n + (point(q, 'twampy_packets_sent', { target: 'd:1' })?.value ?? 0), 0);
      assert.equal(total, 12);
    } finally {
      await tel.shutdown(2000);
      await receiver.close();
    }
  });
}

for (const broken of ['down', 'refusing'] as const) {
  test(`OTLP: a collector that is ${broken} is counted and logged, and measuring goes on`, async () => {
    const receiver = await startOtlpReceiver('refuse');
    let url = receiver.url;
    if (broken === 'down') {
      await receiver.close(); // nothing listens on that port any more
    }
    const logger = new RecordingLogger();
    const tel = await startTestTelemetry(
      { otlp: url, otlpProtocol: 'http/protobuf' },
      { OTEL_METRIC_EXPORT_INTERVAL: '200', OTEL_EXPORTER_OTLP_TIMEOUT: '300' },
      logger,
    );
    const live = await startLive({ targets: 1, intervalMs: 20, senderObserver: tel.sender(), responderObserver: tel.responder() });
    try {
      const failuresAt = (text: string) => sampleValue(text, 'twampy_otlp_export_failures_total{source="probe-1"}') ?? 0;
      const receivedAt = (text: string) => sampleValue(text, 'twampy_packets_received_total{source="probe-1",target="t0"}') ?? 0;
      const first = await poll('two failed pushes', async () => {
        const text = await tel.exposition();
        return failuresAt(text) >= 2 ? text : undefined;
      });
      const later = await poll('more replies received while pushes fail', async () => {
        const text = await tel.exposition();
        return receivedAt(text) >= receivedAt(first) + 20 && failuresAt(text) > failuresAt(first) ? text : undefined;
      });
      assert.ok(receivedAt(later) > 0);
      const lines = logger.lines.filter((l) => l.key === 'telemetry-otlp');
      assert.ok(lines.length >= 1);
      assert.match(lines[0]!.msg, new RegExp(`^OTLP push to ${url.replace(/[.]/g, '\\.')} failed: .+; the batch is dropped and the next push retries$`));
      if (broken === 'refusing') assert.ok(receiver.attempts >= 2);
      const t0 = Date.now();
      await tel.shutdown(1000);
      assert.ok(Date.now() - t0 < 3000, 'shutdown does not wait for a broken collector');
    } finally {
      await live.close();
      await tel.shutdown(1000);
      await receiver.close();
    }
  });
}

// The series store refills the points it hands to the OTLP reader in place at the next collection
// (series-store.ts, `snapshot`). That is safe only because the exporters encode a batch inside
// `export()`, before it returns; this holds the pinned exporters to it.
for (const protocol of ['http/json', 'http/protobuf'] as const) {
  test(`OTLP ${protocol}: the exporter has encoded a batch when export() returns, so a later change to its points is not sent`, async () => {
    const receiver = await startOtlpReceiver('ok');
    const options = { url: receiver.url, concurrencyLimit: 1 };
    const exporter = protocol === 'http/json' ? new JsonExporter(options) : new ProtoExporter(options);
    const point = { attributes: { target: 't0' }, startTime: [1_700_000_000, 0] as [number, number], endTime: [1_700_000_010, 0] as [number, number], value: 7 };
    const counts = [1, 2, 0];
    const histogram = {
      attributes: { target: 't0' },
      startTime: point.startTime,
      endTime: point.endTime,
      value: { buckets: { boundaries: [0.001, 0.01], counts }, count: 3, sum: 0.012, min: 0.0005, max: 0.009 },
    };
    const descriptor = (name: string) => ({ name, description: '', unit: '', valueType: 1 });
    const batch: ResourceMetrics = {
      resource: resourceFromAttributes({ 'service.name': 'twampy' }),
      scopeMetrics: [
        {
          scope: { name: 'twampy' },
          metrics: [
            { descriptor: descriptor('g'), aggregationTemporality: AggregationTemporality.CUMULATIVE, dataPointType: DataPointType.GAUGE, dataPoints: [point] },
            { descriptor: descriptor('h'), aggregationTemporality: AggregationTemporality.CUMULATIVE, dataPointType: DataPointType.HISTOGRAM, dataPoints: [histogram] },
          ],
        },
      ],
    };
    try {
      const done = new Promise<number>((resolve) => exporter.export(batch, (r) => resolve(r.code)));
      // What the store does at its next collection, before the request has even left.
      point.value = 8;
      counts[2] = 5;
      histogram.value.count = 8;
      assert.equal(await done, 0, 'the push succeeded');
      const req = receiver.requests.at(-1)!;
      assert.equal(req.metrics.get('g')?.points[0]?.value, 7);
      assert.deepEqual(req.metrics.get('h')?.points[0]?.bucketCounts, [1, 2, 0]);
      assert.equal(req.metrics.get('h')?.points[0]?.count, 3);
    } finally {
      await exporter.shutdown();
      await receiver.close();
    }
  });
}
