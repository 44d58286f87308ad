import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loopbackResponder, measure } from '../helpers/loopback.js';
import { startRelay } from '../helpers/relay.js';

test('drop every 10th packet outbound: outbound loss 10.0 %, inbound 0 %', async () => {
  const r = await loopbackResponder('127.0.0.1');
  // Packets 5, 15, ..., 95 (1-based) never reach the reflector: ten of a hundred, none at the tail.
  const relay = await startRelay({ address: '127.0.0.1', port: r.port }, { outbound: { drop: (n) => n % 10 === 5 } });
  try {
    const { final } = await measure(relay.address, relay.port, { count: 100, intervalMs: 5 });
    const s = final.stats;
    assert.equal(relay.counts.dropped.outbound, 10);
    assert.equal(s.lost, 10);
    assert.equal(s.reflectorStateful, true);
    assert.equal(s.outbound.lossPct, 10);
    assert.equal(s.inbound.lossPct, 0);
    assert.equal(s.roundtrip.lossPct, 10);
  } finally {
    await relay.close();
    await r.close();
  }
});

test('drop inbound: the stateful reflector counter puts the loss on the inbound side', async () => {
  const r = await loopbackResponder('127.0.0.1');
  const relay = await startRelay({ address: '127.0.0.1', port: r.port }, {
    outbound: { drop: (n) => n === 3 }, // one outbound loss makes the reflector's own counter visible
    inbound: { drop: (n) => n % 10 === 6 },
  });
  try {
    const { final } = await measure(relay.address, relay.port, { count: 50, intervalMs: 5 });
    const s = final.stats;
    assert.equal(s.lostOutbound, 1);
    assert.equal(s.lostInbound, 5);
    assert.equal(s.inbound.lossPct, 10);
    assert.equal(s.outbound.lossPct, 2);
  } finally {
    await relay.close();
    await r.close();
  }
});

test('delay outbound by 20 ms: outbound delay 20 ms within 2 ms, round trip up by 20 ms', async () => {
  const r = await loopbackResponder('127.0.0.1');
  const base = await measure('127.0.0.1', r.port, { count: 20, intervalMs: 10 });
  const relay = await startRelay({ address: '127.0.0.1', port: r.port }, { outbound: { delayMs: 20 } });
  try {
    const { final } = await measure(relay.address, relay.port, { count: 20, intervalMs: 10 });
    const s = final.stats;
    assert.equal(s.received, 20);
    assert.ok(Math.abs(s.outbound.p50Ms! - 20) <= 2, `outbound p50 ${s.outbound.p50Ms} ms`);
    assert.ok(s.inbound.p50Ms! < 2, `inbound p50 ${s.inbound.p50Ms} ms`);
    const up = s.roundtrip.p50Ms! - base.final.stats.roundtrip.p50Ms!;
    assert.ok(Math.abs(up - 20) <= 2, `round trip up by ${up} ms`);
  } finally {
    await relay.close();
    await r.close();
  }
});

test('duplicate every reply: duplicates counted, loss 0', async () => {
  const r = await loopbackResponder('127.0.0.1');
  const relay = await startRelay({ address: '127.0.0.1', port: r.port }, { inbound: { duplicate: (n) => n <= 15 } });
  try {
    const { final } = await measure(relay.address, relay.port, { count: 20, intervalMs: 10 });
    // The run ends when the last packet is answered, so duplicate the first 15 only.
    assert.equal(final.stats.duplicates, 15);
    assert.equal(final.stats.lost, 0);
    assert.equal(final.stats.received, 20);
  } finally {
    await relay.close();
    await r.close();
  }
});

test('reorder: swapped replies are counted as reordered, nothing lost', async () => {
  const r = await loopbackResponder('127.0.0.1');
  const relay = await startRelay({ address: '127.0.0.1', port: r.port }, { outbound: { swapWithNext: (n) => n % 5 === 2 } });
  try {
    const { final } = await measure(relay.address, relay.port, { count: 20, intervalMs: 10 });
    assert.equal(final.stats.lost, 0);
    assert.equal(final.stats.reordered, 4);
  } finally {
    await relay.close();
    await r.close();
  }
});
