import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { crc32, gunzipSync } from 'node:zlib';
import fc from 'fast-check';
import { crc32Combine, SegmentedGzip, type GzipSegment } from '../../src/telemetry/segmented-gzip.js';
import { dir, haveTool, startTestTelemetry, stats } from './fixtures.js';

/** Cuts `body` at `cuts` (sorted offsets) into segments keyed k0, k1, ... (null where `keyed` says so). */
function cut(body: Buffer, cuts: number[], written: number, keyed = (_i: number) => true): GzipSegment[] {
  const edges = [0, ...cuts.filter((c) => c > 0 && c < body.length), body.length];
  const out: GzipSegment[] = [];
  for (let i = 0; i + 1 < edges.length; i++) if (edges[i + 1]! > edges[i]!) out.push({ key: keyed(i) ? `k${i}` : null, start: edges[i]!, end: edges[i + 1]!, written });
  return out;
}

test('crc32Combine gives the CRC-32 of the concatenation (property)', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), fc.uint8Array({ maxLength: 5000 }), (a, b) => {
      const whole = crc32(Buffer.concat([a, b]));
      assert.equal(crc32Combine(crc32(a), crc32(b), b.length), whole);
    }),
    { numRuns: 300 },
  );
});

test('any cut of any text gunzips back to the text, with the right CRC and length (property)', async () => {
  await fc.assert(
    fc.asyncProperty(fc.uint8Array({ maxLength: 20_000 }), fc.array(fc.nat({ max: 20_000 }), { maxLength: 8 }), async (bytes, cuts) => {
      const body = Buffer.from(bytes);
      const gz = await new SegmentedGzip().gzip(body, cut(body, [...cuts].sort((x, y) => x - y), 1));
      assert.deepEqual(gunzipSync(gz), body);
    }),
    { numRuns: 100 },
  );
});

test('an unchanged segment is not compressed again; a changed one is; a gone key is forgotten', async () => {
  const g = new SegmentedGzip();
  const text = (a: string, b: string) => Buffer.from(`${a.repeat(2000)}${b.repeat(2000)}`);
  const first = text('a', 'b');
  await g.gzip(first, cut(first, [2000], 1));
  // Same lengths and the same `written` for k0: the cached k0 is reused even though the bytes
  // given now differ (which the writer never does: this shows the cache is what was sent).
  const second = text('x', 'c');
  const reused = gunzipSync(await g.gzip(second, [{ key: 'k0', start: 0, end: 2000, written: 1 }, { key: 'k1', start: 2000, end: 4000, written: 2 }]));
  assert.equal(reused.toString(), 'a'.repeat(2000) + 'c'.repeat(2000));
  // A new `written` compresses the segment again.
  const third = gunzipSync(await g.gzip(second, [{ key: 'k0', start: 0, end: 2000, written: 3 }, { key: 'k1', start: 2000, end: 4000, written: 2 }]));
  assert.equal(third.toString(), 'x'.repeat(2000) + 'c'.repeat(2000));
  // k1 absent from an exposition: its entry goes, so the same `written` later is compressed afresh.
  await g.gzip(second, [{ key: 'k0', start: 0, end: 4000, written: 4 }]);
  const back = text('y', 'd');
  const fresh = gunzipSync(await g.gzip(back, [{ key: 'k0', start: 0, end: 2000, written: 5 }, { key: 'k1', start: 2000, end: 4000, written: 2 }]));
  assert.equal(fresh.toString(), back.toString());
});

test('overlapping gzips: an older exposition finishing last never replaces the newer cache entry', async () => {
  const g = new SegmentedGzip();
  const older = Buffer.from('o'.repeat(50_000));
  const newer = Buffer.from('n'.repeat(50_000));
  const [a, b] = await Promise.all([g.gzip(older, [{ key: 'k', start: 0, end: older.length, written: 1 }]), g.gzip(newer, [{ key: 'k', start: 0, end: newer.length, written: 2 }])]);
  assert.deepEqual(gunzipSync(a), older);
  assert.deepEqual(gunzipSync(b), newer);
  const again = await g.gzip(newer, [{ key: 'k', start: 0, end: newer.length, written: 2 }]);
  assert.deepEqual(gunzipSync(again), newer);
});

test('a live exposition: its gzip is the body, exposition after exposition, as targets change and go (zlib and GNU gzip)', async () => {
  const t = await startTestTelemetry({ metrics: true, metricsPort: 0, metricsHost: '127.0.0.1' });
  try {
    const s = t.sender();
    // 1,000 targets, as in the benchmark: most families are over MIN_SEGMENT_BYTES and stand alone.
    const name = (i: number) => `10.0.${i >> 8}.${i & 255}:20001`;
    const period = (i: number, ms: number, lost = 0) =>
      s.onStats?.(stats(name(i), { outbound: dir(ms, ms, ms, 0, 0), inbound: dir(ms, ms, ms, 0, 0), roundtrip: dir(2 * ms, 2 * ms, 2 * ms, 0, 0) }, { lost, lostOutbound: lost, lostInbound: 0 }));
    for (let i = 0; i < 1000; i++) {
      s.onTargetAdded?.(name(i));
      period(i, 0.5);
    }
    const rounds: [string, () => void][] = [
      ['nothing changed', () => {}],
      ['one target measured again', () => period(7, 0.75)],
      ['every target measured again', () => { for (let i = 0; i < 1000; i++) period(i, 0.6); }],
      ['a loss', () => period(3, 0.6, 1)],
      ['a target removed', () => s.onTargetRemoved?.(name(5))],
      ['a target added', () => { s.onTargetAdded?.(name(1100)); period(1100, 0.5); }],
      ['nothing changed', () => {}],
    ];
    const gnuGzip = haveTool('gzip');
    const reusedShare: Record<string, number> = {};
    for (const [what, change] of rounds) {
      change();
      const before = { ...t.gzipper.totals };
      const { body, release, gzip } = await t.expositionBody();
      try {
        assert.ok(gzip, 'the telemetry layer compresses by segments');
        const gz = await gzip();
        assert.deepEqual(gunzipSync(gz), Buffer.from(body), what);
        if (gnuGzip) {
          const r = spawnSync('gzip', ['-dc'], { input: gz, maxBuffer: 64 * 1024 * 1024 });
          assert.equal(r.status, 0, `${what}: gzip -dc: ${r.stderr}`);
          assert.deepEqual(r.stdout, Buffer.from(body), `${what}: GNU gzip`);
        }
        const reused = t.gzipper.totals.reusedBytes - before.reusedBytes;
        const compressed = t.gzipper.totals.compressedBytes - before.compressedBytes;
        assert.equal(reused + compressed, body.length, `${what}: every byte compressed or reused`);
        reusedShare[what] = reused / body.length;
      } finally {
        release?.();
      }
    }
    // The first "nothing changed" follows the first gzip of everything: all but the text around
    // the families (target_info, process metrics) comes from the cache.
    assert.ok(reusedShare['nothing changed']! > 0.9, `reused ${JSON.stringify(reusedShare)}`);
    // One target's new figures change its families (delay, counters) but not, e.g., the results.
    assert.ok(reusedShare['one target measured again']! > 0.05, `reused ${JSON.stringify(reusedShare)}`);
  } finally {
    await t.shutdown();
  }
});
