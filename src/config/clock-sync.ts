/**
 * What we claim about our clock in the Error Estimate (RFC 4656 section 4.1.2). S=1 only when the
 * user says the clock is synchronised or a synchronisation daemon says so; the error is never
 * smaller than the clock's measured resolution.
 */
import { existsSync } from 'node:fs';
import { encodeErrorEstimate, errorEstimateFor } from '../protocol/error-estimate.js';
import { DEFAULTS } from './defaults.js';

/** How we know whether the clock is synchronised. */
export interface ClockSyncStatus {
  synced: boolean;
  /** 'flag' (--clock-synced), 'systemd-timesyncd', or 'none'. */
  source: string;
}

/** Detects a synchronised clock: systemd-timesyncd's flag file (written once it has synchronised). */
export function detectClockSync(flag: boolean | undefined): ClockSyncStatus {
  if (flag === true) return { synced: true, source: 'flag' };
  if (flag === false) return { synced: false, source: 'flag' };
  if (existsSync('/run/systemd/timesync/synchronized')) return { synced: true, source: 'systemd-timesyncd' };
  return { synced: false, source: 'none' };
}

/** Smallest non-zero step of the clock we timestamp with, in seconds (at least 1 ns). */
export function measureClockResolutionS(samples = 2000): number {
  let best = Infinity;
  let prev = process.hrtime.bigint();
  for (let i = 0; i < samples; i++) {
    const now = process.hrtime.bigint();
    const d = Number(now - prev);
    if (d > 0 && d < best) best = d;
    prev = now;
  }
  return Number.isFinite(best) ? Math.max(best, 1) / 1e9 : 1e-6;
}

/**
 * The 16-bit error estimate we send. Unsynchronised: S=0 and the error of our timestamps relative
 * to each other (the anchor's microsecond precision or the clock resolution, whichever is larger).
 * Synchronised: S=1 and the error the user gives (`--clock-error`), default 1 ms.
 */
export function ourErrorEstimate(status: ClockSyncStatus, clockErrorS?: number): number {
  const resolution = Math.max(1e-6, measureClockResolutionS());
  const err = status.synced ? Math.max(resolution, clockErrorS ?? DEFAULTS.syncedClockErrorS) : resolution;
  return encodeErrorEstimate(errorEstimateFor(err, status.synced));
}
