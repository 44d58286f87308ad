/**
 * RFC 7750 DSCP and ECN Monitoring over TWAMP-Control: the server offers mode 256 only when its
 * socket layer reads the received TOS; a controller asking for it gives up when it is not
 * offered; when negotiated, every reply (open, authenticated, encrypted) reports the DSCP and ECN
 * the request arrived with.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { ControlServer } from '../../src/control/server.js';
import { ControlClient } from '../../src/control/client.js';
import { ControlError } from '../../src/control/channel.js';
import { startControlled, type ControllerOptions } from '../../src/control/controller.js';
import { DgramTransport } from '../../src/transport/dgram.js';
import type { Transport } from '../../src/transport/types.js';
import { systemClock, systemScheduler } from '../../src/session/clock.js';
import type { ReplyEvent, StatsEvent } from '../../src/session/events.js';
import { Mode } from '../../src/protocol/control/common.js';
import { Recorder, SECRET, senderOptions, serverOptions, startServer } from './helpers.js';
import { NATIVE_SKIP, nativeTransport } from '../transport/native-util.js';

const skipNative = NATIVE_SKIP;
const servers: ControlServer[] = [];
after(async () => {
  await Promise.all(servers.map((s) => s.close()));
});

async function run(transport: Transport, port: number, over: Partial<ControllerOptions>): Promise<{ finals: StatsEvent[]; replies: ReplyEvent[] }> {
  const finals: StatsEvent[] = [];
  const replies: ReplyEvent[] = [];
  const r = await startControlled(
    {
      name: 'target', host: '127.0.0.1', controlPort: port, mode: 'open', sessions: 1, receiverPort: 0, dscp: 0,
      sessionTimeoutMs: 200, controlTimeoutMs: 5000, maxCount: 1 << 20, sender: senderOptions(), ...over,
    },
    transport, systemClock, systemScheduler,
    { onStats: (e) => { if (e.final) finals.push(e); }, onReply: (e) => replies.push(e) },
  );
  try {
    await r.done;
  } finally {
    await r.stop(false);
  }
  return { finals, replies };
}

test('a server on the portable layer does not offer mode 256; a controller that needs it gives up, one that does not measures', async () => {
  const { server, port, rec } = await startServer('127.0.0.1');
  servers.push(server);
  const c = await ControlClient.connect({ host: '127.0.0.1', port, mode: 'open', timeoutMs: 3000, maxCount: 1 << 20, scheduler: systemScheduler });
  assert.equal(c.serverModes & Mode.DSCP_ECN, 0);
  c.close();
  await assert.rejects(run(new DgramTransport(), port, { sender: senderOptions({ dscpEcnMonitoring: true }) }), (e: unknown) => {
    assert.ok(e instanceof ControlError);
    assert.equal(e.code, 'ERR_UNSUPPORTED');
    assert.match(e.message, /does not offer DSCP and ECN Monitoring \(RFC 7750, mode 256/);
    return true;
  });
  const { finals } = await run(new DgramTransport(), port, {});
  assert.equal(finals[0]!.stats.received, 5);
  assert.equal(finals[0]!.stats.path.reflectorRxDscp, null);
  assert.ok(rec.reasons().includes('client_gave_up'));
});

test('a client asking for a mode bit the server did not offer is refused with Accept 3', async () => {
  const { server, port, rec } = await startServer('127.0.0.1');
  servers.push(server);
  const net = await import('node:net');
  const { encodeSetupResponse } = await import('../../src/protocol/control/setup-response.js');
  const reply = await new Promise<Buffer>((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    let got = Buffer.alloc(0);
    s.on('data', (d) => {
      got = Buffer.concat([got, d]);
      if (got.length === 64) s.write(encodeSetupResponse({ mode: Mode.UNAUTHENTICATED | Mode.DSCP_ECN, keyId: Buffer.alloc(0), token: Buffer.alloc(0), clientIv: Buffer.alloc(0) }));
      if (got.length >= 64 + 48) {
        s.destroy();
        resolve(got.subarray(64, 112));
      }
    });
    s.on('error', reject);
  });
  assert.equal(reply[15], 3, 'Server-Start Accept 3 (not supported)');
  assert.ok(rec.reasons().includes('unsupported_mode'));
});

for (const mode of ['open', 'authenticated', 'encrypted'] as const) {
  test(`native server offers mode 256; negotiated in ${mode} mode, replies report the DSCP and ECN received`, { skip: skipNative }, async () => {
    const native = nativeTransport();
    const server = new ControlServer(serverOptions(), native, systemClock, systemScheduler, new Recorder());
    servers.push(server);
    const port = await server.listen(0, '127.0.0.1');
    const c = await ControlClient.connect({ host: '127.0.0.1', port, mode: 'open', timeoutMs: 3000, maxCount: 1 << 20, scheduler: systemScheduler });
    assert.equal(c.serverModes & Mode.DSCP_ECN, Mode.DSCP_ECN);
    c.close();
    // AF41 with ECT(1): TOS 0x89.
    const key = mode === 'open' ? {} : { keyId: 'alice', secret: SECRET };
    const { finals, replies } = await run(native, port, { mode, ...key, dscp: 34, sender: senderOptions({ tos: 0x89, ttl: 255, dscpEcnMonitoring: true }) });
    assert.equal(replies.length, 5);
    for (const r of replies) {
      assert.equal(r.reflectorRxTos, 0x89, 'DSCP and ECN as the reflector received them');
      assert.equal(r.hopsOutbound, 0, 'loopback: no router');
      assert.equal(r.hopsInbound, 0, 'the server sends with TTL 255');
      assert.equal(r.replyTos! >> 2, 34, 'the negotiated Type-P DSCP marks the replies');
    }
    const p = finals[0]!.stats.path;
    assert.equal(p.sentDscp, 34);
    assert.equal(p.reflectorRxDscp, 34);
    assert.equal(p.remarkedOutbound, 0);
    assert.equal(p.remarkedInbound, 0);
  });
}
