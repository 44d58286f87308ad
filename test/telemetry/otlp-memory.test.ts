/**
 * A collector that accepts connections and never answers must leave the sender measuring and
 * its memory flat: at most one push is in flight, failed batches are dropped, not queued.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { startOtlpReceiver } from './otlp-receiver.js';
import { runNode } from '../helpers/cli.js';

interface Sample {
  t: number;
  heapUsed: number;
  received: number;
}

test('OTLP: a hanging collector leaves measuring going and memory flat', { timeout: 60_000 }, async () => {
  const receiver = await startOtlpReceiver('hang');
  try {
    const child = fileURLToPath(new URL('./otlp-memory-child.js', import.meta.url));
    const { code, stdout: out, stderr } = await runNode(
      ['--expose-gc', child, receiver.url, '10', '50'],
      { OTEL_METRIC_EXPORT_INTERVAL: '200', OTEL_EXPORTER_OTLP_TIMEOUT: '1000' },
      50_000,
    );
    assert.equal(code, 0, `child failed: ${stderr}`);
    const samples = out.trim().split('\n').map((l) => JSON.parse(l) as Sample);
    assert.equal(samples.length, 10);
    for (let i = 1; i < samples.length; i++) {
      assert.ok(samples[i]!.received > samples[i - 1]!.received, `replies kept coming in second ${samples[i]!.t}: ${JSON.stringify(samples)}`);
    }
    assert.ok(receiver.attempts >= 3, `the exporter kept trying (${receiver.attempts} requests)`);
    // After a warm-up of 3 s, the heap after a full GC stays within a few MB: a queue of pending
    // batches (50 targets, a push every 200 ms) would add several MB per second.
    const base = samples[2]!.heapUsed;
    const peak = Math.max(...samples.slice(3).map((s) => s.heapUsed));
    const growthMb = (peak - base) / 2 ** 20;
    assert.ok(growthMb < 4, `heap grew ${growthMb.toFixed(1)} MB after warm-up: ${samples.map((s) => (s.heapUsed / 2 ** 20).toFixed(1)).join(' ')}`);
  } finally {
    await receiver.close();
  }
});
