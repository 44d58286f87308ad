// The server against clients that misbehave: byte-by-byte writers (one read is not one message),
// silent and dribbling clients (SERVWAIT), malformed, out-of-order and unknown commands, HMAC
// tampering, and thousands of random and mutated control streams (fast-check); after all of
// them the server still serves a good client.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import fc from 'fast-check';
import { ControlClient } from '../../src/control/client.js';
import { systemScheduler } from '../../src/session/clock.js';
import { encodeSetupResponse } from '../../src/protocol/control/setup-response.js';
import { encodeRequestTwSession } from '../../src/protocol/control/request-tw-session.js';
import { encodeStartSessions } from '../../src/protocol/control/start-sessions.js';
import { encodeStopSessions } from '../../src/protocol/control/stop-sessions.js';
import { decodeAcceptSession } from '../../src/protocol/control/accept-session.js';
import { decodeServerStart } from '../../src/protocol/control/server-start.js';
import { SECRET, measure, startServer, waitFor } from './helpers.js';

const servers: { close(): Promise<void> }[] = [];
after(async () => {
  await Promise.all(servers.map((s) => s.close()));
});

/** A raw TCP client that collects everything the server sends and notices the close. */
class RawClient {
  readonly sock: Socket;
  received = Buffer.alloc(0);
  closed = false;
  private constructor(sock: Socket) {
    this.sock = sock;
    sock.on('data', (b) => (this.received = Buffer.concat([this.received, b])));
    sock.on('close', () => (this.closed = true));
    sock.on('error', () => undefined);
  }
  static open(port: number, host = '127.0.0.1'): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const s = connect({ port, host }, () => resolve(new RawClient(s)));
      s.setNoDelay(true);
      s.once('error', reject);
    });
  }
  async writeSlowly(b: Buffer, pauseMs: number): Promise<void> {
    for (const byte of b) {
      if (this.closed) return;
      this.sock.write(Buffer.from([byte]));
      await new Promise((r) => setTimeout(r, pauseMs));
    }
  }
  destroy(): void {
    this.sock.destroy();
  }
}

const openSetup = () => encodeSetupResponse({ mode: 1, keyId: Buffer.alloc(0), token: Buffer.alloc(0), clientIv: Buffer.alloc(0) });
const request = (receiverPort = 0) =>
  encodeRequestTwSession({
    ipvn: 4, confSender: 0, confReceiver: 0, scheduleSlots: 0, packets: 0, senderPort: 40000, receiverPort,
    senderAddress: null, receiverAddress: null, sid: Buffer.alloc(16), paddingLength: 27, startTimeNs: 0n,
    timeoutNs: 0n, typeP: 0, hmac: Buffer.alloc(16),
  });

test('a client writing every message byte by byte is served (exact-size reads)', async () => {
  const { server, port, rec } = await startServer('127.0.0.1');
  servers.push(server);
  const c = await RawClient.open(port);
  try {
    await waitFor(() => c.received.length >= 64, 3000, 'greeting');
    await c.writeSlowly(openSetup(), 0);
    await waitFor(() => c.received.length >= 64 + 48, 3000, 'Server-Start');
    assert.equal(decodeServerStart(c.received.subarray(64)).accept, 0);
    // Request and Start-Sessions pipelined, one byte per write.
    await c.writeSlowly(Buffer.concat([request(), encodeStartSessions({ hmac: Buffer.alloc(16) })]), 0);
    await waitFor(() => c.received.length >= 64 + 48 + 48 + 32, 3000, 'Accept-Session and Start-Ack');
    const acc = decodeAcceptSession(c.received.subarray(112));
    assert.equal(acc.accept, 0);
    assert.ok(acc.port > 0);
    assert.equal(c.received[160], 0); // Start-Ack accept
    await c.writeSlowly(encodeStopSessions({ accept: 0, numberOfSessions: 1, hmac: Buffer.alloc(16) }), 0);
    await waitFor(() => rec.sessions.some((e) => e.outcome === 'completed'), 3000, 'session completed');
    assert.deepEqual(rec.reasons(), []);
  } finally {
    c.destroy();
  }
});

test('a silent client is dropped after SERVWAIT', async () => {
  const { server, port, rec } = await startServer('127.0.0.1', { servwaitMs: 300 });
  servers.push(server);
  const c = await RawClient.open(port);
  const t0 = Date.now();
  await waitFor(() => c.closed, 3000, 'server to close a silent client');
  const took = Date.now() - t0;
  assert.ok(took >= 250 && took < 2500, `closed after ${took} ms`);
  assert.ok(rec.reasons().includes('servwait_timeout'));
  assert.equal(server.active.connections, 0);
});

