/**
 * The portable socket layer over `node:dgram`. It can set the outgoing TTL, and nothing else that
 * TWAMP wants from a socket: no TOS/DSCP, no Don't Fragment, no received TTL/TOS, no kernel
 * timestamps. Receive times are read from the clock at the top of the message callback, which
 * adds the event loop's queueing delay to T2/T4 (typically tens of microseconds on an idle host).
 * Options it cannot honour are refused with UnsupportedFeatureError, never ignored.
 */
import * as dgram from 'node:dgram';
import { isIPv4, isIPv6 } from 'node:net';
import type { Clock } from '../session/clock.js';
import { systemClock } from '../session/clock.js';
import type {
  DatagramHandler,
  DatagramSocket,
  Family,
  SocketOptions,
  Transport,
  TransportCapabilities,
} from './types.js';
import { UnsupportedFeatureError } from './types.js';

/** Capabilities of the dgram layer. */
export const DGRAM_CAPABILITIES: TransportCapabilities = Object.freeze({
  name: 'dgram',
  setTos: false,
  setTtl: true,
  setDontFragment: false,
  receiveTtl: false,
  receiveTos: false,
  kernelTimestamps: false,
});

const NATIVE_HINT =
  'the portable dgram socket layer cannot do this (Node.js has no API for it); it needs the native Linux socket layer (see README, "Native socket layer")';

/** Strips the IPv4-mapped prefix so that addresses compare equal across families. */
export function normaliseAddress(address: string): string {
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}

class DgramSocket implements DatagramSocket {
  readonly capabilities = DGRAM_CAPABILITIES;
  private handler: DatagramHandler = () => {};
  private errorHandler: (err: Error) => void = () => {};

  constructor(
    private readonly sock: dgram.Socket,
    private readonly family: Family,
    private readonly clock: Clock,
  ) {
    sock.on('message', (data, rinfo) => {
      // Read the clock first: this is the closest the dgram layer gets to the arrival time.
      const rxTimeNs = this.clock.nowNs();
      this.handler({
        data,
        address: normaliseAddress(rinfo.address),
        port: rinfo.port,
        family: rinfo.family === 'IPv6' ? 'IPv6' : 'IPv4',
        rxTimeNs,
        rxTimeSource: 'user',
      });
    });
    sock.on('error', (err) => this.errorHandler(err));
  }

  localAddress(): { address: string; port: number; family: Family } {
    const a = this.sock.address();
    return { address: a.address, port: a.port, family: this.family };
  }

  send(data: Buffer, port: number, address: string, tos?: number): void {
    if (tos !== undefined) {
      this.errorHandler(new UnsupportedFeatureError('tos', `cannot set TOS/DSCP ${tos} on a datagram: ${NATIVE_HINT}`));
      return;
    }
    // A dual-stack IPv6 socket reaches IPv4 peers through their IPv4-mapped address.
    const to = this.family === 'IPv6' && isIPv4(address) ? `::ffff:${address}` : address;
    // No per-send callback: it costs an allocation per packet on the reflector's hot path, and
    // without one Node reports send errors as the socket's 'error' event, which we forward.
    this.sock.send(data, port, to);
  }

  onMessage(handler: DatagramHandler): void {
    this.handler = handler;
  }

  onError(handler: (err: Error) => void): void {
    this.errorHandler = handler;
  }

  setTos(_tos: number): void {
    throw new UnsupportedFeatureError('tos', `cannot set TOS/DSCP: ${NATIVE_HINT}`);
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      try {
        this.sock.close(() => resolve());
      } catch {
        resolve(); // already closed
      }
    });
  }
}

/** A Transport over node:dgram. */
export class DgramTransport implements Transport {
  readonly capabilities = DGRAM_CAPABILITIES;

  constructor(private readonly clock: Clock = systemClock) {}

  async open(options: SocketOptions): Promise<DatagramSocket> {
    if (options.tos !== undefined && options.tos !== 0) {
      throw new UnsupportedFeatureError('tos', `cannot set TOS/DSCP ${options.tos}: ${NATIVE_HINT}`);
    }
    if (options.dontFragment) {
      throw new UnsupportedFeatureError('dontFragment', `cannot set Don't Fragment: ${NATIVE_HINT}`);
    }
    const family: Family = options.family ?? (isIPv6(options.address) ? 'IPv6' : 'IPv4');
    const sock = dgram.createSocket({
      type: family === 'IPv6' ? 'udp6' : 'udp4',
      ipv6Only: family === 'IPv6' && options.address !== '::',
      recvBufferSize: options.recvBufferSize,
      sendBufferSize: options.sendBufferSize,
    });
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error) => {
        sock.close();
        reject(err);
      };
      sock.once('error', onError);
      sock.bind(options.port, options.address, () => {
        sock.off('error', onError);
        resolve();
      });
    });
    if (options.ttl !== undefined) sock.setTTL(options.ttl);
    return new DgramSocket(sock, family, this.clock);
  }
}
