import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseBuckets, resolveOtlpConfig, validateMetricsListen, TelemetryConfigError } from '../../src/telemetry/options.js';
import { DEFAULT_DELAY_BUCKETS_S } from '../../src/telemetry/catalog.js';
import { UsageError } from '../../src/config/targets.js';

test('parseBuckets accepts increasing positive seconds', () => {
  assert.deepEqual(parseBuckets('0.0001, 0.001,0.01 ,1'), [0.0001, 0.001, 0.01, 1]);
  assert.deepEqual(parseBuckets('2'), [2]);
});

test('parseBuckets refuses bad lists with exact messages', () => {
  const cases: [string, string][] = [
    ['', '--buckets: expected a comma-separated list of seconds, e.g. 0.001,0.01,0.1'],
    ['0.1,abc', '--buckets: "abc" is not a number of seconds'],
    ['0.1,,0.2', '--buckets: "" is not a number of seconds'],
    ['0,0.1', '--buckets: boundaries must be positive (got 0)'],
    ['-1', '--buckets: boundaries must be positive (got -1)'],
    ['0.2,0.1', '--buckets: boundaries must be strictly increasing (got 0.1 after 0.2)'],
    ['0.1,0.1', '--buckets: boundaries must be strictly increasing (got 0.1 after 0.1)'],
    ['Infinity', '--buckets: "Infinity" is not a number of seconds'],
    [Array.from({ length: 65 }, (_, i) => String(i + 1)).join(','), '--buckets: at most 64 boundaries (got 65)'],
  ];
  for (const [input, message] of cases) {
    assert.throws(() => parseBuckets(input), (err: unknown) => err instanceof TelemetryConfigError && err.message === message, input);
  }
});

test('default delay buckets span tens of microseconds to seconds, doubling', () => {
  assert.equal(DEFAULT_DELAY_BUCKETS_S[0], 50e-6);
  assert.ok(DEFAULT_DELAY_BUCKETS_S.at(-1)! >= 1, 'reaches seconds');
  for (let i = 1; i < DEFAULT_DELAY_BUCKETS_S.length; i++) {
    assert.ok(Math.abs(DEFAULT_DELAY_BUCKETS_S[i]! / DEFAULT_DELAY_BUCKETS_S[i - 1]! - 2) < 1e-9);
  }
  // The defaults pass the same validation as --buckets.
  assert.deepEqual(parseBuckets(DEFAULT_DELAY_BUCKETS_S.join(',')), [...DEFAULT_DELAY_BUCKETS_S]);
});

