/**
 * The responder application: binds the listen addresses, feeds every datagram to one Reflector,
 * and keeps running whatever arrives.
 */
import type { Clock, Scheduler } from '../session/clock.js';
import type { ResponderObserver } from '../session/events.js';
import type { DatagramSocket, Transport } from '../transport/types.js';
import { Reflector, type ReflectorOptions } from '../session/reflector.js';
import { resolveHost, type ParsedTarget } from '../config/targets.js';

/** A running responder. */
export interface ResponderHandle {
  reflector: Reflector;
  /** Bound addresses, e.g. `127.0.0.1:20001` or `[::]:20001`. */
  listening: { address: string; port: number }[];
  /** Datagrams the kernel dropped on our sockets (receive buffer full), or null when the socket layer cannot count them. */
  kernelDrops(): number | null;
  close(): Promise<void>;
}

/** Binds every listen address and starts reflecting. */
export async function startResponder(
  listen: ParsedTarget[],
  options: ReflectorOptions,
  deps: { transport: Transport; clock: Clock; scheduler: Scheduler; observer: ResponderObserver; onSocketError?: (e: Error) => void },
): Promise<ResponderHandle> {
  const reflector = new Reflector(options, deps.clock, deps.scheduler, deps.observer);
  const sockets: DatagramSocket[] = [];
  try {
    for (const l of listen) {
      const { address, family } = await resolveHost(l.host);
      // TTL 255, as twampd and routers' reflectors send: the sender reads 255 - TTL as the inbound hop count.
      const s = await deps.transport.open({ address, port: l.port, family, ttl: 255, recvBufferSize: 4 << 20, sendBufferSize: 4 << 20 });
      s.onMessage((d) => reflector.handle(d, s));
      s.onError((e) => deps.onSocketError?.(e));
      sockets.push(s);
    }
  } catch (err) {
    reflector.close();
    await Promise.all(sockets.map((s) => s.close()));
    throw err;
  }
  return {
    reflector,
    listening: sockets.map((s) => s.localAddress()),
    kernelDrops() {
      if (!sockets.some((s) => s.stats)) return null;
      let n = 0;
      for (const s of sockets) n += s.stats?.kernelDrops ?? 0;
      return n;
    },
    async close() {
      reflector.close();
      await Promise.all(sockets.map((s) => s.close()));
    },
  };
}

/** Formats an address and port for display (`[v6]:port` for IPv6). */
export function formatHostPort(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}
