/**
 * Telemetry options: defaults in one place, the OTLP environment resolved by a pure function,
 * and validation with exact messages (the CLI prints them and exits 2).
 */
import { hostname } from 'node:os';
import { UsageError } from '../config/targets.js';
import { DEFAULT_DELAY_BUCKETS_S } from './catalog.js';

/** What the user asked for (CLI flags; the environment is read separately). */
export interface TelemetryOptions {
  /** `--metrics`: serve /metrics, /healthz and /readyz. */
  metrics: boolean;
  /** `--metrics-port`. */
  metricsPort: number;
  /** `--metrics-host`; undefined = all interfaces (IPv6 and IPv4 where the host has both). */
  metricsHost?: string;
  /** `--metrics-gzip` (default true): gzip /metrics for scrapers that accept it. */
  metricsGzip?: boolean;
  /** `--otlp [url]`: true = push to the endpoint the environment names (or the default). */
  otlp?: boolean | string;
  /** `--otlp-protocol`, overriding OTEL_EXPORTER_OTLP_(METRICS_)PROTOCOL. */
  otlpProtocol?: string;
  /** `--nodegraph`: add `twampy_edge`. */
  nodegraph: boolean;
  /** `--source-name`: value of the `source` label; defaults to the host name. */
  sourceName?: string;
  /** `--buckets`: delay histogram boundaries in seconds. */
  buckets?: readonly number[];
  /** `--one-way-histograms`: record one-way delays even when the clocks are not synchronised. */
  oneWayHistograms?: boolean;
}

/** The values OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE may take (case-insensitive; see temporality.ts). */
export type TemporalityPreference = 'cumulative' | 'delta' | 'lowmemory';

/** Parses OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE; null for an unknown value. */
export function parseTemporalityPreference(text: string | undefined): TemporalityPreference | null {
  const v = (text ?? '').trim().toLowerCase();
  if (v === '' || v === 'cumulative') return 'cumulative';
  if (v === 'delta' || v === 'lowmemory') return v;
  return null;
}

/** Defaults of the telemetry flags. */
export const TELEMETRY_DEFAULTS = {
  metrics: false,
  metricsPort: 8000,
  metricsHost: undefined as string | undefined,
  nodegraph: false,
  oneWayHistograms: false,
  /** OTLP push interval when OTEL_METRIC_EXPORT_INTERVAL is unset (the spec's default). */
  otlpIntervalMs: 60_000,
  /** OTLP export timeout when OTEL_METRIC_EXPORT_TIMEOUT is unset (the spec's default). */
  otlpTimeoutMs: 30_000,
  otlpProtocol: 'http/protobuf' as OtlpProtocol,
  otlpEndpoint: 'http://localhost:4318',
} as const;

/**
 * A telemetry option or environment variable that cannot be honoured. It is a usage error (the
 * CLI exits 2 for those), so it keeps UsageError's name.
 */
export class TelemetryConfigError extends UsageError {
  readonly code = 'ERR_TWAMPY_TELEMETRY_CONFIG';
}

/** Upper bound on histogram buckets, so that a typo cannot multiply the series count by 1000. */
export const MAX_BUCKETS = 64;

/** Parses `--buckets` ("0.001,0.002,0.005" seconds) into strictly increasing positive boundaries. */
export function parseBuckets(text: string): number[] {
  const parts = text.split(',').map((s) => s.trim());
  if (parts.length === 0 || parts.every((p) => p === '')) {
    throw new TelemetryConfigError('--buckets: expected a comma-separated list of seconds, e.g. 0.001,0.01,0.1');
  }
  if (parts.length > MAX_BUCKETS) {
    throw new TelemetryConfigError(`--buckets: at most ${MAX_BUCKETS} boundaries (got ${parts.length})`);
  }
  const out: number[] = [];
  for (const p of parts) {
    const v = p === '' ? NaN : Number(p);
    if (!Number.isFinite(v)) throw new TelemetryConfigError(`--buckets: "${p}" is not a number of seconds`);
    if (v <= 0) throw new TelemetryConfigError(`--buckets: boundaries must be positive (got ${p})`);
    const prev = out[out.length - 1];
    if (prev !== undefined && v <= prev) {
      throw new TelemetryConfigError(`--buckets: boundaries must be strictly increasing (got ${p} after ${prev})`);
    }
    out.push(v);
  }
  return out;
}

/** The delay histogram boundaries in effect. */
export function effectiveBuckets(opts: Pick<TelemetryOptions, 'buckets'>): readonly number[] {
  return opts.buckets ?? DEFAULT_DELAY_BUCKETS_S;
}

/** The `source` label value in effect. */
export function effectiveSource(opts: Pick<TelemetryOptions, 'sourceName'>): string {
  return opts.sourceName ?? hostname();
}

/** OTLP wire encodings we can push. */
export type OtlpProtocol = 'http/protobuf' | 'http/json';

/** A resolved OTLP push configuration. */
export interface OtlpConfig {
  /** Full metrics URL (…/v1/metrics). */
  url: string;
  protocol: OtlpProtocol;
  intervalMs: number;
  timeoutMs: number;
  /** OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE (see temporality.ts). */
  temporality: TemporalityPreference;
}

