/**
 * Path figures over the native layer on loopback: RFC 7750 DSCP/ECN monitoring between the real
 * Reflector and Sender, hop counts (0 each way on loopback), re-marking counts, the CLI's text and
 * JSON output, and the fallback: the portable layer refuses the responder flag loudly, while a
 * portable sender still reads the octet.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { systemClock, systemScheduler } from '../../src/session/clock.js';
import { Reflector, type ReflectorOptions } from '../../src/session/reflector.js';
import { Sender, type SenderOptions } from '../../src/session/sender.js';
import type { ReplyEvent, StatsEvent } from '../../src/session/events.js';
import { NATIVE_SKIP, nativeTransport } from './native-util.js';
import { runCli, startCli } from '../helpers/cli.js';

const skip = NATIVE_SKIP;
const transport = nativeTransport;

const REFLECTOR: ReflectorOptions = {
  stateless: false, refwaitMs: 900_000, maxSessions: 1000, allow: null, rateLimitPps: 0,
  maxRequestBytes: 9000, errorEstimate: 0x0001, stamp: true,
};
const SENDER: SenderOptions = {
  count: 10, intervalMs: 5, padding: [27], timeoutMs: 1000, periodMs: 10_000, stamp: false, ssid: 0,
  errorEstimate: 0x0001, localAddress: '', localPort: 0, ttl: 255, splay: false,
};

async function measure(r: Partial<ReflectorOptions>, s: Partial<SenderOptions>, reflectorTtl = 255) {
  const rsock = await transport().open({ address: '127.0.0.1', port: 0, ttl: reflectorTtl });
  const reflector = new Reflector({ ...REFLECTOR, ...r }, systemClock, systemScheduler);
  rsock.onMessage((d) => reflector.handle(d, rsock));
  const replies: ReplyEvent[] = [];
  const finals: StatsEvent[] = [];
  const sender = new Sender({ ...SENDER, ...s }, transport(), systemClock, systemScheduler, {
    onReply: (e) => replies.push(e),
    onStats: (e) => { if (e.final) finals.push(e); },
  });
  try {
    await sender.addTarget({ name: 't', address: '127.0.0.1', port: rsock.localAddress().port, family: 'IPv4' });
    await sender.done();
  } finally {
    await sender.stop(false);
    reflector.close();
    await rsock.close();
  }
  return { replies, path: finals[0]!.stats.path };
}

describe('path figures over the native layer', { skip }, () => {
  it('RFC 7750 both ends: the reflector reports EF + ECT(1) as received; a copying reflector shows no inbound change; 0 hops each way', async () => {
    const { replies, path } = await measure({ dscpEcnMonitoring: true, replyTos: 'copy' }, { tos: 0xb9, dscpEcnMonitoring: true });
    assert.equal(replies.length, 10);
    for (const r of replies) {
      assert.equal(r.bytes, 42, 'a 41-octet request gets a 42-octet reply carrying the octet');
      assert.equal(r.reflectorRxTos, 0xb9);
      assert.equal(r.replyTos, 0xb9, 'copied DSCP and ECN');
      assert.equal(r.senderTtl, 255);
      assert.equal(r.hopsOutbound, 0);
      assert.equal(r.hopsInbound, 0);
    }
    assert.deepEqual(path, {
      hopsOutbound: { last: 0, min: 0, max: 0 }, hopsInbound: { last: 0, min: 0, max: 0 },
      sentDscp: 46, reflectorRxDscp: 46, replyDscp: 46, remarkedOutbound: 0, remarkedInbound: 0,
    });
  });

  it('a reflector that marks its replies with its own DSCP shows up as an inbound change; one sending with TTL 64 as 191 hops', async () => {
    const { path } = await measure({ dscpEcnMonitoring: true, replyTos: 10 << 2 }, { tos: 0xb8, dscpEcnMonitoring: true }, 64);
    assert.equal(path.replyDscp, 10);
    assert.equal(path.remarkedOutbound, 0);
    assert.equal(path.remarkedInbound, 10);
    assert.deepEqual(path.hopsInbound, { last: 191, min: 191, max: 191 }, 'the documented 255 assumption');
  });

  it('sender monitoring against a reflector without it: replies of 41 octets, nothing reported', async () => {
    const { replies, path } = await measure({}, { tos: 0xb8, dscpEcnMonitoring: true });
    assert.ok(replies.every((r) => r.bytes === 41 && r.reflectorRxTos === null));
    assert.equal(path.remarkedOutbound, null);
    assert.equal(path.remarkedInbound, null);
  });

  it('CLI: responder and sender with --dscp-ecn-monitoring; text shows the Path line, --json the path object', async () => {
    const resp = await startCli(['responder', '127.0.0.1:0', '--dscp-ecn-monitoring', '--reply-dscp', 'copy'], /listening on 127\.0\.0\.1:(\d+) \(native/);
    try {
      const port = resp.match[1]!;
      const text = await runCli(['sender', `127.0.0.1:${port}`, '-c', '3', '-i', '10', '--dscp', 'af41', '--dscp-ecn-monitoring']);
      assert.equal(text.code, 0, text.stderr);
      assert.match(text.stdout, /dscp_at_reflector=34 ecn_at_reflector=0 hops_out=0 hops_in=0/);
      assert.match(text.stdout, /Path: hops outbound 0, inbound 0; DSCP sent 34, at reflector 34 \(re-marked on 0 replies\), reply 34 \(differs from the reflector's on 0\)/);
      const json = await runCli(['sender', `127.0.0.1:${port}`, '-c', '3', '-i', '10', '--dscp', 'af41', '--dscp-ecn-monitoring', '--json']);
      assert.equal(json.code, 0, json.stderr);
      const o = JSON.parse(json.stdout.trim().split('\n').pop()!) as { path: Record<string, unknown> };
      assert.deepEqual(o.path, {
        hopsOutbound: { last: 0, min: 0, max: 0 }, hopsInbound: { last: 0, min: 0, max: 0 },
        sentDscp: 34, reflectorRxDscp: 34, replyDscp: 34, remarkedOutbound: 0, remarkedInbound: 0,
      });
    } finally {
      await resp.stop();
    }
  });

  it('fallback (TWAMPY_NATIVE=0): a portable sender still reads the octet; inbound figures are unknown, not zero', async () => {
    const resp = await startCli(['responder', '127.0.0.1:0', '--dscp-ecn-monitoring'], /listening on 127\.0\.0\.1:(\d+) \(native/);
    try {
      const r = await runCli(['sender', `127.0.0.1:${resp.match[1]!}`, '-c', '3', '-i', '10', '--dscp-ecn-monitoring', '--json'], { TWAMPY_NATIVE: '0' });
      assert.equal(r.code, 0, r.stderr);
      const o = JSON.parse(r.stdout.trim().split('\n').pop()!) as { path: Record<string, unknown> };
      assert.deepEqual(o.path, {
        hopsOutbound: { last: 0, min: 0, max: 0 }, hopsInbound: null,
        sentDscp: 0, reflectorRxDscp: 0, replyDscp: null, remarkedOutbound: 0, remarkedInbound: null,
      });
    } finally {
      await resp.stop();
    }
  });
});

describe('fallback: a flag the portable layer cannot honour fails loudly', () => {
  it('responder --dscp-ecn-monitoring with TWAMPY_NATIVE=0 exits 3 and says why', async () => {
    const r = await runCli(['responder', '127.0.0.1:0', '--dscp-ecn-monitoring'], { TWAMPY_NATIVE: '0' }, 10_000);
    assert.equal(r.code, 3, r.stdout + r.stderr);
    assert.match(r.stderr, /--dscp-ecn-monitoring needs a socket layer that can read the received TOS; dgram cannot \(disabled by TWAMPY_NATIVE=0/);
  });

  it('sender --dscp-ecn-monitoring --stamp is a usage error (RFC 7750 is for TWAMP packets)', async () => {
    const r = await runCli(['sender', '127.0.0.1:9', '--stamp', '--dscp-ecn-monitoring', '-c', '1'], {}, 10_000);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--dscp-ecn-monitoring is RFC 7750, for TWAMP packets/);
  });
});