test('a client dribbling one byte every 50 ms is dropped on time (bytes do not reset SERVWAIT)', async () => {
  const { server, port, rec } = await startServer('127.0.0.1', { servwaitMs: 400 });
  servers.push(server);
  const c = await RawClient.open(port);
  const t0 = Date.now();
  void c.writeSlowly(openSetup(), 50); // 164 bytes would need 8 s
  await waitFor(() => c.closed, 4000, 'server to drop the slow client');
  assert.ok(Date.now() - t0 < 2500);
  assert.ok(rec.reasons().includes('servwait_timeout'));
  c.destroy();
});

test('after set-up, an idle control connection is closed after SERVWAIT; test packets would keep it', async () => {
  const { server, port, rec } = await startServer('127.0.0.1', { servwaitMs: 400 });
  servers.push(server);
  const c = await ControlClient.connect({ host: '127.0.0.1', port, mode: 'open', timeoutMs: 3000, maxCount: 1 << 20, scheduler: systemScheduler });
  await waitFor(() => server.active.connections === 0, 3000, 'idle connection closed');
  assert.ok(rec.reasons().includes('servwait_timeout'));
  c.close();
  // A measurement longer than SERVWAIT (1.2 s of packets, 400 ms SERVWAIT) is kept alive by its test packets.
  const finals = await measure('127.0.0.1', port, { sender: { ...(await import('./helpers.js')).senderOptions({ count: 12, intervalMs: 100 }) } });
  assert.equal(finals[0]!.stats.received, 12);
});

test('unknown command: connection closed, reason unknown_command', async () => {
  const { server, port, rec } = await startServer('127.0.0.1');
  servers.push(server);
  const c = await RawClient.open(port);
  c.sock.write(openSetup());
  const cmd = Buffer.alloc(32);
  cmd[0] = 6; // Experimentation: not implemented
  c.sock.write(cmd);
  await waitFor(() => c.closed, 3000, 'close');
  assert.ok(rec.reasons().includes('unknown_command'));
});

test('out of order: Start-Sessions with nothing requested gets Start-Ack 1; the connection stays usable', async () => {
  const { server, port, rec } = await startServer('127.0.0.1');
  servers.push(server);
  const c = await RawClient.open(port);
  try {
    c.sock.write(openSetup());
    c.sock.write(encodeStartSessions({ hmac: Buffer.alloc(16) }));
    await waitFor(() => c.received.length >= 64 + 48 + 32, 3000, 'Start-Ack');
    assert.equal(c.received[112], 1);
    assert.ok(rec.reasons().includes('out_of_order'));
    c.sock.write(request());
    await waitFor(() => c.received.length >= 144 + 48, 3000, 'Accept-Session');
    assert.equal(decodeAcceptSession(c.received.subarray(144)).accept, 0);
  } finally {
    c.destroy();
  }
});

test('bad IP version and non-zero Conf-Sender get Accept 3', async () => {
  const { server, port } = await startServer('127.0.0.1');
  servers.push(server);
  const c = await RawClient.open(port);
  try {
    c.sock.write(openSetup());
    const r1 = request();
    r1[1] = 9;
    const r2 = request();
    r2[2] = 1;
    c.sock.write(Buffer.concat([r1, r2]));
    await waitFor(() => c.received.length >= 112 + 96, 3000, 'two Accept-Sessions');
    assert.equal(decodeAcceptSession(c.received.subarray(112)).accept, 3);
    assert.equal(decodeAcceptSession(c.received.subarray(160)).accept, 3);
    assert.equal(decodeAcceptSession(c.received.subarray(160)).port, 0);
  } finally {
    c.destroy();
  }
});

test('a flipped bit in an encrypted command fails the HMAC and closes the connection', async () => {
  const { server, port, rec } = await startServer('127.0.0.1');
  servers.push(server);
  const c = await ControlClient.connect({ host: '127.0.0.1', port, mode: 'encrypted', keyId: 'alice', secret: SECRET, timeoutMs: 3000, maxCount: 1 << 20, scheduler: systemScheduler });
  c.writeRaw(Buffer.alloc(16, 0x55)); // not produced by the CBC stream: decrypts to garbage
  c.writeRaw(Buffer.alloc(96, 0x55));
  await waitFor(() => rec.reasons().some((r) => r === 'bad_hmac' || r === 'unknown_command'), 3000, 'rejection');
  await waitFor(() => server.active.connections === 0, 3000, 'closed');
  c.close();
});

