/**
 * Shared helpers of the native transport tests: loading the addon (failing in CI, skipping with a
 * reason elsewhere), collecting datagrams, waiting with a bound.
 */
import { loadNativeTransport, type NativeSocket, type NativeTransport } from '../../src/transport/native.js';
import type { ReceivedDatagram } from '../../src/transport/types.js';

/** True when running in CI, where a missing prerequisite is a failure, never a skip. */
export const IN_CI = process.env.CI === 'true';

/** The native transport, or the reason it is unavailable (a test then fails in CI, skips elsewhere). */
export function nativeOrReason(): { transport: NativeTransport } | { reason: string } {
  const r = loadNativeTransport();
  if ('error' in r) return { reason: r.error };
  return { transport: r.transport as NativeTransport };
}

const loaded = nativeOrReason();

/** The `skip` option of a native test: the reason outside CI when the addon is unavailable, else false (in CI the test runs and fails). */
export const NATIVE_SKIP: string | false = 'reason' in loaded && !IN_CI ? `native addon unavailable: ${loaded.reason}` : false;

/** The native transport; throws, failing the test, when the addon is unavailable. */
export function nativeTransport(): NativeTransport {
  if ('reason' in loaded) throw new Error(`native addon unavailable (required in CI): ${loaded.reason}`);
  return loaded.transport;
}

/** Copy of a received datagram that outlives the handler call (the payload view is reused). */
export interface Captured extends Omit<ReceivedDatagram, 'data'> {
  data: Buffer;
}

/** Collects every datagram a socket receives, copying the payload. */
export function collect(sock: NativeSocket): Captured[] {
  const got: Captured[] = [];
  sock.onMessage((d) => got.push({ ...d, data: Buffer.from(d.data) }));
  return got;
}

/** Resolves once `cond()` holds; rejects after `ms` with `what`. */
export async function waitFor(cond: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}
