import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AggregationTemporality, DataPointType, MeterProvider, type CollectionResult, type Histogram, type MetricData } from '@opentelemetry/sdk-metrics';
import { DeltaReader, SeriesStore } from '../../src/telemetry/series-store.js';
import { DeltaConverter } from '../../src/telemetry/temporality.js';
import type { TemporalityPreference } from '../../src/telemetry/options.js';

function setup(preference: Exclude<TemporalityPreference, 'cumulative'>) {
  const reader = new DeltaReader(100_000);
  const provider = new MeterProvider({ readers: [reader] });
  const store = new SeriesStore(reader);
  const converter = new DeltaConverter(preference);
  const push = async (): Promise<CollectionResult> => converter.convert(await store.collect());
  return { provider, store, meter: provider.getMeter('t'), push };
}

function metric(r: CollectionResult, name: string): MetricData | undefined {
  for (const sm of r.resourceMetrics.scopeMetrics) for (const m of sm.metrics) if (m.descriptor.name === name) return m;
  return undefined;
}

function pointOf(r: CollectionResult, name: string, target: string) {
  return metric(r, name)?.dataPoints.find((p) => p.attributes.target === target);
}

const sameTime = (a: readonly number[], b: readonly number[]) => a[0] === b[0] && a[1] === b[1];

test('delta: counters push the difference since the last push, from the last push time; unchanged series are left out', async () => {
  const { store, provider, push } = setup('delta');
  const sent = store.counter({ name: 'sent', description: '', unit: '', valueType: 1 });
  const a = sent.series({ target: 'a' });
  const b = sent.series({ target: 'b' });
  a.add(7);
  b.add(1);
  const first = await push();
  assert.equal(metric(first, 'sent')?.aggregationTemporality, AggregationTemporality.DELTA);
  const a1 = pointOf(first, 'sent', 'a')!;
  assert.equal(a1.value, 7, 'the first push carries everything since the series started');
  a.add(5);
  const second = await push();
  const a2 = pointOf(second, 'sent', 'a')!;
  assert.equal(a2.value, 5);
  assert.ok(sameTime(a2.startTime, a1.endTime), 'a delta starts where the previous push ended');
  assert.equal(pointOf(second, 'sent', 'b'), undefined, 'b did not move');
  const third = await push();
  assert.equal(metric(third, 'sent'), undefined, 'nothing moved: no sum at all');
  // Removed and back: a fresh series whose first delta is its whole count.
  store.removeSeries('target', 'a');
  await push();
  a.add(2);
  const fourth = await push();
  assert.equal(pointOf(fourth, 'sent', 'a')?.value, 2);
  await provider.shutdown();
});

test('delta: histograms push bucket, count and sum differences without the lifetime min and max', async () => {
  const { store, provider, push } = setup('delta');
  const h = store.histogram({ name: 'delay', description: '', unit: 's', valueType: 1 }, [1, 10]);
  const a = h.series({ target: 'a' });
  a.record(0.5);
  a.record(20);
  const first = (pointOf(await push(), 'delay', 'a')!.value as Histogram);
  assert.deepEqual(first.buckets.counts, [1, 0, 1]);
  assert.equal(first.min, 0.5, 'the first push spans the series life: its min and max are right');
  assert.equal(first.max, 20);
  a.record(5);
  a.record(6);
  const r = await push();
  assert.equal(metric(r, 'delay')?.dataPointType, DataPointType.HISTOGRAM);
  assert.equal(metric(r, 'delay')?.aggregationTemporality, AggregationTemporality.DELTA);
  const second = pointOf(r, 'delay', 'a')!.value as Histogram;
  assert.deepEqual(second.buckets.counts, [0, 2, 0]);
  assert.equal(second.count, 2);
  assert.equal(second.sum, 11);
  assert.equal(second.min, undefined);
  assert.equal(second.max, undefined);
  assert.equal(metric(await push(), 'delay'), undefined, 'no new values: left out');
  await provider.shutdown();
});

test('delta and lowmemory: gauges stay gauges; observable counters are deltas only under delta', async () => {
  for (const preference of ['delta', 'lowmemory'] as const) {
    const { store, provider, meter, push } = setup(preference);
    const g = store.gauge({ name: 'latency', description: '', unit: 'ms', valueType: 1 });
    g.series({ target: 'a' }).set(3);
    let cpu = 1.5;
    // The catalogue's observable counter: the process CPU seconds.
    meter.createObservableCounter('process_cpu_seconds').addCallback((o) => o.observe(cpu, { target: 'a' }));
    await push();
    cpu = 2;
    const r = await push();
    const gauge = metric(r, 'latency');
    assert.equal(gauge?.dataPointType, DataPointType.GAUGE);
    assert.equal(pointOf(r, 'latency', 'a')?.value, 3, 'a gauge is pushed every time, as it is');
    const c = metric(r, 'process_cpu_seconds');
    if (preference === 'delta') {
      assert.equal(c?.aggregationTemporality, AggregationTemporality.DELTA);
      assert.equal(pointOf(r, 'process_cpu_seconds', 'a')?.value, 0.5);
    } else {
      assert.equal(c?.aggregationTemporality, AggregationTemporality.CUMULATIVE);
      assert.equal(pointOf(r, 'process_cpu_seconds', 'a')?.value, 2);
    }
    await provider.shutdown();
  }
});