function positiveMs(env: Record<string, string | undefined>, name: string, fallback: number): number {
  const raw = env[name]?.trim();
  if (raw === undefined || raw === '') return fallback;
  const v = Number(raw);
  if (!Number.isFinite(v) || v <= 0) {
    throw new TelemetryConfigError(`${name}: expected a positive number of milliseconds (got "${raw}")`);
  }
  return v;
}

function metricsUrl(base: string, origin: string, appendPath: boolean): string {
  let u: URL;
  try {
    u = new URL(base);
  } catch {
    throw new TelemetryConfigError(`${origin}: "${base}" is not a URL (expected e.g. http://collector:4318)`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') {
    throw new TelemetryConfigError(`${origin}: "${base}" must be an http:// or https:// URL`);
  }
  if (!appendPath || /\/v1\/metrics\/?$/.test(u.pathname)) return u.toString();
  return new URL(u.pathname.replace(/\/?$/, '/') + 'v1/metrics', u).toString();
}

/**
 * Resolves whether and where to push OTLP, from the `--otlp` flag and the standard environment.
 * Push is on when the flag is given, or when OTEL_EXPORTER_OTLP_(METRICS_)ENDPOINT is set, or
 * OTEL_METRICS_EXPORTER names otlp; `--otlp=false`, or OTEL_METRICS_EXPORTER=none or
 * OTEL_SDK_DISABLED=true without the flag, turn it off. Returns null when off.
 */
export function resolveOtlpConfig(
  flag: boolean | string | undefined,
  env: Record<string, string | undefined>,
  protocolFlag?: string,
): OtlpConfig | null {
  const specific = env.OTEL_EXPORTER_OTLP_METRICS_ENDPOINT?.trim() || undefined;
  const generic = env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim() || undefined;
  const exporters = (env.OTEL_METRICS_EXPORTER ?? '').split(',').map((s) => s.trim());
  if (flag === false) return null;
  const flagged = flag === true || (typeof flag === 'string' && flag !== '');
  if (!flagged) {
    if (exporters.includes('none')) return null;
    // The specification's switch for every OpenTelemetry SDK in the process; the flag still wins.
    if (env.OTEL_SDK_DISABLED?.trim().toLowerCase() === 'true') return null;
    if (!specific && !generic && !exporters.includes('otlp')) return null;
  }

  let url: string;
  if (typeof flag === 'string' && flag !== '') url = metricsUrl(flag, '--otlp', true);
  else if (specific) url = metricsUrl(specific, 'OTEL_EXPORTER_OTLP_METRICS_ENDPOINT', false);
  else if (generic) url = metricsUrl(generic, 'OTEL_EXPORTER_OTLP_ENDPOINT', true);
  else url = metricsUrl(TELEMETRY_DEFAULTS.otlpEndpoint, 'default endpoint', true);

  const protoSource = protocolFlag !== undefined
    ? ['--otlp-protocol', protocolFlag]
    : env.OTEL_EXPORTER_OTLP_METRICS_PROTOCOL
      ? ['OTEL_EXPORTER_OTLP_METRICS_PROTOCOL', env.OTEL_EXPORTER_OTLP_METRICS_PROTOCOL]
      : env.OTEL_EXPORTER_OTLP_PROTOCOL
        ? ['OTEL_EXPORTER_OTLP_PROTOCOL', env.OTEL_EXPORTER_OTLP_PROTOCOL]
        : ['default', TELEMETRY_DEFAULTS.otlpProtocol];
  const protocol = protoSource[1]!.trim();
  if (protocol !== 'http/protobuf' && protocol !== 'http/json') {
    throw new TelemetryConfigError(
      `${protoSource[0]}: "${protocol}" is not supported; use http/protobuf or http/json` +
        (protocol === 'grpc' ? ' (an OpenTelemetry Collector accepts both on port 4318)' : ''),
    );
  }

  const intervalMs = positiveMs(env, 'OTEL_METRIC_EXPORT_INTERVAL', TELEMETRY_DEFAULTS.otlpIntervalMs);
  // The periodic reader refuses a timeout longer than the interval; clamp as the SDK does implicitly.
  const timeoutMs = Math.min(positiveMs(env, 'OTEL_METRIC_EXPORT_TIMEOUT', TELEMETRY_DEFAULTS.otlpTimeoutMs), intervalMs);
  const temporalityText = env.OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE;
  const temporality = parseTemporalityPreference(temporalityText);
  if (temporality === null) {
    // The SDK's exporter would warn and push cumulative points; a backend that takes only deltas
    // would then drop them without a word, so refuse instead.
    throw new TelemetryConfigError(
      `OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE: "${String(temporalityText).trim()}" is not supported; use cumulative, delta or lowmemory`,
    );
  }
  return { url, protocol, intervalMs, timeoutMs, temporality };
}

/** Validates the port and host flags; throws with the message the CLI prints. */
export function validateMetricsListen(opts: Pick<TelemetryOptions, 'metricsPort' | 'metricsHost'>): void {
  const p = opts.metricsPort;
  if (!Number.isInteger(p) || p < 0 || p > 65535) {
    throw new TelemetryConfigError(`--metrics-port: expected a port number 0-65535 (got ${String(p)})`);
  }
  if (opts.metricsHost !== undefined && opts.metricsHost.trim() === '') {
    throw new TelemetryConfigError('--metrics-host: expected an address or host name (omit it for all interfaces)');
  }
}
