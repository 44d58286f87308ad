/**
 * Loopback fixtures: a real responder on port 0 and a real sender run, in-process.
 */
import { startResponder, type ResponderHandle } from '../../src/app/responder-app.js';
import { Sender, type SenderOptions } from '../../src/session/sender.js';
import { systemClock, systemScheduler } from '../../src/session/clock.js';
import type { ReflectorOptions } from '../../src/session/reflector.js';
import type { ReplyEvent, ResponderObserver, StatsEvent } from '../../src/session/events.js';
import type { Transport } from '../../src/transport/types.js';
import { DgramTransport } from '../../src/transport/dgram.js';

export const REFLECTOR_DEFAULTS: ReflectorOptions = {
  stateless: false, refwaitMs: 900_000, maxSessions: 1000, allow: null, rateLimitPps: 0,
  maxRequestBytes: 9000, errorEstimate: 0x0001, stamp: true,
};

export const SENDER_DEFAULTS: SenderOptions = {
  count: 20, intervalMs: 10, padding: [27], timeoutMs: 1000, periodMs: 1000, stamp: false, ssid: 0,
  errorEstimate: 0x0001, localAddress: '', localPort: 0, splay: false,
};

/** Starts a responder on `host`:0. */
export async function loopbackResponder(
  host = '127.0.0.1',
  o: Partial<ReflectorOptions> = {},
  observer: ResponderObserver = {},
  transport: Transport = new DgramTransport(),
): Promise<ResponderHandle & { port: number }> {
  const h = await startResponder([{ name: `${host}:0`, host, port: 0 }], { ...REFLECTOR_DEFAULTS, ...o }, {
    transport, clock: systemClock, scheduler: systemScheduler, observer,
  });
  return Object.assign(h, { port: h.listening[0]!.port });
}

/** Runs a finite sender against one target and returns its final statistics and replies. */
export async function measure(
  address: string,
  port: number,
  o: Partial<SenderOptions> = {},
  transport: Transport = new DgramTransport(),
): Promise<{ final: StatsEvent; replies: ReplyEvent[] }> {
  const replies: ReplyEvent[] = [];
  let final: StatsEvent | null = null;
  const sender = new Sender({ ...SENDER_DEFAULTS, ...o }, transport, systemClock, systemScheduler, {
    onReply: (e) => replies.push(e),
    onStats: (e) => { if (e.final) final = e; },
  });
  await sender.addTarget({ name: `${address}:${port}`, address, port, family: address.includes(':') ? 'IPv6' : 'IPv4' });
  await sender.done();
  await sender.stop(false);
  return { final: final!, replies };
}
