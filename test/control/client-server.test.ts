// Our controller against our server over loopback, in every mode, IPv4 and IPv6: sessions that
// pass, that are refused (limits, bad key, unknown key, unsupported mode) and that time out.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { ControlClient } from '../../src/control/client.js';
import { ControlError } from '../../src/control/channel.js';
import { systemScheduler } from '../../src/session/clock.js';
import { Mode } from '../../src/protocol/control/common.js';
import { SECRET, measure, startServer, waitFor } from './helpers.js';

const servers: { close(): Promise<void> }[] = [];
after(async () => {
  await Promise.all(servers.map((s) => s.close()));
});

for (const host of ['127.0.0.1', '::1']) {
  for (const mode of ['open', 'authenticated', 'encrypted', 'mixed'] as const) {
    test(`${mode} mode over ${host}: 5 packets out, 5 replies back, session completed`, async () => {
      const { server, port, rec } = await startServer(host);
      servers.push(server);
      const finals = await measure(host, port, { mode, keyId: 'alice', secret: SECRET });
      assert.equal(finals.length, 1);
      const s = finals[0]!.stats;
      assert.equal(s.sent, 5);
      assert.equal(s.received, 5);
      assert.equal(s.lost, 0);
      assert.equal(s.address, host);
      assert.notEqual(s.port, port); // the test port came from Accept-Session
      await waitFor(() => rec.sessions.some((e) => e.outcome === 'completed'), 3000, 'session completed');
      const done = rec.sessions.find((e) => e.outcome === 'completed')!;
      assert.equal(done.reflected, 5);
      assert.deepEqual(rec.reasons(), []);
    });
  }
}

test('two sessions on one connection; Stop-Sessions carries 2', async () => {
  const { server, port, rec } = await startServer('127.0.0.1');
  servers.push(server);
  const finals = await measure('127.0.0.1', port, { mode: 'encrypted', keyId: 'alice', secret: SECRET, sessions: 2 });
  assert.equal(finals.length, 2);
  assert.deepEqual(finals.map((f) => f.stats.received), [5, 5]);
  assert.notEqual(finals[0]!.stats.port, finals[1]!.stats.port);
  await waitFor(() => rec.sessions.filter((e) => e.outcome === 'completed').length === 2, 3000, 'two sessions completed');
  assert.ok(!rec.reasons().includes('out_of_order'), 'Stop-Sessions count matched');
});

test('the requested port is honoured when free and allowed, otherwise one from --test-ports', async () => {
  // Below Linux's ephemeral range (32768-60999), so other processes' sockets rarely hold them.
  const low = 31100;
  const { server, port } = await startServer('127.0.0.1', { testPorts: { low, high: low + 9 } });
  servers.push(server);
  const wanted = await freeUdpPort(low + 5, low + 9);
  const a = await measure('127.0.0.1', port, { receiverPort: wanted });
  assert.equal(a[0]!.stats.port, wanted);
  const b = await measure('127.0.0.1', port, { receiverPort: 20001 }); // outside the range
  assert.ok(b[0]!.stats.port >= low && b[0]!.stats.port <= low + 9, `port ${b[0]!.stats.port}`);
  assert.equal(b[0]!.stats.received, 5);
});

/** The first port in [from, to] that a UDP socket can bind on 127.0.0.1 right now. */
async function freeUdpPort(from: number, to: number): Promise<number> {
  const { createSocket } = await import('node:dgram');
  for (let p = from; p <= to; p++) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = createSocket('udp4');
      s.once('error', () => resolve(false));
      s.bind(p, '127.0.0.1', () => s.close(() => resolve(true)));
    });
    if (ok) return p;
  }
  throw new Error(`no free UDP port in ${from}-${to}`);
}

async function refused(p: Promise<unknown>, code: string, accept?: number): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof ControlError, String(e));
    assert.equal(e.code, code, e.message);
    if (accept !== undefined) assert.equal(e.accept, accept, e.message);
    return true;
  });
}

test('wrong secret: Server-Start Accept 1, reason bad_token', async () => {
  const { server, port, rec } = await startServer('127.0.0.1');
  servers.push(server);
  await refused(measure('127.0.0.1', port, { mode: 'authenticated', keyId: 'alice', secret: Buffer.from('wrong') }), 'ERR_AUTH', 1);
  await waitFor(() => rec.reasons().includes('bad_token'), 2000, 'bad_token');
});

test('unknown KeyID: Accept 1, reason unknown_key; IPv6', async () => {
  const { server, port, rec } = await startServer('::1');
  servers.push(server);
  await refused(measure('::1', port, { mode: 'encrypted', keyId: 'mallory', secret: SECRET }), 'ERR_AUTH', 1);
  await waitFor(() => rec.reasons().includes('unknown_key'), 2000, 'unknown_key');
});

test('a mode the server does not offer: the client gives up (mode 0)', async () => {
  const { server, port, rec } = await startServer('127.0.0.1', { modes: Mode.UNAUTHENTICATED });
  servers.push(server);
  await refused(measure('127.0.0.1', port, { mode: 'encrypted', keyId: 'alice', secret: SECRET }), 'ERR_AUTH');
  await waitFor(() => rec.reasons().includes('client_gave_up'), 2000, 'client_gave_up');
});

