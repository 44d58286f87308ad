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
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
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
    /** Encoder objects kept alive for their hidden classes only (see keepProtobufEncoderShapes). */
    readonly shapeKeepers: object[] | null,
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

/**
 * One instance each of the classes the protobuf exporter encodes with (the transformer's
 * `ProtobufSizeEstimator` and `ProtobufWriter`), held for the process's life; null if they are not
 * where this version of the transformer keeps them (a test holds that they are).
 *
 * Why: the exporter makes a fresh estimator and writer per push and drops them. Their fields are
 * added by their constructors, so their hidden classes come from transitions, which V8 holds
 * weakly; with no instance alive, a full collection can free them, and V8 then throws away the
 * encoder's optimised code that checks for them ("weak objects" in --trace-deopt), so the next
 * push runs unoptimised while V8 compiles it again. In-process at 1,000 targets, after three
 * forced full collections, a push cost 180-250 ms of CPU against about 55 ms back to back. A live
 * sender meets it rarely: V8 keeps an unused hidden class through two more ordinary full
 * collections and drops it at once only in forced or memory-reducing ones (docs/metrics.md).
 * Live instances keep the hidden classes, and the optimised code with them. The files are
 * internal to the transformer: they are found from the exporter's own copy, so that these are the
 * classes it really uses.
 */
export function keepProtobufEncoderShapes(): object[] | null {
  try {
    const fromExporter = createRequire(createRequire(import.meta.url).resolve('@opentelemetry/exporter-metrics-otlp-proto'));
    const src = dirname(fromExporter.resolve('@opentelemetry/otlp-transformer'));
    const { ProtobufWriter } = fromExporter(join(src, 'common/protobuf/protobuf-writer.js')) as { ProtobufWriter?: new (size: number) => object };
    const { ProtobufSizeEstimator } = fromExporter(join(src, 'common/protobuf/protobuf-size-estimator.js')) as { ProtobufSizeEstimator?: new () => object };
    if (typeof ProtobufWriter !== 'function' || typeof ProtobufSizeEstimator !== 'function') return null;
    return [new ProtobufSizeEstimator(), new ProtobufWriter(16)];
  } catch {
    return null;
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
  const keepers = cfg.protocol === 'http/json' ? null : keepProtobufEncoderShapes();
  return new PeriodicExportingMetricReader({
    exporter: new CountingExporter(inner, cfg.url, hooks, keepers),
    exportIntervalMillis: cfg.intervalMs,
    exportTimeoutMillis: cfg.timeoutMs,
    metricProducers: [cfg.temporality === 'cumulative' ? producer : deltaProducer(producer, new DeltaConverter(cfg.temporality))],
  });
}