test('fuzz: 3000 random and mutated control streams, then a good client is still served', async () => {
  const { server, port, rec } = await startServer('127.0.0.1', { servwaitMs: 2000, maxConnections: 64, maxConnectionsPerPeer: 64 });
  servers.push(server);
  const valid = Buffer.concat([openSetup(), request(), encodeStartSessions({ hmac: Buffer.alloc(16) }), encodeStopSessions({ accept: 0, numberOfSessions: 1, hmac: Buffer.alloc(16) })]);
  const stream = fc.oneof(
    fc.uint8Array({ minLength: 0, maxLength: 400, size: 'max' }).map((a) => Buffer.from(a)),
    fc
      .tuple(fc.array(fc.tuple(fc.nat(valid.length - 1), fc.integer({ min: 0, max: 255 })), { maxLength: 8 }), fc.nat(valid.length))
      .map(([muts, cut]) => {
        const b = Buffer.from(valid.subarray(0, cut));
        for (const [i, v] of muts) if (i < b.length) b[i] = v;
        return b;
      }),
  );
  const samples = fc.sample(stream, { numRuns: 3000, seed: 5357 });
  // Batches of parallel connections; each writes its stream in two chunks and hangs up.
  for (let i = 0; i < samples.length; i += 50) {
    await Promise.all(
      samples.slice(i, i + 50).map(async (data) => {
        const c = await RawClient.open(port);
        const cut = data.length >> 1;
        c.sock.write(data.subarray(0, cut));
        c.sock.write(data.subarray(cut));
        await new Promise((r) => setTimeout(r, 5));
        c.destroy();
      }),
    );
  }
  await waitFor(() => server.active.connections === 0, 5000, 'fuzz connections to drain');
  assert.ok(rec.rejects.length > 100, `rejections seen: ${rec.rejects.length}`);
  const finals = await measure('127.0.0.1', port, { mode: 'encrypted', keyId: 'alice', secret: SECRET });
  assert.equal(finals[0]!.stats.received, 5);
});

test('fuzz, secure modes: 300 set-up connections followed by random bytes; the server still serves', async () => {
  const { server, port, rec } = await startServer('127.0.0.1', { servwaitMs: 2000, maxConnections: 64, maxConnectionsPerPeer: 64 });
  servers.push(server);
  const samples = fc.sample(
    fc.tuple(fc.constantFrom('authenticated', 'encrypted', 'mixed') as fc.Arbitrary<'authenticated' | 'encrypted' | 'mixed'>, fc.uint8Array({ minLength: 1, maxLength: 300, size: 'max' })),
    { numRuns: 300, seed: 4656 },
  );
  for (let i = 0; i < samples.length; i += 30) {
    await Promise.all(
      samples.slice(i, i + 30).map(async ([mode, bytes]) => {
        const c = await ControlClient.connect({ host: '127.0.0.1', port, mode, keyId: 'alice', secret: SECRET, timeoutMs: 5000, maxCount: 1 << 20, scheduler: systemScheduler });
        c.writeRaw(Buffer.from(bytes));
        await new Promise((r) => setTimeout(r, 5));
        c.close();
      }),
    );
  }
  await waitFor(() => server.active.connections === 0, 5000, 'connections to drain');
  // Whole garbage blocks decrypt to unknown commands or fail the HMAC; partial ones wait for more.
  assert.ok(rec.reasons().filter((r) => r === 'unknown_command' || r === 'bad_hmac').length > 100, rec.reasons().join(','));
  const finals = await measure('127.0.0.1', port, { mode: 'authenticated', keyId: 'alice', secret: SECRET });
  assert.equal(finals[0]!.stats.received, 5);
});

test('a proxy that forwards every byte in its own write, both ways: encrypted measurement still passes', async () => {
  const { createServer } = await import('node:net');
  const { server, port } = await startServer('127.0.0.1');
  servers.push(server);
  let forwardedWrites = 0;
  const pipeBytewise = (from: Socket, to: Socket) => {
    let chain = Promise.resolve();
    from.on('data', (b: Buffer) => {
      chain = chain.then(async () => {
        for (const byte of b) {
          if (to.destroyed) return;
          to.write(Buffer.from([byte]));
          forwardedWrites++;
          await new Promise((r) => setImmediate(r));
        }
      });
    });
    from.on('close', () => void chain.then(() => to.end()));
    from.on('error', () => undefined);
  };
  const sockets: Socket[] = [];
  const proxy = createServer((client) => {
    client.setNoDelay(true);
    const upstream = connect({ host: '127.0.0.1', port }, () => undefined);
    upstream.setNoDelay(true);
    sockets.push(client, upstream);
    pipeBytewise(client, upstream);
    pipeBytewise(upstream, client);
  });
  await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', () => r()));
  servers.push({ close: () => new Promise<void>((r) => { sockets.forEach((s) => s.destroy()); proxy.close(() => r()); }) });
  const proxyPort = (proxy.address() as { port: number }).port;
  const finals = await measure('127.0.0.1', proxyPort, { mode: 'encrypted', keyId: 'alice', secret: SECRET });
  assert.equal(finals[0]!.stats.received, 5);
  // Greeting 64 + Set-Up 164 + Server-Start 48 + Request 112 + Accept 48 + Start 32 + Ack 32 at least.
  assert.ok(forwardedWrites >= 500, `${forwardedWrites} single-byte writes`);
});
