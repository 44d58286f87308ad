/**
 * OTLP push through the SDK's periodic reader and the official OTLP/HTTP exporters (JSON or
 * protobuf). Headers, TLS files, compression and the per-request timeout come from the standard
 * OTEL_EXPORTER_OTLP_* environment, which the exporters read themselves.
 *
 * A collector that is down or slow cannot hurt measuring: exports run off the measurement path;
 * the periodic reader skips a push while the previous one is still running, and the exporter
 * caps concurrent requests, so at most one batch is held in memory. A failed batch is dropped
 * (never queued), counted, and logged through the caller's rate-limited logger.
 */
import type { Counter, Attributes } from '@opentelemetry/api';
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import { OTLPMetricExporter as OtlpJsonExporter } from '@opentelemetry/exporter-metrics-otlp-http';
import { OTLPMetricExporter as OtlpProtoExporter } from '@opentelemetry/exporter-metrics-otlp-proto';
import {
  AggregationTemporality,
  PeriodicExportingMetricReader,
  type MetricProducer,
  type PushMetricExporter,
  type ResourceMetrics,
} from '@opentelemetry/sdk-metrics';
import type { OtlpConfig } from './options.js';
import { DeltaConverter } from './temporality.js';

/** Callbacks of the export wrapper. */
export interface ExportHooks {
  exports: Counter;
  failures: Counter;
  attributes: Attributes;
  /** Log for failures; the caller rate-limits it. */
  log: (msg: string) => void;
}

/** Wraps an exporter to count attempts and failures and log failures. */
class CountingExporter implements PushMetricExporter {
  constructor(
    private readonly inner: PushMetricExporter,
    private readonly url: string,
    private readonly hooks: ExportHooks,
  ) {}

  export(metrics: ResourceMetrics, resultCallback: (result: ExportResult) => void): void {
    this.hooks.exports.add(1, this.hooks.attributes);
    this.inner.export(metrics, (result) => {
      if (result.code !== ExportResultCode.SUCCESS) {
        this.hooks.failures.add(1, this.hooks.attributes);
        const why = result.error?.message ?? 'unknown error';
        this.hooks.log(`OTLP push to ${this.url} failed: ${why}; the batch is dropped and the next push retries`);
      }
      resultCallback(result);
    });
  }

  forceFlush(): Promise<void> {
    return this.inner.forceFlush();
  }

  shutdown(): Promise<void> {
    return this.inner.shutdown();
  }

  selectAggregationTemporality(): AggregationTemporality {
    // Only answers the interface: the reader's own MeterProvider has no instruments, and the
    // store's points carry their own temporality (cumulative, or deltas from DeltaConverter).
    return AggregationTemporality.CUMULATIVE;
  }
}

/** `producer`'s collections as deltas (OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE). */
function deltaProducer(producer: MetricProducer, converter: DeltaConverter): MetricProducer {
  return { collect: async (options) => converter.convert(await producer.collect(options)) };
}

/** Creates the periodic OTLP reader over `producer`, to be registered on an instrument-less MeterProvider. */
export function createOtlpReader(cfg: OtlpConfig, producer: MetricProducer, hooks: ExportHooks): PeriodicExportingMetricReader {
  // Per-request timeout: OTEL_EXPORTER_OTLP_(METRICS_)TIMEOUT as the exporter reads it (10 s default).
  const exporterOptions = { url: cfg.url, concurrencyLimit: 1 };
  const inner = cfg.protocol === 'http/json' ? new OtlpJsonExporter(exporterOptions) : new OtlpProtoExporter(exporterOptions);
  return new PeriodicExportingMetricReader({
    exporter: new CountingExporter(inner, cfg.url, hooks),
    exportIntervalMillis: cfg.intervalMs,
    exportTimeoutMillis: cfg.timeoutMs,
    metricProducers: [cfg.temporality === 'cumulative' ? producer : deltaProducer(producer, new DeltaConverter(cfg.temporality))],
  });
}
