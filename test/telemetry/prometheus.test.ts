/**
 * A real Prometheus (Debian's `prometheus`, installed by .ci/run) scrapes a running sender and
 * responder on loopback. Every series of the catalogue must be queryable, the delay histogram's
 * median must land near the delay the impairment relay injects, and a removed target's series
 * must go stale.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ALL_METRICS, exposedName, exposedType } from '../../src/telemetry/catalog.js';
import { dir as dirStats, promtoolCheck, requireTool, startTestTelemetry, stats } from './fixtures.js';
import { poll, startLive } from './live.js';

const DELAY_MS = 20;

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const port = (srv.address() as { port: number }).port;
  await new Promise((resolve) => srv.close(resolve));
  return port;
}

interface Vector {
  metric: Record<string, string>;
  value: [number, string];
}

async function query(base: string, promql: string): Promise<Vector[]> {
  const res = await fetch(`${base}/api/v1/query?query=${encodeURIComponent(promql)}`, { signal: AbortSignal.timeout(5000) });
  const body = (await res.json()) as { status: string; data?: { resultType: string; result: Vector[] }; error?: string };
  if (body.status !== 'success') throw new Error(`${promql}: ${body.error}`);
  return body.data!.result;
}

/** A Prometheus in `dir` scraping `metricsPort` every second; resolves once it has scraped it. */
async function startPrometheus(dir: string, metricsPort: number): Promise<{ base: string; proc: ChildProcess; log: () => string }> {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  writeFileSync(
    join(dir, 'prometheus.yml'),
    `global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: twampy\n    static_configs:\n      - targets: ['127.0.0.1:${metricsPort}']\n`,
  );
  const proc = spawn(
    'prometheus',
    [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let log = '';
  proc.stderr!.on('data', (d: Buffer) => (log = (log + d.toString()).slice(-4000)));
  await poll('Prometheus to scrape twampy', async () => ((await query(base, 'up{job="twampy"} == 1')).length === 1 ? true : undefined), 30_000, 250).catch((err: unknown) => {
    throw new Error(`${String(err)}\n${log}`);
  });
  return { base, proc, log: () => log };
}

/** Waits until `count_over_time(selector[1m])` reaches `n` samples. */
function samplesOf(base: string, what: string, selector: string, n: number, timeoutMs: number): Promise<true> {
  return poll(what, async () => {
    const r = await query(base, `count_over_time(${selector}[1m])`);
    return r.length === 1 && Number(r[0]!.value[1]) >= n ? true : undefined;
  }, timeoutMs, 250);
}

/** Stops a Prometheus started by startPrometheus. */
async function stopPrometheus(proc: ChildProcess | undefined): Promise<void> {
  proc?.kill('SIGTERM');
  if (proc && proc.exitCode === null) await new Promise((resolve) => proc.once('exit', resolve));
}

test('a real Prometheus scrapes sender and responder: every series, a delay quantile, target removal', { timeout: 90_000 }, async (t) => {
  if (!requireTool(t, 'prometheus')) return;
  const dir = mkdtempSync(join(tmpdir(), 'twampy-prom-'));
  let prom: ChildProcess | undefined;
  // OTLP on (to a port nobody listens on) so that the exporter's own counters exist too.
  const tel = await startTestTelemetry(
    { metrics: true, metricsPort: 0, metricsHost: '127.0.0.1', nodegraph: true, otlp: 'http://127.0.0.1:9/v1/metrics' },
    { OTEL_METRIC_EXPORT_INTERVAL: '600000' },
    undefined,
    true,
  );
  const live = await startLive({
    targets: 2,
    intervalMs: 50,
    periodMs: 1000,
    synced: true,
    delayMs: DELAY_MS,
    delayed: [0],
    senderObserver: tel.sender(),
    responderObserver: tel.responder(),
  });
  try {
    tel.setReady(true);
    // Series that only appear on trouble: one error about a name and one stray datagram.
    tel.sender().onTargetError?.({ target: 'unresolvable.invalid:20001', code: 'ERR_RESOLVE', message: 'ENOTFOUND' });
    tel.sender().onDrop?.({ reason: 'unexpected_source', address: '192.0.2.1', port: 9 });
    // Kernel drops come from the native layer's socket counters; the live pair runs on dgram.
    tel.responder().countKernelDrops(() => 0);
    // Path series need TTL and TOS readings the portable layer of the live pair does not give.
    const d = dirStats(1, 1, 1, 0, 0);
    tel.sender().onStats?.(stats('path.invalid:20001', { outbound: d, inbound: d, roundtrip: d }, {
      path: { hopsOutbound: { last: 1, min: 1, max: 1 }, hopsInbound: { last: 1, min: 1, max: 1 }, sentDscp: 46, reflectorRxDscp: 0, replyDscp: 0, remarkedOutbound: 1, remarkedInbound: 0 },
    }));

    const { proc, base } = await startPrometheus(dir, tel.server!.port);
    prom = proc;
    // Enough samples for rate() over the histogram.
    await samplesOf(base, '10 s of samples', 'twampy_packets_sent_total{target="t0"}', 8, 40_000);

    // Every documented series, by its exposed name (histograms by their _bucket series).
    const missing: string[] = [];
    // A sender and a responder run here; the TWAMP server's series are tested in control-metrics.test.ts.
    for (const spec of ALL_METRICS.filter((m) => m.role !== 'control')) {
      const name = exposedName(spec) + (exposedType(spec) === 'histogram' ? '_bucket' : '');
      const r = await query(base, `count(${name})`);
      if (r.length === 0 || Number(r[0]!.value[1]) === 0) missing.push(name);
      else {
        // Labels are exactly the documented ones (plus job and instance from the scrape).
        const one = (await query(base, `topk(1, ${name})`))[0]!.metric;
        const keys = Object.keys(one).filter((k) => !['__name__', 'job', 'instance', 'le'].includes(k)).sort();
        assert.deepEqual(keys, [...spec.labels].sort(), `labels of ${name}`);
      }
    }
    assert.deepEqual(missing, [], 'series missing in Prometheus');

    // The median round trip of the delayed target lands in the histogram bucket that holds the
    // injected delay, and near it; the direct target stays on loopback timescales.
    const q = (target: string, direction: string) =>
      query(base, `histogram_quantile(0.5, sum by (le) (rate(twampy_delay_seconds_bucket{target="${target}",direction="${direction}"}[30s])))`);
    const p50 = Number((await q('t0', 'roundtrip'))[0]!.value[1]) * 1000;
    assert.ok(p50 >= 12.8 && p50 <= 25.6, `t0 p50 round trip ${p50.toFixed(2)} ms, injected ${DELAY_MS} ms`);
    assert.ok(Math.abs(p50 - DELAY_MS) <= 0.35 * DELAY_MS, `t0 p50 round trip ${p50.toFixed(2)} ms is near ${DELAY_MS} ms`);
    const out50 = Number((await q('t0', 'outbound'))[0]!.value[1]) * 1000;
    assert.ok(Math.abs(out50 - DELAY_MS) <= 0.35 * DELAY_MS, `t0 p50 outbound ${out50.toFixed(2)} ms (the delay is on the outbound leg)`);
    const direct50 = Number((await q('t1', 'roundtrip'))[0]!.value[1]) * 1000;
    assert.ok(direct50 < 5, `t1 p50 round trip ${direct50.toFixed(2)} ms on plain loopback`);
    // The seed gauges agree: average round trip of t0 is the delay plus loopback.
    const avg = Number((await query(base, 'twampy_latency_avg{target="t0",direction="roundtrip"}'))[0]!.value[1]);
    assert.ok(avg >= DELAY_MS && avg < DELAY_MS + 15, `twampy_latency_avg of t0 ${avg} ms`);

    // promtool agrees with what Prometheus ingested.
    if (requireTool(t, 'promtool')) {
      const { status, output } = promtoolCheck(await tel.exposition());
      assert.equal(status, 0, output);
    }

    // Removing a target: its series go stale in Prometheus, the other target's stay.
    await live.sender.removeTarget('t1');
    await poll('t1 series to go stale', async () => ((await query(base, 'count({target="t1"})')).length === 0 ? true : undefined), 20_000, 250);
    assert.ok((await query(base, 'twampy_packets_sent_total{target="t0"}')).length === 1);
  } finally {
    await stopPrometheus(prom);
    await live.close();
    await tel.shutdown(1000);
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a real Prometheus reads the segmented gzip of a large page (Go decoder), reused and fresh segments mixed', { timeout: 90_000 }, async (t) => {
  if (!requireTool(t, 'prometheus')) return;
  const dir = mkdtempSync(join(tmpdir(), 'twampy-prom-gz-'));
  let prom: ChildProcess | undefined;
  const tel = await startTestTelemetry({ metrics: true, metricsPort: 0, metricsHost: '127.0.0.1' });
  try {
    const s = tel.sender();
    const name = (i: number) => `10.1.${i >> 8}.${i & 255}:20001`;
    const period = (i: number, ms: number) => s.onStats?.(stats(name(i), { outbound: dirStats(ms, ms, ms, 0, 0), inbound: dirStats(ms, ms, ms, 0, 0), roundtrip: dirStats(2 * ms, 2 * ms, 2 * ms, 0, 0) }, { lostOutbound: 0, lostInbound: 0 }));
    // 300 targets: a page of several hundred KB, well over the 64 KiB below which nothing is gzipped.
    for (let i = 0; i < 300; i++) {
      s.onTargetAdded?.(name(i));
      period(i, 0.5);
    }
    const started = await startPrometheus(dir, tel.server!.port);
    prom = started.proc;
    // A few scrapes of an unchanged page (segments reused), then one target changes (its families
    // compressed afresh, the rest reused): Prometheus must see the new value and every series.
    const base = started.base;
    await samplesOf(base, 'three scrapes', 'up{job="twampy"}', 3, 20_000);
    period(123, 0.777);
    await poll('the changed value in Prometheus', async () => {
      const r = await query(base, `twampy_latency_avg{target="${name(123)}",direction="roundtrip"}`);
      return r.length === 1 && Number(r[0]!.value[1]) === 1.554 ? true : undefined;
    }, 20_000, 250);
    assert.equal(Number((await query(base, 'count(twampy_latency_avg)'))[0]!.value[1]), 900, 'every target, every direction');
    assert.equal(Number((await query(base, `twampy_latency_avg{target="${name(7)}",direction="roundtrip"}`))[0]!.value[1]), 1);
    const sent = (await query(base, 'scrape_samples_scraped{job="twampy"}'))[0]!;
    const lines = (await tel.exposition()).split('\n').filter((l) => l !== '' && !l.startsWith('#')).length;
    assert.equal(Number(sent.value[1]), lines, 'Prometheus read every sample line of the page');
    assert.ok(tel.gzipper.totals.reusedBytes > 0 && tel.gzipper.totals.compressedBytes > 0, `segments reused and compressed: ${JSON.stringify(tel.gzipper.totals)}`);
    assert.doesNotMatch(started.log(), /gzip|decompress/i, 'Prometheus logged no decoding error');
  } finally {
    await stopPrometheus(prom);
    await tel.shutdown();
    rmSync(dir, { recursive: true, force: true });
  }
});
