/**
 * A real sender and responder on loopback for telemetry tests: the shared loopback responder,
 * N targets (each with its own sender socket), some behind the impairment relay with an outbound
 * delay. Everything runs on the system clock and node:dgram.
 */
import { systemClock, systemScheduler } from '../../src/session/clock.js';
import type { ResponderObserver, SenderObserver } from '../../src/session/events.js';
import { Sender } from '../../src/session/sender.js';
import { encodeErrorEstimate } from '../../src/protocol/error-estimate.js';
import { DgramTransport } from '../../src/transport/dgram.js';
import { loopbackResponder, SENDER_DEFAULTS } from '../helpers/loopback.js';
import { startRelay, type Impairment, type Relay } from '../helpers/relay.js';

/** A running loopback measurement. */
export interface Live {
  sender: Sender;
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
  /** Loss timeout, ms (default 2000). */
  timeoutMs?: number;
  /** Impairments of a relay in front of the targets listed in `impaired` (indexes). */
  impairment?: { outbound?: Impairment; inbound?: Impairment };
  impaired?: number[];
  senderObserver: SenderObserver;
  responderObserver: ResponderObserver;
}

/** Starts a responder and a continuous sender on loopback. */
export async function startLive(o: LiveOptions): Promise<Live> {
  const errorEstimate = encodeErrorEstimate({ synced: o.synced ?? false, ptp: false, scale: 0, multiplier: 1 });
  const responder = await loopbackResponder('127.0.0.1', { errorEstimate, maxSessions: 100_000 }, o.responderObserver);
  const sender = new Sender(
    {
      ...SENDER_DEFAULTS,
      count: 0,
      intervalMs: o.intervalMs,
      timeoutMs: o.timeoutMs ?? 2000,
      periodMs: o.periodMs ?? 1000,
      errorEstimate,
      localAddress: '127.0.0.1',
      splay: o.targets > 1,
    },
    new DgramTransport(),
    systemClock,
    systemScheduler,
    o.senderObserver,
  );
  const relays: Relay[] = [];
  const targets: string[] = [];
  const close = async () => {
    await sender.stop(false);
    await Promise.all(relays.map((r) => r.close()));
    await responder.close();
  };
  try {
    for (let i = 0; i < o.targets; i++) {
      let port = responder.port;
      const delayed = o.delayMs !== undefined && o.delayed?.includes(i) === true;
      const impaired = o.impairment !== undefined && o.impaired?.includes(i) === true;
      if (delayed || impaired) {
        const impairment = { ...(impaired ? o.impairment : {}) };
        if (delayed) impairment.outbound = { ...impairment.outbound, delayMs: o.delayMs };
        const relay = await startRelay({ address: '127.0.0.1', port: responder.port }, impairment);
        relays.push(relay);
        port = relay.port;
      }
      const name = `t${i}`;
      targets.push(name);
      await sender.addTarget({ name, address: '127.0.0.1', port, family: 'IPv4' });
    }
  } catch (err) {
    await close();
    throw err;
  }
  return { sender, targets, close };
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
