import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startResponder } from '../../src/app/responder-app.js';
import { ManualClock } from '../../src/session/clock.js';
import type { ReflectorOptions } from '../../src/session/reflector.js';
import type { DatagramSocket, SocketOptions } from '../../src/transport/types.js';
import { FakeSocket, FakeTransport } from '../helpers/fakes.js';

const OPTS: ReflectorOptions = {
  stateless: false, refwaitMs: 900_000, maxSessions: 100, allow: null, rateLimitPps: 0,
  maxRequestBytes: 9000, errorEstimate: 1, stamp: true,
};
const LISTEN = [
  { name: '127.0.0.1:1', host: '127.0.0.1', port: 1 },
  { name: '127.0.0.2:1', host: '127.0.0.2', port: 1 },
];

/** Sockets that keep a kernel drop counter, as the native layer's do. */
class CountingTransport extends FakeTransport {
  override async open(o: SocketOptions): Promise<DatagramSocket> {
    const s = (await super.open(o)) as FakeSocket & { stats: { kernelDrops: number } };
    s.stats = { kernelDrops: 0 };
    return s;
  }
}

test('responder sockets send with TTL 255 (the sender reads 255 - TTL as inbound hops)', async () => {
  const transport = new FakeTransport();
  const clock = new ManualClock();
  const h = await startResponder(LISTEN.slice(0, 1), OPTS, { transport, clock, scheduler: clock, observer: {} });
  assert.equal(transport.opened[0]!.ttl, 255);
  await h.close();
});

test('kernel drops: null on a layer without counters, else the sum over the listening sockets', async () => {
  const clock = new ManualClock();
  const plain = await startResponder(LISTEN, OPTS, { transport: new FakeTransport(), clock, scheduler: clock, observer: {} });
  assert.equal(plain.kernelDrops(), null);
  await plain.close();
  const transport = new CountingTransport();
  const h = await startResponder(LISTEN, OPTS, { transport, clock, scheduler: clock, observer: {} });
  assert.equal(h.kernelDrops(), 0);
  (transport.sockets[0] as unknown as { stats: { kernelDrops: number } }).stats.kernelDrops = 3;
  (transport.sockets[1] as unknown as { stats: { kernelDrops: number } }).stats.kernelDrops = 4;
  assert.equal(h.kernelDrops(), 7);
  await h.close();
});
