/**
 * Adapts the light Session-Sender (src/session/sender.ts) to a negotiated session without
 * changing it: a Transport whose `open` hands over the test socket we bound before
 * Request-TW-Session (its port is the Sender Port we told the server), wrapped so that in
 * authenticated and encrypted modes the sender's unauthenticated packets are rewritten into the
 * protected formats of RFC 5357 section 4.1.2 on the way out, and protected replies are
 * checked, decrypted and rewritten into the unauthenticated reply format on the way in (with
 * RFC 7750 the DSCP/ECN octet moves from offset 81 to 41).
 */
import type { DatagramHandler, DatagramSocket, SocketOptions, Transport } from '../transport/types.js';
import { decodeSenderPacket, encodeReflectorPacket, SENDER_HEADER_LENGTH } from '../protocol/test-packet.js';
import {
  AUTH_SENDER_TIMESTAMP_OFFSET,
  AUTH_REFLECTOR_HEADER_LENGTH,
  decodeAuthReflectorPacket,
  encodeAuthSenderPacket,
  openTestPacket,
  sealTestPacket,
  type TestPacketKeys,
  type TestSecurity,
} from '../protocol/test-auth.js';
import { DecodeError } from '../protocol/errors.js';
import { AUTH_DSCP_ECN_OFFSET, DSCP_ECN_OFFSET } from '../protocol/dscp-ecn.js';

/** Wraps a socket so that a light sender speaks the authenticated or encrypted test format. */
export class ProtectedSocket implements DatagramSocket {
  /** Replies dropped because they failed the HMAC or were too short. */
  dropped = 0;

  constructor(
    private readonly inner: DatagramSocket,
    private readonly security: TestSecurity,
    private readonly keys: TestPacketKeys,
    /** RFC 7750 negotiated: carry the DSCP/ECN octet over into the unauthenticated layout. */
    private readonly dscpEcn = false,
  ) {}

  get capabilities() {
    return this.inner.capabilities;
  }

  localAddress() {
    return this.inner.localAddress();
  }

  send(data: Buffer, port: number, address: string): void {
    const p = decodeSenderPacket(data);
    const out = encodeAuthSenderPacket(p);
    // Keep the sender's timestamp bytes exactly (its format follows its error estimate).
    data.copy(out, AUTH_SENDER_TIMESTAMP_OFFSET, 4, SENDER_HEADER_LENGTH);
    this.inner.send(sealTestPacket(out, 'sender', this.security, this.keys), port, address);
  }

  onMessage(handler: DatagramHandler): void {
    this.inner.onMessage((d) => {
      let plain: Buffer;
      try {
        plain = openTestPacket(d.data, 'reflector', this.security, this.keys);
      } catch (err) {
        if (!(err instanceof DecodeError)) throw err;
        this.dropped++;
        return;
      }
      const r = decodeAuthReflectorPacket(plain);
      // The light sender reads the unauthenticated layout; padding length keeps the size honest.
      const light = encodeReflectorPacket({ ...r, paddingLength: Math.max(this.dscpEcn ? 1 : 0, d.data.length - AUTH_REFLECTOR_HEADER_LENGTH) });
      if (this.dscpEcn) light[DSCP_ECN_OFFSET] = plain[AUTH_DSCP_ECN_OFFSET]!;
      handler({ ...d, data: light });
    });
  }

  onError(handler: (err: Error) => void): void {
    this.inner.onError(handler);
  }

  setTos(tos: number): void {
    this.inner.setTos(tos);
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}

/** A Transport that returns pre-bound sockets in order, then refuses. */
export class PreboundTransport implements Transport {
  private readonly queue: DatagramSocket[];

  constructor(
    readonly capabilities: Transport['capabilities'],
    sockets: DatagramSocket[],
  ) {
    this.queue = [...sockets];
  }

  async open(options: SocketOptions): Promise<DatagramSocket> {
    const s = this.queue.shift();
    if (!s) throw new Error('no pre-bound test socket left for this session');
    if (options.tos !== undefined) s.setTos(options.tos);
    return s;
  }
}
