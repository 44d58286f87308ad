/**
 * Starts telemetry from command-line arguments when any telemetry is asked for. The only place
 * in src/cli that reaches into src/telemetry.
 */
import type { Telemetry } from '../telemetry/telemetry.js';
import type { TelemetryOptions } from '../telemetry/options.js';
import { TELEMETRY_DEFAULTS, parseBuckets, resolveOtlpConfig } from '../telemetry/options.js';
import type { Args } from '../config/options.js';
import type { Logger } from '../app/log.js';

/** Starts telemetry when --metrics, --otlp or the OTLP environment asks for it; null otherwise. */
export async function startTelemetryFromArgs(args: Args, logger: Logger): Promise<Telemetry | null> {
  const opts: TelemetryOptions = {
    metrics: args.metrics === true,
    metricsPort: (args['metrics-port'] as number | undefined) ?? TELEMETRY_DEFAULTS.metricsPort,
    metricsHost: args['metrics-host'] as string | undefined,
    metricsGzip: args['metrics-gzip'] !== false,
    otlp: args.otlp === '' || args.otlp === true ? true : (args.otlp as string | undefined),
    otlpProtocol: args['otlp-protocol'] as string | undefined,
    nodegraph: args.nodegraph === true,
    sourceName: args['source-name'] as string | undefined,
    buckets: args.buckets === undefined ? undefined : parseBuckets(String(args.buckets)),
    oneWayHistograms: args['one-way-histograms'] === true,
  };
  if (!opts.metrics && resolveOtlpConfig(opts.otlp, process.env, opts.otlpProtocol) === null) return null;
  // Loaded only when asked for: the OpenTelemetry SDK costs tens of MiB and ~100 ms at start-up.
  const { Telemetry: TelemetryImpl } = await import('../telemetry/telemetry.js');
  return TelemetryImpl.start(opts, { logger });
}

