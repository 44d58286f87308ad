import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loopbackResponder, measure } from '../helpers/loopback.js';
import { DgramTransport } from '../../src/transport/dgram.js';
import { chooseTransport } from '../../src/app/transport.js';

for (const host of ['127.0.0.1', '::1']) {
  test(`sender against responder over ${host} (dgram): every packet answered, sane delays`, async () => {
    const r = await loopbackResponder(host);
    try {
      const { final, replies } = await measure(host, r.port, { count: 30 });
      const s = final.stats;
      assert.equal(final.result, 'ok');
      assert.equal(s.sent, 30);
      assert.equal(s.received, 30);
      assert.equal(s.lost, 0);
      assert.equal(s.duplicates, 0);
      assert.ok(s.roundtrip.minMs! > 0 && s.roundtrip.maxMs! < 200, `rtt ${s.roundtrip.minMs}..${s.roundtrip.maxMs}`);
      // T1 <= T2 <= T3 <= T4 on one host with one clock.
      for (const e of replies) {
        assert.ok(e.t1Ns <= e.t2Ns && e.t2Ns < e.t3Ns && e.t3Ns <= e.t4Ns, `timestamps ordered for seq ${e.seq}`);
        assert.equal(e.bytes, 41, 'symmetric 41-octet replies');
      }
      assert.equal(replies.at(-1)!.reflectorSeq, 29, 'stateful reflector counts per sender');
    } finally {
      await r.close();
    }
  });
}

test('default transport (native when built, else dgram) works end to end', async () => {
  const { transport, nativeError } = await chooseTransport();
  const r = await loopbackResponder('127.0.0.1', {}, {}, transport);
  try {
    const { final, replies } = await measure('127.0.0.1', r.port, { count: 20, ttl: 255 }, transport);
    assert.equal(final.stats.received, 20, `transport ${transport.capabilities.name} (${nativeError ?? 'native'})`);
    if (transport.capabilities.receiveTtl) assert.equal(replies[0]!.senderTtl, 255, 'sent with TTL 255, loopback has no hop');
    else assert.equal(replies[0]!.senderTtl, null);
  } finally {
    await r.close();
  }
});

test('STAMP sender gets 44-octet STAMP replies with its SSID', async () => {
  const r = await loopbackResponder('127.0.0.1');
  try {
    const { final, replies } = await measure('127.0.0.1', r.port, { count: 5, stamp: true, ssid: 0x1234 });
    assert.equal(final.stats.received, 5);
    assert.ok(replies.every((e) => e.bytes === 44));
  } finally {
    await r.close();
  }
});

test('large padding: reply size equals request size', async () => {
  const r = await loopbackResponder('::1');
  try {
    const { replies } = await measure('::1', r.port, { count: 3, padding: [1000] });
    assert.ok(replies.every((e) => e.bytes === 1014));
  } finally {
    await r.close();
  }
});

test('stateless responder is detected: loss stays round-trip only', async () => {
  const r = await loopbackResponder('127.0.0.1', { stateless: true });
  try {
    const { final, replies } = await measure('127.0.0.1', r.port, { count: 5 });
    assert.deepEqual(replies.map((e) => e.reflectorSeq), [0, 1, 2, 3, 4]);
    assert.equal(final.stats.reflectorStateful, null);
  } finally {
    await r.close();
  }
});

test('dgram transport refuses DSCP and Don\'t Fragment loudly', async () => {
  const t = new DgramTransport();
  await assert.rejects(t.open({ address: '127.0.0.1', port: 0, tos: 0xb8 }), /cannot set TOS\/DSCP/);
  await assert.rejects(t.open({ address: '127.0.0.1', port: 0, dontFragment: true }), /Don't Fragment/);
});

test('native layer: --reply-dscp copy returns the request\'s DSCP; the sender sees the reply\'s TTL and DSCP', async (t) => {
  const { transport, nativeError } = await chooseTransport();
  if (!transport.capabilities.setTos || !transport.capabilities.receiveTos) {
    if (process.env.CI === 'true') assert.fail(`native layer required in CI: ${nativeError}`);
    t.skip(`native layer not available: ${nativeError}`);
    return;
  }
  const r = await loopbackResponder('127.0.0.1', { replyTos: 'copy' }, {}, transport);
  try {
    const { replies } = await measure('127.0.0.1', r.port, { count: 3, tos: 0x88, ttl: 200 }, transport);
    assert.equal(replies.length, 3);
    for (const e of replies) {
      assert.equal(e.replyTos, 0x88, 'AF41 copied onto the reply');
      assert.equal(e.senderTtl, 200, 'the reflector saw our TTL');
      assert.equal(typeof e.replyTtl, 'number');
    }
  } finally {
    await r.close();
  }
});

test('dgram layer: a per-datagram TOS is refused through the error handler, never sent unmarked', async () => {
  const t = new DgramTransport();
  const s = await t.open({ address: '127.0.0.1', port: 0 });
  const errors: Error[] = [];
  s.onError((e) => errors.push(e));
  s.send(Buffer.alloc(41), 9, '127.0.0.1', 0xb8);
  await s.close();
  assert.equal(errors.length, 1);
  assert.match(errors[0]!.message, /cannot set TOS\/DSCP 184 on a datagram/);
});
