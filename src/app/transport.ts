/**
 * Chooses the socket layer: the native Linux layer when it is built and loadable, else the
 * portable dgram layer. `TWAMPY_NATIVE=0` forces dgram.
 */
import type { Transport } from '../transport/types.js';
import { DgramTransport } from '../transport/dgram.js';

/** The chosen transport and, when it is the fallback, why the native layer was not used. */
export interface TransportChoice {
  transport: Transport;
  nativeError: string | null;
}

/** Loads the native transport if possible, otherwise returns the dgram transport with the reason. */
export async function chooseTransport(): Promise<TransportChoice> {
  if (process.env.TWAMPY_NATIVE === '0') {
    return { transport: new DgramTransport(), nativeError: 'disabled by TWAMPY_NATIVE=0' };
  }
  try {
    // Resolved at run time: the native module is optional and may be absent from a build.
    const url = new URL('../transport/native.js', import.meta.url).href;
    const mod = (await import(url)) as {
      loadNativeTransport?: () => { transport: Transport } | { error: string };
    };
    if (typeof mod.loadNativeTransport !== 'function') {
      return { transport: new DgramTransport(), nativeError: 'native module has no loadNativeTransport()' };
    }
    const r = mod.loadNativeTransport();
    if ('transport' in r) return { transport: r.transport, nativeError: null };
    return { transport: new DgramTransport(), nativeError: r.error };
  } catch (err) {
    return { transport: new DgramTransport(), nativeError: `native socket layer not available: ${(err as Error).message}` };
  }
}
