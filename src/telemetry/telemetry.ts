/**
 * The telemetry layer's entry point: builds the instruments, the series store, the Prometheus
 * server and the OTLP push from the options, and hands out the session observers.
 *
 * Data flow (see series-store.ts for why there are two MeterProviders):
 *
 *   session events -> SenderMetrics / ResponderMetrics -> instruments on MeterProvider "record"
 *     -> DeltaReader -> SeriesStore (cumulative, forgets removed targets)
 *        -> prometheus-text.ts -> GET /metrics
 *        -> PeriodicExportingMetricReader on MeterProvider "export" -> OTLP/HTTP
 */
import { ControlMetrics } from './control-metrics.js';
import type { ControlObserver } from '../control/events.js';
import { readFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { Attributes, Counter, Meter } from '@opentelemetry/api';
import { detectResources, envDetector, resourceFromAttributes, type Resource } from '@opentelemetry/resources';
import { MeterProvider, type CollectionResult } from '@opentelemetry/sdk-metrics';
import type { ResponderObserver, SenderObserver } from '../session/events.js';
import { EXPORTER_METRICS, LABEL } from './catalog.js';
import { counter } from './instruments.js';
import {
  effectiveBuckets,
  effectiveSource,
  resolveOtlpConfig,
  validateMetricsListen,
  type OtlpConfig,
  type TelemetryOptions,
} from './options.js';
import { registerProcessMetrics } from './process-metrics.js';
import { ResponderMetrics } from './responder-metrics.js';
import { SenderMetrics } from './sender-metrics.js';
import { DeltaReader, SeriesStore } from './series-store.js';
import { SEGMENTED_GZIP_AVAILABLE, SegmentedGzip } from './segmented-gzip.js';
import { startMetricsServer, type ExpositionBody, type MetricsServer } from './server.js';

/** Instrumentation scope of every twampy instrument. */
export const SCOPE_NAME = 'twampy';

/**
 * Per-instrument series limit handed to the SDK. It only has to exceed the real count (about 3
 * series per target per instrument); the series themselves are bounded by the configured targets.
 */
const CARDINALITY_LIMIT = 1_000_000;

/** Where telemetry warnings go: a logger that rate-limits per key (the app's `Logger` fits). */
export interface TelemetryLogger {
  /** Logs `msg` at most once per interval for `key`, counting the suppressed ones. */
  limited(key: string, msg: string): void;
}

/** Environment and process facts the telemetry layer needs; injectable for tests. */
export interface TelemetryRuntime {
  /** Rate-limited warnings (OTLP failures, collection errors). */
  logger: TelemetryLogger;
  /** Environment for the OTLP settings; defaults to process.env. OTEL_RESOURCE_ATTRIBUTES is read from process.env. */
  env?: Record<string, string | undefined>;
  /** service.version; defaults to package.json's version. */
  serviceVersion?: string;
  /** Register the Node process metrics (default true). */
  processMetrics?: boolean;
}

function packageVersion(): string {
  try {
    // dist/src/telemetry/telemetry.js -> package.json at the project root.
    const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version?: string };
    return pkg.version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

/** The OpenTelemetry resource: service.*, host.name, then OTEL_RESOURCE_ATTRIBUTES / OTEL_SERVICE_NAME on top. */
export function buildResource(serviceVersion: string): Resource {
  const defaults = resourceFromAttributes({
    'service.name': 'twampy',
    'service.version': serviceVersion,
    'service.instance.id': randomUUID(),
    'host.name': hostname(),
  });
  return defaults.merge(detectResources({ detectors: [envDetector] }));
}

/** A running telemetry layer. */
export class Telemetry {
  private senderMetrics?: SenderMetrics;
  private responderMetrics?: ResponderMetrics;
  private controlMetrics?: ControlMetrics;
  private ready = false;
  private closed = false;
  /** The scrapes' gzip, family by family, unchanged families not compressed again. */
  readonly gzipper = new SegmentedGzip();

  private constructor(
    private readonly opts: TelemetryOptions,
    private readonly recordProvider: MeterProvider,
    private readonly meter: Meter,
    private readonly store: SeriesStore,
    private readonly exportProvider: MeterProvider | null,
    private readonly stopProcessMetrics: () => void,
    private readonly logger: TelemetryLogger,
    /** The resolved OTLP push, or null. */
    readonly otlp: OtlpConfig | null,
    /** Value of the `source` label. */
    readonly source: string,
  ) {}

  /** The metrics server, when `--metrics` is on. */
  server: MetricsServer | null = null;

  /** Builds and starts everything the options ask for; throws TelemetryConfigError or MetricsListenError. */
  static async start(opts: TelemetryOptions, rt: TelemetryRuntime): Promise<Telemetry> {
    const env = rt.env ?? process.env;
    if (opts.metrics) validateMetricsListen(opts);
    const otlp = resolveOtlpConfig(opts.otlp, env, opts.otlpProtocol);
    const source = effectiveSource(opts);
    const version = rt.serviceVersion ?? packageVersion();
    const resource = buildResource(version);

    const reader = new DeltaReader(CARDINALITY_LIMIT);
    const recordProvider = new MeterProvider({ resource, readers: [reader] });
    const store = new SeriesStore(reader, { name: SCOPE_NAME, version });
    // One meter (one instrumentation scope) for every twampy instrument.
    const meter = recordProvider.getMeter(SCOPE_NAME, version);
    const stopProcessMetrics = rt.processMetrics === false ? () => {} : registerProcessMetrics(meter);

    let exportProvider: MeterProvider | null = null;
    if (otlp) {
      const attributes: Attributes = { [LABEL.source]: source };
      const exports: Counter = counter(meter, EXPORTER_METRICS.otlpExports);
      const failures: Counter = counter(meter, EXPORTER_METRICS.otlpFailures);
      exports.add(0, attributes);
      failures.add(0, attributes);
      // Loaded only when a push is configured: the OTLP exporters and their encoders kept 0.54 MB
      // of heap live and took about 40 ms of start-up (telemetry started in 198 ms instead of
      // 237, medians of 5) in a process that is only scraped.
      const { createOtlpReader } = await import('./otlp.js');
      const otlpReader = createOtlpReader(otlp, store, {
        exports,
        failures,
        attributes,
        log: (msg) => rt.logger.limited('telemetry-otlp', msg),
      });
      exportProvider = new MeterProvider({ resource, readers: [otlpReader] });
    }

    const t = new Telemetry(opts, recordProvider, meter, store, exportProvider, stopProcessMetrics, rt.logger, otlp, source);
    if (opts.metrics) {
      try {
        t.server = await startMetricsServer({
          host: opts.metricsHost,
          port: opts.metricsPort,
          gzip: opts.metricsGzip,
          exposition: () => t.expositionBody(),
          ready: () => t.ready,
          onError: (err) => rt.logger.limited('telemetry-server', `metrics server: ${err instanceof Error ? err.message : String(err)}`),
        });
      } catch (err) {
        await t.shutdown(1000);
        throw err;
      }
    }
    return t;
  }

  /** The sender's observer (created on first use, so a responder-only process has no sender series). */
  sender(): SenderObserver {
    this.senderMetrics ??= new SenderMetrics(this.meter, this.store, {
      source: this.source,
      nodegraph: this.opts.nodegraph,
      oneWayUnsynced: this.opts.oneWayHistograms ?? false,
      buckets: effectiveBuckets(this.opts),
    });
    return this.senderMetrics;
  }

  /** The responder's observer (created on first use). */
  responder(): ResponderMetrics {
    this.responderMetrics ??= new ResponderMetrics(this.meter, this.store, this.source);
    return this.responderMetrics;
  }

  /** The TWAMP-Control server's observer (created on first use); reflected packets count as the responder's. */
  control(): ControlObserver {
    this.controlMetrics ??= new ControlMetrics(this.meter, this.source, this.responder());
    return this.controlMetrics;
  }

  /** Marks the process ready (sockets bound, measuring) or not; /readyz follows. */
  setReady(ready: boolean): void {
    this.ready = ready;
  }

  /** The URL of /metrics, when served. */
  get metricsUrl(): string | undefined {
    if (!this.server) return undefined;
    const host = this.server.address.includes(':') ? `[${this.server.address}]` : this.server.address;
    return `http://${host}:${this.server.port}/metrics`;
  }

  /**
   * The current Prometheus exposition, UTF-8 encoded (what /metrics serves). The body is lent:
   * call `release` once it has been sent or compressed (see TextArena).
   */
  async expositionBody(): Promise<ExpositionBody> {
    const { body, release, segments, errors } = await this.store.exposition();
    if (errors.length > 0) this.logger.limited('telemetry-collect', `metrics collection: ${errors.map(String).join('; ')}`);
    if (!SEGMENTED_GZIP_AVAILABLE) return { body, release };
    return { body, release, gzip: () => this.gzipper.gzip(body, segments) };
  }

  /** The current Prometheus exposition text. */
  async exposition(): Promise<string> {
    const { body, release } = await this.expositionBody();
    try {
      return body.toString('utf8');
    } finally {
      release?.();
    }
  }

  /** The current cumulative points, as the OTLP reader gets them. */
  collect(): Promise<CollectionResult> {
    return this.store.collect();
  }

  /**
   * Pushes the last OTLP batch, stops the server and the SDK. Waits at most `timeoutMs` for a
   * collector, so that a dead one cannot hold the process.
   */
  async shutdown(timeoutMs = 5000): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.ready = false;
    const work = (async () => {
      await this.server?.close();
      await this.exportProvider?.shutdown({ timeoutMillis: timeoutMs }).catch((err: unknown) => {
        this.logger.limited('telemetry-otlp', `OTLP final push: ${err instanceof Error ? err.message : String(err)}`);
      });
      this.stopProcessMetrics();
      await this.recordProvider.shutdown();
    })();
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, timeoutMs + 500);
      timer.unref();
    });
    await Promise.race([work, deadline]);
    clearTimeout(timer);
  }
}