test('OTLP push: off unless asked for by flag or environment', () => {
  assert.equal(resolveOtlpConfig(undefined, {}), null);
  assert.equal(resolveOtlpConfig(false, { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318' }), null);
  assert.equal(resolveOtlpConfig(undefined, { OTEL_METRICS_EXPORTER: 'none', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318' }), null);
  assert.equal(resolveOtlpConfig(undefined, { OTEL_METRICS_EXPORTER: 'prometheus' }), null);
  assert.equal(resolveOtlpConfig(undefined, { OTEL_SDK_DISABLED: 'TRUE', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318' }), null);
  assert.equal(resolveOtlpConfig(true, { OTEL_SDK_DISABLED: 'true' })?.url, 'http://localhost:4318/v1/metrics', 'the flag wins');
  assert.equal(resolveOtlpConfig(undefined, { OTEL_SDK_DISABLED: 'false', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318' })?.url, 'http://c:4318/v1/metrics');
});

test('OTLP push: endpoints, protocol and interval from flag and environment', () => {
  const table: [boolean | string | undefined, Record<string, string>, string | undefined, object][] = [
    [true, {}, undefined, { url: 'http://localhost:4318/v1/metrics', protocol: 'http/protobuf', intervalMs: 60000, timeoutMs: 30000, temporality: 'cumulative' }],
    [true, { OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE: 'Delta' }, undefined, { temporality: 'delta' }],
    [true, { OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE: ' lowmemory ' }, undefined, { temporality: 'lowmemory' }],
    [true, { OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE: 'cumulative' }, undefined, { temporality: 'cumulative' }],
    [undefined, { OTEL_METRICS_EXPORTER: 'otlp' }, undefined, { url: 'http://localhost:4318/v1/metrics' }],
    [undefined, { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' }, undefined, { url: 'http://collector:4318/v1/metrics' }],
    [undefined, { OTEL_EXPORTER_OTLP_ENDPOINT: 'https://c.example/otlp/' }, undefined, { url: 'https://c.example/otlp/v1/metrics' }],
    // The signal-specific endpoint is used as given (the OTLP exporter specification).
    [undefined, { OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: 'http://c:9999/custom', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://x:1' }, undefined, { url: 'http://c:9999/custom' }],
    // The flag's URL wins and gets the path when it has none.
    ['http://flag:4318', { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://env:4318' }, undefined, { url: 'http://flag:4318/v1/metrics' }],
    ['http://flag:4318/v1/metrics', {}, undefined, { url: 'http://flag:4318/v1/metrics' }],
    [true, { OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' }, undefined, { protocol: 'http/json' }],
    [true, { OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json', OTEL_EXPORTER_OTLP_METRICS_PROTOCOL: 'http/protobuf' }, undefined, { protocol: 'http/protobuf' }],
    [true, { OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf' }, 'http/json', { protocol: 'http/json' }],
    [true, { OTEL_METRIC_EXPORT_INTERVAL: '5000' }, undefined, { intervalMs: 5000, timeoutMs: 5000 }],
    [true, { OTEL_METRIC_EXPORT_INTERVAL: '5000', OTEL_METRIC_EXPORT_TIMEOUT: '1000' }, undefined, { intervalMs: 5000, timeoutMs: 1000 }],
  ];
  for (const [flag, env, protocolFlag, expected] of table) {
    const got = resolveOtlpConfig(flag, env, protocolFlag);
    assert.ok(got, JSON.stringify({ flag, env }));
    for (const [k, v] of Object.entries(expected)) assert.equal((got as unknown as Record<string, unknown>)[k], v, `${k} for ${JSON.stringify({ flag, env, protocolFlag })}`);
  }
});

test('OTLP push: unusable settings fail with exact messages', () => {
  const cases: [boolean | string, Record<string, string>, string][] = [
    [true, { OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' }, 'OTEL_EXPORTER_OTLP_PROTOCOL: "grpc" is not supported; use http/protobuf or http/json (an OpenTelemetry Collector accepts both on port 4318)'],
    [true, { OTEL_EXPORTER_OTLP_METRICS_PROTOCOL: 'thrift' }, 'OTEL_EXPORTER_OTLP_METRICS_PROTOCOL: "thrift" is not supported; use http/protobuf or http/json'],
    ['collector:4318', {}, '--otlp: "collector:4318" must be an http:// or https:// URL'],
    ['not a url', {}, '--otlp: "not a url" is not a URL (expected e.g. http://collector:4318)'],
    [true, { OTEL_METRIC_EXPORT_INTERVAL: 'soon' }, 'OTEL_METRIC_EXPORT_INTERVAL: expected a positive number of milliseconds (got "soon")'],
    [true, { OTEL_METRIC_EXPORT_INTERVAL: '0' }, 'OTEL_METRIC_EXPORT_INTERVAL: expected a positive number of milliseconds (got "0")'],
    [true, { OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE: 'deltas' }, 'OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE: "deltas" is not supported; use cumulative, delta or lowmemory'],
  ];
  for (const [flag, env, message] of cases) {
    assert.throws(() => resolveOtlpConfig(flag, env), (err: unknown) => err instanceof TelemetryConfigError && err.message === message, message);
  }
});

test('telemetry configuration errors are usage errors (the CLI exits 2)', () => {
  let caught: unknown;
  try {
    resolveOtlpConfig(true, { OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' });
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof TelemetryConfigError);
  assert.ok(caught instanceof UsageError);
  assert.equal(caught.name, 'UsageError');
  assert.equal(caught.code, 'ERR_TWAMPY_TELEMETRY_CONFIG');
});

test('metrics listen flags are validated', () => {
  assert.doesNotThrow(() => validateMetricsListen({ metricsPort: 8000 }));
  assert.doesNotThrow(() => validateMetricsListen({ metricsPort: 0, metricsHost: '127.0.0.1' }));
  assert.throws(() => validateMetricsListen({ metricsPort: 70000 }), /--metrics-port: expected a port number 0-65535 \(got 70000\)/);
  assert.throws(() => validateMetricsListen({ metricsPort: 1.5 }), /--metrics-port/);
  assert.throws(() => validateMetricsListen({ metricsPort: 8000, metricsHost: ' ' }), /--metrics-host: expected an address/);
});
