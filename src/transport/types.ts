/**
 * The socket layer behind which sessions live. `dgram.ts` is the portable implementation; a
 * native Linux layer (DSCP, TTL, Don't Fragment, kernel timestamps, batching) implements the same
 * interface. Sessions never import `node:dgram` themselves.
 */

/** Address family of a socket. */
export type Family = 'IPv4' | 'IPv6';

/** One received datagram and what the socket layer knows about its arrival. */
export interface ReceivedDatagram {
  /** The payload. Valid only for the duration of the handler call (a native layer may reuse it). */
  data: Buffer;
  /** Source address (IPv4 dotted quad or IPv6 text, no brackets, no IPv4-mapped prefix). */
  address: string;
  /** Source UDP port. */
  port: number;
  /** Address family of the source. */
  family: Family;
  /** Wall-clock receive time, ns since the Unix epoch (kernel timestamp when `rxTimeSource` is 'kernel'). */
  rxTimeNs: bigint;
  /** Where `rxTimeNs` came from. */
  rxTimeSource: 'kernel' | 'user';
  /** TTL / hop limit of the received packet, when the layer can read it. */
  ttl?: number;
  /** TOS / traffic class byte of the received packet (DSCP << 2 | ECN), when the layer can read it. */
  tos?: number;
}

/** What a socket implementation can do; features not listed here must be refused, not ignored. */
export interface TransportCapabilities {
  /** Human-readable name, e.g. "dgram" or "native". */
  name: string;
  /** Can set the outgoing TOS / traffic class (DSCP + ECN). */
  setTos: boolean;
  /** Can set the outgoing TTL / hop limit. */
  setTtl: boolean;
  /** Can set Don't Fragment. */
  setDontFragment: boolean;
  /** Delivers the received TTL / hop limit. */
  receiveTtl: boolean;
  /** Delivers the received TOS / traffic class. */
  receiveTos: boolean;
  /** Delivers kernel receive timestamps. */
  kernelTimestamps: boolean;
}

/** Per-socket options applied at open time. */
export interface SocketOptions {
  /** Local address to bind; '0.0.0.0' / '::' for any. */
  address: string;
  /** Local port; 0 for an ephemeral port. */
  port: number;
  /** Family to open; derived from `address` when omitted. */
  family?: Family;
  /** Outgoing TTL / hop limit. */
  ttl?: number;
  /** Outgoing TOS byte (DSCP << 2 | ECN). Refused by layers that cannot set it. */
  tos?: number;
  /** Set Don't Fragment. Refused by layers that cannot set it. */
  dontFragment?: boolean;
  /** Receive buffer size in bytes, when the layer supports it. */
  recvBufferSize?: number;
  /** Send buffer size in bytes, when the layer supports it. */
  sendBufferSize?: number;
}

/** Called for every received datagram. */
export type DatagramHandler = (dgram: ReceivedDatagram) => void;

/** An open UDP socket. */
export interface DatagramSocket {
  /** What this socket can do. */
  readonly capabilities: TransportCapabilities;
  /** Local address and port actually bound. */
  localAddress(): { address: string; port: number; family: Family };
  /**
   * Sends `data` to `address:port`, with a TOS byte for this datagram when `tos` is given (layers
   * that cannot set it report UnsupportedFeatureError to the error handler and do not send).
   * Errors are reported to the error handler, never thrown.
   */
  send(data: Buffer, port: number, address: string, tos?: number): void;
  /** Sets the receive handler (one per socket). */
  onMessage(handler: DatagramHandler): void;
  /** Sets the error handler for asynchronous socket errors. */
  onError(handler: (err: Error) => void): void;
  /** Changes the outgoing TOS byte; throws `UnsupportedFeatureError` if the layer cannot. */
  setTos(tos: number): void;
  /** Closes the socket. */
  close(): Promise<void>;
  /**
   * True when `send()` copies the datagram before it returns, so the caller may reuse its buffer
   * at once (the native layer's send arena); a reflector then builds every reply in one buffer.
   */
  readonly copiesOnSend?: boolean;
  /**
   * Counters of layers that keep them (the native layer); `kernelDrops` is the kernel's
   * cumulative count of datagrams dropped for a full receive buffer (SO_RXQ_OVFL).
   */
  readonly stats?: { readonly kernelDrops: number };
}

/** Opens sockets; the app picks one factory (native when available, dgram otherwise). */
export interface Transport {
  /** What sockets from this transport can do. */
  readonly capabilities: TransportCapabilities;
  /** Opens and binds a socket; rejects with a clear error when an option cannot be honoured. */
  open(options: SocketOptions): Promise<DatagramSocket>;
}

/** Raised when the user asks for a feature the socket layer cannot deliver. */
export class UnsupportedFeatureError extends Error {
  readonly code = 'ERR_TWAMPY_UNSUPPORTED';
  constructor(
    readonly feature: string,
    message: string,
  ) {
    super(message);
    this.name = 'UnsupportedFeatureError';
  }
}
