import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { createServer, type Server } from 'node:net';
import { gunzipSync } from 'node:zlib';
import yargs from 'yargs';
import { Logger } from '../../src/app/log.js';
import { telemetryOptions } from '../../src/cli/parser.js';
import { startTelemetryFromArgs } from '../../src/cli/telemetry-hook.js';
import { MetricsListenError, PROMETHEUS_CONTENT_TYPE } from '../../src/telemetry/server.js';
import { Telemetry } from '../../src/telemetry/telemetry.js';
import { dir, promtoolCheck, RecordingLogger, requireTool, startTestTelemetry, stats } from './fixtures.js';

interface Got {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

function get(url: string, init: { method?: string; headers?: Record<string, string> } = {}): Promise<Got> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: init.method ?? 'GET', headers: init.headers, timeout: 10_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`timeout: ${url}`)));
    req.on('error', reject);
    req.end();
  });
}

function feed(t: Telemetry, targets: number): void {
  const s = t.sender();
  for (let i = 0; i < targets; i++) {
    const name = `10.0.${i >> 8}.${i & 255}:20001`;
    s.onTargetAdded?.(name);
    s.onStats?.(stats(name, { outbound: dir(0.7, 0.7, 0.7, 0, 0), inbound: dir(0.8, 0.8, 0.8, 0, 0), roundtrip: dir(1.5, 1.5, 1.5, 0, 0) }, { lostOutbound: 0, lostInbound: 0 }));
  }
}

test('/metrics, /healthz and /readyz on one server', async () => {
  const t = await startTestTelemetry({ metrics: true, metricsPort: 0, metricsHost: '127.0.0.1' });
  try {
    feed(t, 1);
    const base = `http://127.0.0.1:${t.server!.port}`;
    assert.equal(t.metricsUrl, `${base}/metrics`);

    const m = await get(`${base}/metrics`);
    assert.equal(m.status, 200);
    assert.equal(m.headers['content-type'], PROMETHEUS_CONTENT_TYPE);
    const text = m.body.toString('utf8');
    assert.match(text, /^twampy_latency_avg\{source="probe-1",target="10\.0\.0\.0:20001",direction="roundtrip"\} 1\.5$/m);
    assert.equal(Number(m.headers['content-length']), m.body.length);

    assert.equal((await get(`${base}/healthz`)).status, 200);
    assert.equal((await get(`${base}/readyz`)).status, 503, 'not ready until the app says so');
    t.setReady(true);
    const ready = await get(`${base}/readyz`);
    assert.equal(ready.status, 200);
    assert.equal(ready.body.toString(), 'ready\n');

    assert.equal((await get(`${base}/nothing`)).status, 404);
    const post = await get(`${base}/metrics`, { method: 'POST' });
    assert.equal(post.status, 405);
    assert.equal(post.headers.allow, 'GET, HEAD');
    const head = await get(`${base}/metrics`, { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.body.length, 0);
  } finally {
    await t.shutdown();
  }
});

test('large expositions are gzipped for clients that accept it', async () => {
  const t = await startTestTelemetry({ metrics: true, metricsPort: 0, metricsHost: '127.0.0.1' });
  try {
    feed(t, 300);
    const url = `http://127.0.0.1:${t.server!.port}/metrics`;
    const plain = await get(url);
    assert.equal(plain.headers['content-encoding'], undefined);
    assert.ok(plain.body.length > 64 * 1024, `exposition of 300 targets is ${plain.body.length} bytes`);
    const zipped = await get(url, { headers: { 'accept-encoding': 'gzip' } });
    assert.equal(zipped.headers['content-encoding'], 'gzip');
    assert.ok(zipped.body.length < plain.body.length / 4);
    assert.equal(gunzipSync(zipped.body).toString('utf8'), plain.body.toString('utf8'));
  } finally {
    await t.shutdown();
  }
});

test('--no-metrics-gzip: the text goes out as it is, even to clients that accept gzip', async () => {
  const parse = (argv: string[]) => telemetryOptions(yargs(argv)).parseSync();
  assert.equal(parse([])['metrics-gzip'], true, 'gzip is on by default');
  const args = parse(['--metrics', '--metrics-host', '127.0.0.1', '--metrics-port', '0', '--no-metrics-gzip']);
  assert.equal(args['metrics-gzip'], false);
  const t = (await startTelemetryFromArgs(args as never, new Logger(0)))!;
  try {
    feed(t, 300);
    const zipped = await get(t.metricsUrl!, { headers: { 'accept-encoding': 'gzip' } });
    assert.equal(zipped.status, 200);
    assert.equal(zipped.headers['content-encoding'], undefined);
    assert.ok(zipped.body.length > 64 * 1024, `exposition of 300 targets is ${zipped.body.length} bytes`);
    assert.match(zipped.body.toString('utf8'), /^twampy_latency_avg\{source="[^"]+",target="10\.0\.1\.43:20001",direction="roundtrip"\} 1\.5$/m);
  } finally {
    await t.shutdown();
  }
});

test('a port in use is a clear error and leaves nothing running', async () => {
  const blocker: Server = createServer();
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
  const port = (blocker.address() as { port: number }).port;
  try {
    await assert.rejects(
      Telemetry.start(
        { metrics: true, metricsPort: port, metricsHost: '127.0.0.1', nodegraph: false },
        { logger: new RecordingLogger(), env: {}, processMetrics: false },
      ),
      (err: unknown) =>
        err instanceof MetricsListenError &&
        err.message === `cannot serve metrics on 127.0.0.1 port ${port}: the port is in use (another twampy? choose one with --metrics-port)`,
    );
  } finally {
    await new Promise((resolve) => blocker.close(resolve));
  }
});

test('promtool check metrics accepts the full exposition', async (t) => {
  if (!requireTool(t, 'promtool')) return;
  const tel = await startTestTelemetry(
    { nodegraph: true, otlp: 'http://127.0.0.1:9/v1/metrics' },
    { OTEL_METRIC_EXPORT_INTERVAL: '600000' },
    new RecordingLogger(),
    true,
  );
  try {
    feed(tel, 3);
    const r = tel.responder();
    r.onReflected?.({ address: '192.0.2.1', port: 1, requestBytes: 41, replyBytes: 41, processingNs: 5_000n, format: 'twamp' });
    r.onDropped?.({ reason: 'malformed', address: '192.0.2.1', port: 1, bytes: 2, detail: 'short' });
    tel.sender().onTargetError?.({ target: '10.0.0.1:20001', code: 'ERR_SOCKET', message: 'x' });
    tel.sender().onDrop?.({ reason: 'unexpected_source', address: '192.0.2.9', port: 9 });
    const text = await tel.exposition();
    // Every family of the catalogue is in this exposition, so the lint covers all of them.
    for (const name of ['twampy_edge', 'twampy_otlp_exports_total', 'process_cpu_seconds_total', 'twampy_responder_processing_seconds', 'twampy_target_errors_total']) {
      assert.match(text, new RegExp(`^# TYPE ${name} `, 'm'));
    }
    const { status, output } = promtoolCheck(text);
    assert.equal(status, 0, `promtool check metrics: exit ${status}\n${output}`);
    assert.equal(output.trim(), '', 'no lint findings');
  } finally {
    await tel.shutdown(1000);
  }
});
