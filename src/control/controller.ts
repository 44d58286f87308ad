/**
 * Full TWAMP as a Session-Sender: negotiate over TWAMP-Control, request one or more sessions
 * from a test socket we bind first (so the Sender Port we announce is the port we send from),
 * start them, measure with the light Sender on the ports the server returned, then send
 * Stop-Sessions with the real number of sessions and close.
 */
import type { Clock, Scheduler } from '../session/clock.js';
import type { SenderObserver } from '../session/events.js';
import { Sender, type SenderOptions } from '../session/sender.js';
import type { DatagramSocket, Transport } from '../transport/types.js';
import { ControlClient, type ModeName } from './client.js';
import { PreboundTransport, ProtectedSocket } from './session-transport.js';

/** What the controller needs beyond the light sender's options. */
export interface ControllerOptions {
  /** Label of the target (as the user typed it). */
  name: string;
  host: string;
  /** TWAMP-Control port (862). */
  controlPort: number;
  mode: ModeName;
  keyId?: string;
  secret?: Buffer;
  /** Sessions to request on the one control connection. */
  sessions: number;
  /** Reflector port to ask for (0: the server chooses). */
  receiverPort: number;
  /** DSCP requested in Type-P (0-63). */
  dscp: number;
  /** Timeout field: how long the reflector keeps going after Stop-Sessions, ms. */
  sessionTimeoutMs: number;
  /** Timeout of each control step, ms. */
  controlTimeoutMs: number;
  /** Largest PBKDF2 count accepted from the server. */
  maxCount: number;
  sender: SenderOptions;
}

/** A running controlled measurement. */
export interface ControlledRun {
  client: ControlClient;
  sender: Sender;
  /** Accepted reflector ports, per session. */
  ports: number[];
  /** Resolves when a finite run has resolved every packet. */
  done: Promise<void>;
  /** Stops sending (reporting the final statistics when asked), sends Stop-Sessions, closes. */
  stop(emitFinal?: boolean): Promise<void>;
}

/** Negotiates, starts the sessions and the sender; rejects with a ControlError when refused. */
export async function startControlled(
  o: ControllerOptions,
  transport: Transport,
  clock: Clock,
  scheduler: Scheduler,
  observer: SenderObserver,
): Promise<ControlledRun> {
  if (o.sender.padding.length !== 1) throw new RangeError('a negotiated session has one Padding Length: give a single --padding size');
  const client = await ControlClient.connect({
    host: o.host,
    port: o.controlPort,
    mode: o.mode,
    ...(o.keyId === undefined ? {} : { keyId: o.keyId }),
    ...(o.secret === undefined ? {} : { secret: o.secret }),
    timeoutMs: o.controlTimeoutMs,
    maxCount: o.maxCount,
    scheduler,
    ...(o.sender.localAddress ? { localAddress: o.sender.localAddress } : {}),
    ...(o.sender.dscpEcnMonitoring ? { dscpEcn: true } : {}),
  });
  const opened: DatagramSocket[] = [];
  try {
    const family = client.serverAddress.includes(':') ? 'IPv6' : 'IPv4';
    const wrapped: DatagramSocket[] = [];
    const ports: number[] = [];
    for (let i = 0; i < o.sessions; i++) {
      const sock = await transport.open({
        address: client.localAddress,
        port: 0,
        family,
        ...(o.sender.ttl === undefined ? {} : { ttl: o.sender.ttl }),
        ...(o.sender.tos === undefined ? {} : { tos: o.sender.tos }),
        ...(o.sender.dontFragment ? { dontFragment: true } : {}),
      });
      opened.push(sock);
      const acc = await client.requestSession({
        senderPort: sock.localAddress().port,
        receiverPort: o.receiverPort,
        paddingLength: o.sender.padding[0]!,
        startTimeNs: 0n,
        timeoutNs: BigInt(Math.round(o.sessionTimeoutMs)) * 1_000_000n,
        dscp: o.dscp,
      });
      ports.push(acc.port);
      const security = o.mode === 'authenticated' || o.mode === 'encrypted' ? o.mode : null;
      wrapped.push(security && acc.testKeys ? new ProtectedSocket(sock, security, acc.testKeys, o.sender.dscpEcnMonitoring === true) : sock);
    }
    await client.startSessions();
    // The sockets are already bound: the Sender must not bind its own.
    const sender = new Sender({ ...o.sender, localPort: 0 }, new PreboundTransport(transport.capabilities, wrapped), clock, scheduler, observer);
    for (let i = 0; i < o.sessions; i++) {
      await sender.addTarget({
        name: o.sessions > 1 ? `${o.name}#${i + 1}` : o.name,
        address: client.serverAddress,
        port: ports[i]!,
        family,
      });
    }
    let stopped = false;
    return {
      client,
      sender,
      ports,
      done: sender.done(),
      async stop(emitFinal = true) {
        if (stopped) return;
        stopped = true;
        await sender.stop(emitFinal);
        try {
          client.stopSessions();
        } finally {
          client.close();
        }
      },
    };
  } catch (err) {
    client.close();
    await Promise.all(opened.map((s) => s.close().catch(() => undefined)));
    throw err;
  }
}