test('session limit per connection: Accept 4 for the request over the limit', async () => {
  const { server, port, rec } = await startServer('127.0.0.1', { maxSessionsPerConnection: 1 });
  servers.push(server);
  await refused(measure('127.0.0.1', port, { sessions: 2 }), 'ERR_REFUSED', 4);
  await waitFor(() => rec.reasons().includes('session_limit'), 2000, 'session_limit');
  assert.ok(rec.sessions.some((e) => e.outcome === 'rejected' && e.accept === 4));
});

test('global session limit: Accept 5 (temporary)', async () => {
  const { server, port } = await startServer('::1', { maxSessions: 1 });
  servers.push(server);
  await refused(measure('::1', port, { sessions: 2 }), 'ERR_REFUSED', 5);
});

test('connection limits and the allow-list greet with Modes 0', async () => {
  const { CidrSet } = await import('../../src/config/cidr.js');
  const a = await startServer('127.0.0.1', { allow: new CidrSet(['10.0.0.0/8']) });
  servers.push(a.server);
  await refused(measure('127.0.0.1', a.port), 'ERR_REFUSED');
  assert.deepEqual(a.rec.refused, ['not_allowed']);

  const b = await startServer('127.0.0.1', { maxConnectionsPerPeer: 1 });
  servers.push(b.server);
  const first = await ControlClient.connect({ host: '127.0.0.1', port: b.port, mode: 'open', timeoutMs: 3000, maxCount: 1 << 20, scheduler: systemScheduler });
  await refused(measure('127.0.0.1', b.port), 'ERR_REFUSED');
  assert.deepEqual(b.rec.refused, ['peer_limit']);
  first.close();
});

test('a started session with no test packets times out after REFWAIT', async () => {
  const { server, port, rec } = await startServer('127.0.0.1', { refwaitMs: 300 });
  servers.push(server);
  const c = await ControlClient.connect({ host: '127.0.0.1', port, mode: 'authenticated', keyId: 'alice', secret: SECRET, timeoutMs: 3000, maxCount: 1 << 20, scheduler: systemScheduler });
  const acc = await c.requestSession({ senderPort: 40000, receiverPort: 0, paddingLength: 0, startTimeNs: 0n, timeoutNs: 0n, dscp: 0 });
  assert.ok(acc.port > 0);
  assert.ok(acc.testKeys);
  await c.startSessions();
  await waitFor(() => rec.sessions.some((e) => e.outcome === 'timed_out'), 3000, 'REFWAIT');
  assert.equal(server.active.sessions, 0);
  c.close();
});

test('DSCP that the dgram layer cannot set is refused with Accept 3, not ignored', async () => {
  const { server, port, rec } = await startServer('127.0.0.1');
  servers.push(server);
  await refused(measure('127.0.0.1', port, { dscp: 46 }), 'ERR_REFUSED', 3);
  assert.ok(rec.rejects.some((r) => r.reason === 'unsupported_request' && /DSCP 46/.test(r.detail)));
});

test('test-port range exhausted: Accept 5, reason no_port', async () => {
  const { server, port, rec } = await startServer('127.0.0.1', { testPorts: { low: 31120, high: 31120 } });
  servers.push(server);
  await refused(measure('127.0.0.1', port, { sessions: 2 }), 'ERR_REFUSED', 5);
  await waitFor(() => rec.reasons().includes('no_port'), 2000, 'no_port');
});

test('client side: a server that never greets makes connect fail with ERR_TIMEOUT on time', async () => {
  const { createServer } = await import('node:net');
  const held: import('node:net').Socket[] = [];
  const silent = createServer((s) => held.push(s));
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', () => r()));
  servers.push({ close: () => new Promise<void>((r) => { held.forEach((s) => s.destroy()); silent.close(() => r()); }) });
  const port = (silent.address() as { port: number }).port;
  const t0 = Date.now();
  await refused(ControlClient.connect({ host: '127.0.0.1', port, mode: 'open', timeoutMs: 300, maxCount: 1 << 20, scheduler: systemScheduler }), 'ERR_TIMEOUT');
  assert.ok(Date.now() - t0 < 2000);
});

test('client side: a greeting with an absurd PBKDF2 count is refused before any work', async () => {
  const { createServer } = await import('node:net');
  const { encodeServerGreeting } = await import('../../src/protocol/control/server-greeting.js');
  const evil = createServer((s) => {
    s.on('error', () => undefined);
    s.write(encodeServerGreeting({ modes: 7, challenge: Buffer.alloc(16), salt: Buffer.alloc(16), count: 0xffffffff }));
  });
  await new Promise<void>((r) => evil.listen(0, '127.0.0.1', () => r()));
  servers.push({ close: () => new Promise<void>((r) => evil.close(() => r())) });
  const port = (evil.address() as { port: number }).port;
  await refused(ControlClient.connect({ host: '127.0.0.1', port, mode: 'encrypted', keyId: 'alice', secret: SECRET, timeoutMs: 2000, maxCount: 1 << 20, scheduler: systemScheduler }), 'ERR_AUTH');
});
