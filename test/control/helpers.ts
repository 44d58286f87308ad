// Shared fixtures for the TWAMP-Control tests: a server on an ephemeral loopback port and a
// controlled measurement against it.
import { ControlServer, type ControlServerOptions } from '../../src/control/server.js';
import { startControlled, type ControllerOptions } from '../../src/control/controller.js';
import type { ControlObserver, ControlRejectEvent, ControlSessionEvent } from '../../src/control/events.js';
import { DgramTransport } from '../../src/transport/dgram.js';
import { systemClock, systemScheduler } from '../../src/session/clock.js';
import type { StatsEvent } from '../../src/session/events.js';
import type { SenderOptions } from '../../src/session/sender.js';
import { Mode } from '../../src/protocol/control/common.js';

export const SECRET = Buffer.from('correct horse battery staple');

/** Server options for tests: every mode, one key, short timers. */
export function serverOptions(over: Partial<ControlServerOptions> = {}): ControlServerOptions {
  return {
    modes: Mode.UNAUTHENTICATED | Mode.AUTHENTICATED | Mode.ENCRYPTED | Mode.MIXED,
    keys: new Map([['alice', SECRET]]),
    count: 1024,
    servwaitMs: 10_000,
    refwaitMs: 10_000,
    maxConnections: 16,
    maxConnectionsPerPeer: 8,
    maxSessions: 16,
    maxSessionsPerConnection: 4,
    allow: null,
    testPorts: null,
    maxPadding: 9000,
    maxTimeoutMs: 5000,
    errorEstimate: 0x0001,
    ...over,
  };
}

/** A recording observer. */
export class Recorder implements ControlObserver {
  rejects: ControlRejectEvent[] = [];
  sessions: ControlSessionEvent[] = [];
  closed: string[] = [];
  refused: string[] = [];
  onReject(e: ControlRejectEvent): void {
    this.rejects.push(e);
  }
  onSession(e: ControlSessionEvent): void {
    this.sessions.push(e);
  }
  onClosed(e: { reason: string }): void {
    this.closed.push(e.reason);
  }
  onConnection(e: { result: string; reason?: string }): void {
    if (e.result === 'refused') this.refused.push(e.reason ?? '');
  }
  reasons(): string[] {
    return this.rejects.map((r) => r.reason);
  }
}

/** Starts a server on `host` port 0. */
export async function startServer(host: string, over: Partial<ControlServerOptions> = {}, rec = new Recorder()) {
  const server = new ControlServer(serverOptions(over), new DgramTransport(), systemClock, systemScheduler, rec);
  const port = await server.listen(0, host);
  return { server, port, rec };
}

export function senderOptions(over: Partial<SenderOptions> = {}): SenderOptions {
  return {
    count: 5,
    intervalMs: 10,
    padding: [27],
    timeoutMs: 500,
    periodMs: 1000,
    stamp: false,
    ssid: 0,
    errorEstimate: 0x0001,
    localAddress: '',
    localPort: 0,
    splay: false,
    ...over,
  };
}

/** Runs a finite controlled measurement and returns its final statistics. */
export async function measure(host: string, port: number, over: Partial<ControllerOptions> = {}): Promise<StatsEvent[]> {
  const finals: StatsEvent[] = [];
  const run = await startControlled(
    {
      name: 'target',
      host,
      controlPort: port,
      mode: 'open',
      sessions: 1,
      receiverPort: 0,
      dscp: 0,
      sessionTimeoutMs: 200,
      controlTimeoutMs: 5000,
      maxCount: 1 << 20,
      sender: senderOptions(),
      ...over,
    },
    new DgramTransport(),
    systemClock,
    systemScheduler,
    { onStats: (e) => { if (e.final) finals.push(e); } },
  );
  try {
    await run.done;
  } finally {
    await run.stop(false);
  }
  return finals;
}

/** Waits until `cond()` or throws after `ms`. */
export async function waitFor(cond: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
