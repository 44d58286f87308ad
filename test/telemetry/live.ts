/**
 * A real sender and responder on loopback for telemetry tests: one Reflector on 127.0.0.1, N
 * targets (each with its own sender socket), optionally behind the impairment relay with an
 * outbound delay. Everything runs on the system clock and node:dgram.
 */
import { systemClock, systemScheduler } from '../../src/session/clock.js';
import type { ResponderObserver, SenderObserver } from '../../src/session/events.js';
import { Reflector } from '../../src/session/reflector.js';
import { Sender, type SenderOptions } from '../../src/session/sender.js';
import { encodeErrorEstimate } from '../../src/protocol/error-estimate.js';
import { DgramTransport } from '../../src/transport/dgram.js';
import type { DatagramSocket } from '../../src/transport/types.js';
import { startRelay, type Relay } from '../helpers/relay.js';

/** A running loopback measurement. */
export interface Live {
  sender: Sender;
  reflector: Reflector;
  /** Target names, as labels carry them. */
  targets: string[];
  close(): Promise<void>;
}

/** Options of a loopback measurement. */
export interface LiveOptions {
  targets: number;
  intervalMs: number;
  /** Outbound delay added by a relay in front of the targets listed in `delayed` (indexes). */
  delayMs?: number;
  delayed?: number[];
  /** Both ends claim synchronised clocks (S bit), so one-way histograms are recorded. */
  synced?: boolean;
  /** Rolling statistics period, ms. */
  periodMs?: number;
  senderObserver: SenderObserver;
  responderObserver: ResponderObserver;
}

/** Starts a responder and a continuous sender on loopback. */
export async function startLive(o: LiveOptions): Promise<Live> {
  const transport = new DgramTransport();
  const errorEstimate = encodeErrorEstimate({ synced: o.synced ?? false, ptp: false, scale: 0, multiplier: 1 });
  const reflector = new Reflector(
    {
      stateless: false,
      refwaitMs: 900_000,
      maxSessions: 100_000,
      allow: null,
      rateLimitPps: 0,
      maxRequestBytes: 9000,
      errorEstimate,
      stamp: true,
    },
    systemClock,
    systemScheduler,
    o.responderObserver,
  );
  const rsock: DatagramSocket = await transport.open({ address: '127.0.0.1', port: 0, recvBufferSize: 4 << 20, sendBufferSize: 4 << 20 });
  rsock.onMessage((d) => reflector.handle(d, rsock));
  const rport = rsock.localAddress().port;
  const options: SenderOptions = {
    count: 0,
    intervalMs: o.intervalMs,
    padding: [27],
    timeoutMs: 2000,
    periodMs: o.periodMs ?? 1000,
    stamp: false,
    ssid: 0,
    errorEstimate,
    localAddress: '127.0.0.1',
    localPort: 0,
    splay: o.targets > 1,
  };
  const sender = new Sender(options, transport, systemClock, systemScheduler, o.senderObserver);
  const relays: Relay[] = [];
  const targets: string[] = [];
  try {
    for (let i = 0; i < o.targets; i++) {
      let port = rport;
      if (o.delayMs && o.delayed?.includes(i)) {
        const relay = await startRelay({ address: '127.0.0.1', port: rport }, { outbound: { delayMs: o.delayMs } });
        relays.push(relay);
        port = relay.port;
      }
      const name = `t${i}`;
      targets.push(name);
      await sender.addTarget({ name, address: '127.0.0.1', port, family: 'IPv4' });
    }
  } catch (err) {
    await sender.stop(false);
    await Promise.all(relays.map((r) => r.close()));
    reflector.close();
    await rsock.close();
    throw err;
  }
  return {
    sender,
    reflector,
    targets,
    async close() {
      await sender.stop(false);
      await Promise.all(relays.map((r) => r.close()));
      reflector.close();
      await rsock.close();
    },
  };
}

/** Polls `check` every `everyMs` until it returns a value other than undefined, or fails after `timeoutMs`. */
export async function poll<T>(what: string, check: () => Promise<T | undefined> | T | undefined, timeoutMs = 20_000, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
