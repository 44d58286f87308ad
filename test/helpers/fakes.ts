/**
 * In-memory socket and transport for deterministic session tests.
 */
import type { DatagramHandler, DatagramSocket, Family, ReceivedDatagram, SocketOptions, Transport, TransportCapabilities } from '../../src/transport/types.js';

export const FAKE_CAPS: TransportCapabilities = {
  name: 'fake', setTos: true, setTtl: true, setDontFragment: true, receiveTtl: true, receiveTos: true, kernelTimestamps: false,
};

/** A socket that records what is sent and lets the test deliver datagrams. */
export class FakeSocket implements DatagramSocket {
  readonly capabilities = FAKE_CAPS;
  sent: { data: Buffer; port: number; address: string; tos?: number }[] = [];
  handler: DatagramHandler = () => {};
  closed = false;
  constructor(readonly local: { address: string; port: number; family: Family } = { address: '127.0.0.1', port: 40000, family: 'IPv4' }) {}
  localAddress() { return this.local; }
  send(data: Buffer, port: number, address: string, tos?: number): void { this.sent.push({ data: Buffer.from(data), port, address, tos }); }
  onMessage(h: DatagramHandler): void { this.handler = h; }
  onError(): void {}
  setTos(): void {}
  async close(): Promise<void> { this.closed = true; }
  /** Delivers a datagram to the handler. */
  deliver(d: Partial<ReceivedDatagram> & { data: Buffer; rxTimeNs: bigint }): void {
    this.handler({ address: '127.0.0.1', port: 20001, family: 'IPv4', rxTimeSource: 'user', ...d });
  }
}

/** A transport whose sockets are FakeSockets, kept for inspection. */
export class FakeTransport implements Transport {
  readonly capabilities = FAKE_CAPS;
  sockets: FakeSocket[] = [];
  opened: SocketOptions[] = [];
  async open(o: SocketOptions): Promise<DatagramSocket> {
    this.opened.push(o);
    const s = new FakeSocket({ address: o.address, port: 40000 + this.sockets.length, family: o.family ?? 'IPv4' });
    this.sockets.push(s);
    return s;
  }
}
