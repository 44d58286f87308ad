/**
 * The native socket layer on loopback: received TTL / TOS / kernel timestamps, outgoing TTL / TOS
 * per socket and per packet, IPv6 and dual-stack, batching, error reporting, the real Reflector
 * and Sender over it, the same kind of malformed-input storm the dgram path gets, and the
 * fallback when the addon is disabled.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { systemClock, systemScheduler } from '../../src/session/clock.js';
import { loadNativeTransport, type NativeSocket, type NativeTransport } from '../../src/transport/native.js';
import { DgramTransport } from '../../src/transport/dgram.js';
import { UnsupportedFeatureError } from '../../src/transport/types.js';
import { Reflector, type ReflectorOptions } from '../../src/session/reflector.js';
import { Sender, type SenderOptions } from '../../src/session/sender.js';
import type { ReflectedEvent, ReplyEvent } from '../../src/session/events.js';
import { encodeSenderPacket } from '../../src/protocol/test-packet.js';
import { NATIVE_SKIP, collect, nativeTransport, waitFor } from './native-util.js';
import * as dgram from 'node:dgram';
import { spawnSync } from 'node:child_process';
import { floodThenMeasure, measureThroughGarbage } from '../helpers/fuzz.js';
import { runCli } from '../helpers/cli.js';

const skip = NATIVE_SKIP;
const transport = nativeTransport;

const REFLECTOR_OPTS: ReflectorOptions = {
  stateless: false,
  refwaitMs: 900_000,
  maxSessions: 1000,
  allow: null,
  rateLimitPps: 0,
  maxRequestBytes: 9000,
  errorEstimate: 0x0001,
  stamp: true,
};

const SENDER_OPTS: SenderOptions = {
  count: 20,
  intervalMs: 5,
  padding: [27],
  timeoutMs: 1000,
  periodMs: 10_000,
  stamp: false,
  ssid: 0,
  errorEstimate: 0x0001,
  localAddress: '',
  localPort: 0,
  ttl: 64,
  splay: false,
};

describe('native transport on loopback', { skip }, () => {
  const open: NativeSocket[] = [];
  const sock = async (o: Parameters<NativeTransport['open']>[0]): Promise<NativeSocket> => {
    const s = await transport().open(o);
    open.push(s);
    return s;
  };
  const reflectors: Reflector[] = [];
  after(async () => {
    for (const r of reflectors) r.close();
    await Promise.all(open.map((s) => s.close()));
  });

  it('loads with every capability', () => {
    const c = transport().capabilities;
    assert.deepEqual(
      { ...c },
      { name: 'native', setTos: true, setTtl: true, setDontFragment: true, receiveTtl: true, receiveTos: true, kernelTimestamps: true },
    );
  });

  it('IPv4: delivers payload, source, received TTL and TOS, and a kernel timestamp in the session clock timebase', async () => {
    const rx = await sock({ address: '127.0.0.1', port: 0 });
    const tx = await sock({ address: '127.0.0.1', port: 0, ttl: 33, tos: 0xb8 });
    const got = collect(rx);
    const before = systemClock.nowNs();
    tx.send(Buffer.from('hello'), rx.localAddress().port, '127.0.0.1');
    await waitFor(() => got.length === 1, 2000, 'one datagram');
    const after = systemClock.nowNs();
    const d = got[0]!;
    assert.equal(d.data.toString(), 'hello');
    assert.equal(d.address, '127.0.0.1');
    assert.equal(d.port, tx.localAddress().port);
    assert.equal(d.family, 'IPv4');
    assert.equal(d.ttl, 33);
    assert.equal(d.tos, 0xb8);
    assert.equal(d.rxTimeSource, 'kernel');
    // The kernel stamp converted to SystemClock's timebase falls between the two clock reads.
    assert.ok(d.rxTimeNs > before - 50_000n && d.rxTimeNs < after, `rx ${d.rxTimeNs} not in [${before}, ${after}]`);
  });

  it('per-packet TOS overrides the socket TOS, and setTos / setTtl change it', async () => {
    const rx = await sock({ address: '127.0.0.1', port: 0 });
    const tx = await sock({ address: '127.0.0.1', port: 0, tos: 0x28 });
    const got = collect(rx);
    const port = rx.localAddress().port;
    tx.send(Buffer.from('a'), port, '127.0.0.1');
    tx.send(Buffer.from('b'), port, '127.0.0.1', 0xb9); // DSCP EF with ECN CE-ish bits: the whole byte travels
    await waitFor(() => got.length === 2, 2000, 'two datagrams');
    tx.setTos(0x10);
    tx.setTtl(7);
    tx.send(Buffer.from('c'), port, '127.0.0.1');
    await waitFor(() => got.length === 3, 2000, 'third datagram');
    assert.deepEqual(
      got.map((d) => [d.data.toString(), d.tos, d.ttl]),
      [
        ['a', 0x28, 64],
        ['b', 0xb9, 64],
        ['c', 0x10, 7],
      ],
    );
    assert.throws(() => tx.setTos(256), RangeError);
    assert.throws(() => tx.setTtl(0), RangeError);
  });

  it('IPv6: hop limit and traffic class; a dual-stack socket shows IPv4 peers without the mapped prefix', async () => {
    const rx6 = await sock({ address: '::1', port: 0 });
    const dual = await sock({ address: '::', port: 0, ttl: 9, tos: 0x48 });
    const v4 = await sock({ address: '127.0.0.1', port: 0 });
    const got6 = collect(rx6);
    const gotDual = collect(dual);
    const got4 = collect(v4);
    dual.send(Buffer.from('six'), rx6.localAddress().port, '::1', 0x60);
    dual.send(Buffer.from('mapped'), v4.localAddress().port, '127.0.0.1');
    v4.send(Buffer.from('to-dual'), dual.localAddress().port, '127.0.0.1');
    await waitFor(() => got6.length === 1 && got4.length === 1 && gotDual.length === 1, 2000, 'three datagrams');
    assert.deepEqual([got6[0]!.address, got6[0]!.family, got6[0]!.ttl, got6[0]!.tos], ['::1', 'IPv6', 9, 0x60]);
    assert.equal(got6[0]!.rxTimeSource, 'kernel');
    // IPv4-mapped traffic from a dual-stack socket uses the IPv4 TTL / TOS options.
    assert.deepEqual([got4[0]!.data.toString(), got4[0]!.ttl, got4[0]!.tos], ['mapped', 9, 0x48]);
    assert.deepEqual([gotDual[0]!.address, gotDual[0]!.family, gotDual[0]!.ttl], ['127.0.0.1', 'IPv4', 64]);
  });

  it('a burst arrives complete, in order and intact; receives and the replies sent from them are batched', async () => {
    const rx = await sock({ address: '127.0.0.1', port: 0, recvBufferSize: 4 << 20 });
    const tx = await sock({ address: '127.0.0.1', port: 0, recvBufferSize: 4 << 20 });
    const hashes: string[] = [];
    const seen: string[] = [];
    let echoed = 0;
    // rx answers every datagram from inside its receive batch: those replies go out together.
    rx.onMessage((d) => {
      seen.push(createHash('sha1').update(d.data).digest('hex'));
      rx.send(d.data.subarray(0, 4), d.port, d.address);
    });
    tx.onMessage(() => echoed++);
    const N = 2000;
    const port = rx.localAddress().port;
    for (let i = 0; i < N; i++) {
      const b = randomBytes(4 + (i % 1400));
      b.writeUInt32BE(i, 0);
      hashes.push(createHash('sha1').update(b).digest('hex'));
      tx.send(b, port, '127.0.0.1'); // outside a receive batch: leaves at once
    }
    await waitFor(() => seen.length === N && echoed === N, 5000, `${N} datagrams and replies (got ${seen.length}, ${echoed})`);
    assert.deepEqual(seen, hashes);
    assert.equal(tx.stats.txPackets, N);
    assert.equal(tx.stats.txBatches, N, 'sends outside a receive batch are not delayed');
    assert.equal(rx.stats.txPackets, N);
    assert.ok(rx.stats.rxBatches < N / 4, `receives batched: ${rx.stats.rxBatches} JS calls for ${N}`);
    assert.ok(rx.stats.txBatches <= rx.stats.rxBatches, `replies batched: ${rx.stats.txBatches} sendmmsg calls for ${N}`);
  });

  it('counts datagrams the kernel dropped on a full receive buffer (SO_RXQ_OVFL)', async () => {
    const rx = await sock({ address: '127.0.0.1', port: 0, recvBufferSize: 4096 });
    let got = 0;
    rx.onMessage(() => got++);
    const tx = dgram.createSocket('udp4');
    await new Promise<void>((res) => tx.bind(0, '127.0.0.1', res));
    try {
      const port = rx.localAddress().port;
      const burst = Buffer.alloc(1000);
      // One synchronous burst: the receiver cannot read before the loop turns, so the buffer overflows.
      let sent = 0;
      await new Promise<void>((res) => {
        for (let i = 0; i < 300; i++) tx.send(burst, port, '127.0.0.1', () => ++sent === 300 && res());
      });
      await waitFor(() => got > 0, 2000, 'first datagrams');
      await new Promise((r) => setTimeout(r, 100));
      const beforeMarker = got;
      tx.send(Buffer.from('after'), port, '127.0.0.1'); // queued after the drops: carries the counter
      await waitFor(() => got === beforeMarker + 1, 2000, 'marker datagram');
      assert.ok(rx.stats.kernelDrops > 0, 'some dropped');
      assert.equal(rx.stats.kernelDrops, 300 - beforeMarker, 'every datagram either delivered or counted as dropped');
    } finally {
      tx.close();
    }
  });

  it('a datagram the kernel refuses is reported with its errno; the rest of the batch and sends from the error handler still go out', async () => {
    const rx = await sock({ address: '127.0.0.1', port: 0 });
    const tx = await sock({ address: '127.0.0.1', port: 0 });
    const got = collect(rx);
    const port = rx.localAddress().port;
    const errs: NodeJS.ErrnoException[] = [];
    tx.onError((e) => {
      errs.push(e);
      tx.send(Buffer.from('from-handler'), port, '127.0.0.1'); // re-entrant send while the flush reports
    });
    tx.send(Buffer.from('before'), port, '127.0.0.1');
    tx.send(Buffer.alloc(65_520), port, '127.0.0.1'); // over IPv4's 65,507-octet UDP payload limit
    tx.send(Buffer.from('after'), port, '127.0.0.1');
    await waitFor(() => got.length === 3, 2000, 'three datagrams');
    assert.deepEqual(got.map((d) => d.data.toString()), ['before', 'after', 'from-handler']);
    assert.equal(errs.length, 1);
    assert.equal(errs[0]!.code, 'EMSGSIZE');
    assert.equal((errs[0] as unknown as { port: number }).port, port);
  });

  it('reports bad destinations and bind failures as errors, never throws from send', async () => {
    const s = await sock({ address: '127.0.0.1', port: 0 });
    const errs: Error[] = [];
    s.onError((e) => errs.push(e));
    s.send(Buffer.from('x'), 9, 'not an address!');
    s.send(Buffer.from('x'), 9, '::1');
    s.send(Buffer.from('x'), 0, '127.0.0.1');
    s.send(Buffer.from('x'), 9, '127.0.0.1', 999);
    await waitFor(() => errs.length === 4 || errs.length > 4, 2000, 'four errors');
    assert.equal(errs.length, 4);
    assert.match(errs.map((e) => (e as NodeJS.ErrnoException).code ?? e.name).join(','), /EAFNOSUPPORT/);
    await assert.rejects(transport().open({ address: '127.0.0.1', port: s.localAddress().port }), { code: 'EADDRINUSE' });
    await assert.rejects(transport().open({ address: '127.0.0.1', port: 0, tos: 256 }), RangeError);
    await assert.rejects(transport().open({ address: 'localhost', port: 0 }), TypeError);
  });

  it('close() resolves, later sends are reported, and the port is free again', async () => {
    const s = await transport().open({ address: '127.0.0.1', port: 0 });
    const port = s.localAddress().port;
    const errs: Error[] = [];
    s.onError((e) => errs.push(e));
    await s.close();
    await s.close(); // idempotent
    s.send(Buffer.from('x'), 9, '127.0.0.1');
    assert.equal((errs[0] as NodeJS.ErrnoException | undefined)?.code, 'EBADF');
    const again = await transport().open({ address: '127.0.0.1', port });
    await again.close();
  });

  it('the real Reflector and Sender over it: Sender TTL filled, kernel T2/T4, small T3-T2', async () => {
    const rsock = await sock({ address: '127.0.0.1', port: 0 });
    const reflected: ReflectedEvent[] = [];
    const reflector = new Reflector(REFLECTOR_OPTS, systemClock, systemScheduler, { onReflected: (e) => reflected.push(e) });
    reflectors.push(reflector);
    rsock.onMessage((d) => reflector.handle(d, rsock));
    const replies: ReplyEvent[] = [];
    const sender = new Sender(SENDER_OPTS, transport(), systemClock, systemScheduler, { onReply: (e) => replies.push(e) });
    try {
      await sender.addTarget({ name: 't', address: '127.0.0.1', port: rsock.localAddress().port, family: 'IPv4' });
      await sender.done();
    } finally {
      await sender.stop(false);
      reflector.close();
    }
    assert.equal(replies.length, 20);
    for (const r of replies) {
      assert.equal(r.senderTtl, 64, 'reflector wrote the TTL it received');
      assert.ok(r.rttNs > 0n && r.rttNs < 50_000_000n, `rtt ${r.rttNs}`);
      // One host, one clock timebase: both one-way figures are non-negative.
      assert.ok(r.outboundNs >= 0n && r.inboundNs >= 0n, `outbound ${r.outboundNs} inbound ${r.inboundNs}`);
    }
    const proc = reflected.map((e) => Number(e.processingNs)).sort((a, b) => a - b);
    assert.ok(proc[0]! > 0, 'T3 after T2');
    assert.ok(proc[proc.length >> 1]! < 5_000_000, `median T3-T2 ${proc[proc.length >> 1]} ns`);
  });

  it('survives 10,000 random and mutated datagrams, delivering each intact, then still reflects', async () => {
    const rsock = await sock({ address: '::', port: 0, recvBufferSize: 8 << 20 });
    const reflector = new Reflector(REFLECTOR_OPTS, systemClock, systemScheduler);
    reflectors.push(reflector);
    let received = 0;
    const gotHashes: string[] = [];
    rsock.onMessage((d) => {
      received++;
      gotHashes.push(createHash('sha1').update(d.data).digest('hex'));
      reflector.handle(d, rsock);
    });
    const fuzz4 = await sock({ address: '127.0.0.1', port: 0 });
    const fuzz6 = await sock({ address: '::1', port: 0 });
    fuzz4.onMessage(() => {});
    fuzz6.onMessage(() => {});
    const sentHashes: string[] = [];
    const port = rsock.localAddress().port;
    const valid = encodeSenderPacket({ seq: 1, timestampNs: 0n, errorEstimate: 1, paddingLength: 27 });
    const N = 10_000;
    for (let i = 0; i < N; i++) {
      let b: Buffer;
      const kind = i % 4;
      if (kind === 0) b = randomBytes(i % 2000); // includes empty datagrams
      else if (kind === 1) b = randomBytes(i % 60);
      else {
        b = Buffer.from(valid.subarray(0, (i * 7) % (valid.length + 1)));
        for (let k = 0; k < 3 && b.length > 0; k++) b[(i + k * 13) % b.length] ^= 1 << k % 8;
      }
      if (i % 1000 === 999) b = randomBytes(9000 + (i % 3000)); // over the reflector's limit
      sentHashes.push(createHash('sha1').update(b).digest('hex'));
      (i % 2 === 0 ? fuzz4 : fuzz6).send(b, port, i % 2 === 0 ? '127.0.0.1' : '::1');
      if (i % 200 === 199) await waitFor(() => received === i + 1, 5000, `datagram ${i}`);
    }
    await waitFor(() => received === N, 5000, 'all fuzz datagrams');
    // Two source sockets flush independently, so compare as multisets.
    assert.deepEqual(gotHashes.sort(), sentHashes.sort(), 'every payload arrived byte for byte');
    assert.equal(reflector.counters.received, N);
    const replies: ReplyEvent[] = [];
    const sender = new Sender({ ...SENDER_OPTS, count: 5 }, transport(), systemClock, systemScheduler, { onReply: (e) => replies.push(e) });
    try {
      await sender.addTarget({ name: 'after-fuzz', address: '::1', port, family: 'IPv6' });
      await sender.done();
    } finally {
      await sender.stop(false);
      reflector.close();
    }
    assert.equal(replies.length, 5);
  });
});

describe('native sockets and the environment lifecycle', { skip }, () => {
  it('a worker thread that exits with a native socket open tears down cleanly (no uv_loop_close abort)', () => {
    const nativeJs = new URL('../../src/transport/native.js', import.meta.url).href;
    const code = `
      import { Worker } from 'node:worker_threads';
      const w = new Worker(${JSON.stringify(`
        import(${JSON.stringify(nativeJs)}).then(async (m) => {
          const r = m.loadNativeTransport();
          if (r.error) throw new Error(r.error);
          const s = await r.transport.open({ address: '127.0.0.1', port: 0 });
          s.onMessage(() => {});
          s.send(Buffer.from('x'), s.localAddress().port, '127.0.0.1');
          (await import('node:worker_threads')).parentPort.postMessage('open');
        });`)}, { eval: true });
      w.on('message', async () => { await w.terminate(); console.log('terminated'); });
      w.on('error', (e) => { console.error(e); process.exit(3); });`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', code], { encoding: 'utf8', timeout: 20_000 });
    assert.equal(r.status, 0, `exit ${r.status} signal ${r.signal}: ${r.stderr}`);
    assert.match(r.stdout, /terminated/);
  });

  it('a process exiting with native sockets open exits with its own code', () => {
    const nativeJs = new URL('../../src/transport/native.js', import.meta.url).href;
    const code = `
      const m = await import(${JSON.stringify(nativeJs)});
      const s = await m.loadNativeTransport().transport.open({ address: '::', port: 0 });
      s.onMessage(() => {});
      setTimeout(() => process.exit(7), 20);`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', code], { encoding: 'utf8', timeout: 20_000 });
    assert.equal(r.status, 7, r.stderr);
  });
});

describe('the dgram path\'s malformed-input suite, run over the native path', { skip }, () => {
  it('a native responder flooded with the same 10,000 garbage datagrams (seed 42) still answers a native sender', async () => {
    const { final, replies, counters, drops } = await floodThenMeasure(transport, { ttl: 64 });
    assert.equal(final.stats.received, 20, 'valid sender fully answered after the flood');
    assert.ok(replies.every((e) => e.senderTtl === 64), 'Sender TTL read by the native responder');
    assert.ok(counters.received >= 9_000, `responder saw ${counters.received} datagrams`);
    assert.equal(counters.dropped.malformed, drops);
    assert.ok(drops > 0);
  });

  it('a native sender survives the same garbage and foreign replies (seed 7) and still measures', async () => {
    const final = await measureThroughGarbage(transport);
    assert.equal(final.stats.received, 20);
    assert.equal(final.stats.lost, 0);
  });
});

describe('the twampy CLI on the native layer', { skip }, () => {
  it('sender --dscp ef --df: packets arrive marked EF, every reply comes back, exit 0', async () => {
    const rsock = await transport().open({ address: '127.0.0.1', port: 0 });
    const reflector = new Reflector(REFLECTOR_OPTS, systemClock, systemScheduler);
    const seen: [number | undefined, number | undefined][] = [];
    rsock.onMessage((d) => {
      seen.push([d.tos, d.ttl]);
      reflector.handle(d, rsock);
    });
    try {
      const r = await runCli(['sender', `127.0.0.1:${rsock.localAddress().port}`, '-c', '3', '-i', '10', '--dscp', 'ef', '--df', '--json']);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(seen, [
        [0xb8, 255],
        [0xb8, 255],
        [0xb8, 255],
      ]);
    } finally {
      reflector.close();
      await rsock.close();
    }
  });
});

describe('fallback when the native layer is disabled', () => {
  it('TWAMPY_NATIVE=0 makes loadNativeTransport return the reason, not throw', () => {
    const saved = process.env.TWAMPY_NATIVE;
    process.env.TWAMPY_NATIVE = '0';
    try {
      const r = loadNativeTransport();
      assert.ok('error' in r);
      assert.match(r.error, /disabled by TWAMPY_NATIVE=0/);
    } finally {
      if (saved === undefined) delete process.env.TWAMPY_NATIVE;
      else process.env.TWAMPY_NATIVE = saved;
    }
  });

  it('the dgram fallback refuses DSCP and Don\'t Fragment with a clear error', async () => {
    const t = new DgramTransport();
    await assert.rejects(t.open({ address: '127.0.0.1', port: 0, tos: 0xb8 }), (e: unknown) => {
      assert.ok(e instanceof UnsupportedFeatureError);
      assert.match(e.message, /native/i);
      return true;
    });
    await assert.rejects(t.open({ address: '127.0.0.1', port: 0, dontFragment: true }), UnsupportedFeatureError);
  });
});
