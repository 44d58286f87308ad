/**
 * No leaks in the native layer: a long bounded run of requests through the real Reflector over the
 * native transport, and many socket open/close cycles, with heap, external memory, RSS and open
 * file descriptors compared between a point after warm-up and the end.
 */
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { systemClock, systemScheduler } from '../../src/session/clock.js';
import { Reflector } from '../../src/session/reflector.js';
import type { NativeSocket } from '../../src/transport/native.js';
import { encodeSenderPacket } from '../../src/protocol/test-packet.js';
import { NATIVE_SKIP, nativeTransport, waitFor } from './native-util.js';

const skip = NATIVE_SKIP;
const transport = nativeTransport;

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

interface Sample {
  rss: number;
  heap: number;
  external: number;
  fds: number;
}
function sample(): Sample {
  gc();
  gc();
  const m = process.memoryUsage();
  return { rss: m.rss, heap: m.heapUsed, external: m.external + m.arrayBuffers, fds: readdirSync('/proc/self/fd').length };
}
const MiB = 1 << 20;

describe('native transport over a long run', { skip, timeout: 80_000 }, () => {
  const open: NativeSocket[] = [];
  let reflector: Reflector | undefined;
  after(async () => {
    reflector?.close();
    await Promise.all(open.map((s) => s.close()));
  });

  it('300,000 requests through the Reflector: memory and descriptors stay flat', async (t) => {
    const rsock = await transport().open({ address: '127.0.0.1', port: 0, recvBufferSize: 4 << 20 });
    const client = await transport().open({ address: '127.0.0.1', port: 0, recvBufferSize: 4 << 20 });
    open.push(rsock, client);
    reflector = new Reflector(
      { stateless: false, refwaitMs: 60_000, maxSessions: 100, allow: null, rateLimitPps: 0, maxRequestBytes: 9000, errorEstimate: 1, stamp: false },
      systemClock,
      systemScheduler,
    );
    const r = reflector;
    rsock.onMessage((d) => r.handle(d, rsock));
    let replies = 0;
    client.onMessage(() => replies++);
    const port = rsock.localAddress().port;
    const req = encodeSenderPacket({ seq: 0, timestampNs: 0n, errorEstimate: 1, paddingLength: 27 });
    const TOTAL = 300_000;
    const BURST = 200;
    let sent = 0;
    let warm: Sample | undefined;
    while (sent < TOTAL) {
      for (let i = 0; i < BURST; i++) {
        req.writeUInt32BE(sent++ >>> 0, 0);
        client.send(req, port, '127.0.0.1');
      }
      // Bounded wait for this burst's replies; a few losses on a loaded box are tolerated.
      const target = sent - 2;
      await waitFor(() => replies >= target, 5000, `replies to ${sent} requests (got ${replies})`).catch(() => undefined);
      if (!warm && sent >= 50_000) warm = sample();
    }
    await waitFor(() => replies >= TOTAL * 0.99, 5000, 'most replies');
    const end = sample();
    assert.ok(warm);
    const growth = {
      rssMiB: (end.rss - warm.rss) / MiB,
      heapMiB: (end.heap - warm.heap) / MiB,
      externalMiB: (end.external - warm.external) / MiB,
      fds: end.fds - warm.fds,
    };
    t.diagnostic(`growth after warm-up: ${JSON.stringify(growth)}; rx batches ${rsock.stats.rxBatches} for ${rsock.stats.rxPackets} packets`);
    // 250,000 requests after warm-up: a leak of even 40 bytes each would show as 10 MiB.
    assert.ok(growth.heapMiB < 4, `heap grew ${growth.heapMiB.toFixed(2)} MiB`);
    assert.ok(growth.externalMiB < 1, `external memory grew ${growth.externalMiB.toFixed(2)} MiB`);
    assert.ok(growth.rssMiB < 8, `RSS grew ${growth.rssMiB.toFixed(2)} MiB`);
    assert.equal(growth.fds, 0);
    assert.equal(rsock.stats.rxPackets, r.counters.received);
  });

  it('idle sockets cost no CPU: no busy polling while nothing arrives', async () => {
    const socks = await Promise.all([0, 1, 2, 3].map((i) => transport().open({ address: i % 2 ? '::' : '127.0.0.1', port: 0 })));
    open.push(...socks);
    for (const s of socks) s.onMessage(() => {});
    await new Promise((r) => setTimeout(r, 200));
    const before = process.cpuUsage();
    await new Promise((r) => setTimeout(r, 2000));
    const used = process.cpuUsage(before);
    const ms = (used.user + used.system) / 1000;
    // A busy-polling loop would burn about 2,000 ms here; the 1 s clock recalibration costs microseconds.
    assert.ok(ms < 100, `CPU used while idle for 2 s: ${ms.toFixed(1)} ms`);
  });

  it('2,000 open/close cycles release every descriptor and buffer', async (t) => {
    const cycle = async (n: number): Promise<void> => {
      for (let i = 0; i < n; i++) {
        const s = await transport().open({ address: i % 2 ? '::1' : '127.0.0.1', port: 0 });
        s.onMessage(() => {});
        s.send(Buffer.from('x'), s.localAddress().port, i % 2 ? '::1' : '127.0.0.1');
        await s.close();
      }
    };
    await cycle(200);
    const warm = sample();
    await cycle(1800);
    await new Promise((r) => setTimeout(r, 50)); // let finalizers of the last handles run
    const end = sample();
    t.diagnostic(`growth over 1,800 cycles: rss ${((end.rss - warm.rss) / MiB).toFixed(2)} MiB, external ${((end.external - warm.external) / MiB).toFixed(2)} MiB, fds ${end.fds - warm.fds}`);
    assert.equal(end.fds - warm.fds, 0, 'descriptors');
    // Each socket owns about 2.3 MiB of ArrayBuffers (receive slots and send arena): a leak of one per cycle would be gigabytes.
    assert.ok((end.external - warm.external) / MiB < 8, `external memory grew ${((end.external - warm.external) / MiB).toFixed(1)} MiB`);
    assert.ok((end.rss - warm.rss) / MiB < 8, `RSS grew ${((end.rss - warm.rss) / MiB).toFixed(1)} MiB`);
  });
});
