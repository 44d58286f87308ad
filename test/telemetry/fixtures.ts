/**
 * Helpers for the telemetry tests: plain session events with chosen values, a telemetry layer
 * with a fixed resource (so that `target_info` is reproducible), and a logger that records.
 */
import { spawnSync } from 'node:child_process';
import type { DirectionStats, StatsEvent, TargetStats } from '../../src/session/events.js';
import { Telemetry, type TelemetryLogger } from '../../src/telemetry/telemetry.js';
import type { TelemetryOptions } from '../../src/telemetry/options.js';

/** A logger that keeps what it was given. */
export class RecordingLogger implements TelemetryLogger {
  readonly lines: { key: string; msg: string }[] = [];
  /** Records a line. */
  limited(key: string, msg: string): void {
    this.lines.push({ key, msg });
  }
}

/** Resource attributes that replace the random instance id and the host name in tests. */
export const FIXED_RESOURCE = 'service.instance.id=test-instance,host.name=test-host';

/**
 * Starts a telemetry layer with a fixed resource (process metrics off unless asked for). `env` is
 * both handed to the options resolver and set in process.env while starting, because the OTLP
 * exporters and the resource detector read process.env themselves.
 */
export async function startTestTelemetry(
  opts: Partial<TelemetryOptions>,
  env: Record<string, string> = {},
  logger: TelemetryLogger = new RecordingLogger(),
  processMetrics = false,
): Promise<Telemetry> {
  const vars: Record<string, string> = {
    ...env,
    OTEL_RESOURCE_ATTRIBUTES: env.OTEL_RESOURCE_ATTRIBUTES ? `${FIXED_RESOURCE},${env.OTEL_RESOURCE_ATTRIBUTES}` : FIXED_RESOURCE,
  };
  const saved = new Map(Object.keys(vars).map((k) => [k, process.env[k]]));
  Object.assign(process.env, vars);
  try {
    return await Telemetry.start(
      { metrics: false, metricsPort: 0, nodegraph: false, sourceName: 'probe-1', ...opts },
      { logger, env, serviceVersion: '1.2.3', processMetrics },
    );
  } finally {
    for (const [k, v] of saved) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

/**
 * Direction figures; null fields mean "nothing measured". `samplesMs`: the period's delay samples
 * (default: one sample at `minMs`, none when it is null).
 */
export function dir(
  minMs: number | null,
  avgMs: number | null,
  maxMs: number | null,
  jitterMs: number | null,
  lossPct: number | null,
  samplesMs: number[] = minMs === null ? [] : [minMs],
): DirectionStats {
  const samplesNs = samplesMs.map((ms) => Math.round(ms * 1e6)).sort((a, b) => a - b);
  return { samples: samplesNs.length, samplesNs, minMs, avgMs, maxMs, jitterMs, p50Ms: avgMs, p90Ms: maxMs, p99Ms: maxMs, lossPct };
}

/** A stats event. */
export function stats(
  target: string,
  d: { outbound: DirectionStats; inbound: DirectionStats; roundtrip: DirectionStats },
  counts: Partial<Pick<TargetStats, 'sent' | 'received' | 'lost' | 'lostOutbound' | 'lostInbound' | 'duplicates' | 'reordered' | 'late' | 'clockSynced' | 'path'>> = {},
): StatsEvent {
  const received = counts.received ?? 1;
  return {
    final: false,
    result: received > 0 ? 'ok' : 'error',
    stats: {
      target,
      address: '127.0.0.1',
      port: 20001,
      sent: counts.sent ?? 1,
      received,
      lost: counts.lost ?? 0,
      lostOutbound: counts.lostOutbound ?? null,
      lostInbound: counts.lostInbound ?? null,
      duplicates: counts.duplicates ?? 0,
      reordered: counts.reordered ?? 0,
      late: counts.late ?? 0,
      ...d,
      reflectorStateful: counts.lostOutbound !== undefined ? true : null,
      path: counts.path ?? { hopsOutbound: null, hopsInbound: null, sentDscp: 0, reflectorRxDscp: null, replyDscp: null, remarkedOutbound: null, remarkedInbound: null },
      clockSynced: counts.clockSynced ?? false,
      startNs: 0n,
      endNs: 1n,
    },
  };
}

/** The sample lines (not comments) of one metric family, in order. */
export function samples(exposition: string, name: string): string[] {
  return exposition.split('\n').filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `));
}

/** The value of the sample whose line starts with `prefix` (name and labels), or undefined. */
export function sampleValue(exposition: string, prefix: string): number | undefined {
  const line = exposition.split('\n').find((l) => l.startsWith(prefix + ' '));
  return line === undefined ? undefined : Number(line.slice(prefix.length + 1));
}

/** Whether an external tool is on PATH. */
export function haveTool(name: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' }).status === 0;
}

/**
 * Skips a test when a tool is missing, except in CI (CI=true), where a missing tool must fail the
 * run instead of silently testing less.
 */
export function requireTool(t: { skip(msg: string): void }, name: string): boolean {
  if (haveTool(name)) return true;
  if (process.env.CI === 'true') throw new Error(`${name} is required in CI (installed by .ci/run) but was not found`);
  t.skip(`${name} not installed`);
  return false;
}

/** Runs `promtool check metrics` on an exposition; returns its exit status and output. */
export function promtoolCheck(exposition: string): { status: number | null; output: string } {
  const r = spawnSync('promtool', ['check', 'metrics'], { input: exposition, encoding: 'utf8', timeout: 30_000 });
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}
