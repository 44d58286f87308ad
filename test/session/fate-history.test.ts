import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { FateHistory, type PacketFate } from '../../src/session/fate-history.js';

/** The plain model: every packet sent, newest last, and a fate per sequence number. */
class ModelHistory {
  private readonly order: number[] = [];
  private readonly fates = new Map<number, PacketFate>();
  constructor(private readonly limit: number) {}
  sent(seq: number): void {
    this.order.push(seq);
    this.fates.delete(seq);
    if (this.order.length > this.limit) this.fates.delete(this.order[this.order.length - 1 - this.limit]!);
  }
  private held(seq: number): boolean {
    const recent = this.order.slice(-this.limit);
    return recent.includes(seq);
  }
  settle(seq: number, fate: PacketFate): void {
    if (this.held(seq)) this.fates.set(seq, fate);
  }
  get(seq: number): PacketFate | undefined {
    return this.held(seq) ? this.fates.get(seq) : undefined;
  }
}

type Op = { kind: 'send' } | { kind: 'settle'; back: number; fate: PacketFate } | { kind: 'get'; back: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.constant({ kind: 'send' } as Op) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('settle' as const), back: fc.oneof(fc.integer({ min: -3, max: 80 }), fc.integer({ min: 0, max: 1100 })), fate: fc.constantFrom<PacketFate>('replied', 'lost') }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('get' as const), back: fc.oneof(fc.integer({ min: -3, max: 80 }), fc.integer({ min: 0, max: 1100 })) }) },
);

test('fates match a plain model through growth, the window limit and the 32-bit wrap', () => {
  fc.assert(
    fc.property(
      fc.constantFrom(4, 8, 16, 64, 512, 1024),
      fc.constantFrom(4, 8, 256),
      fc.oneof(fc.constant(0), fc.constant(2 ** 32 - 40), fc.integer({ min: 0, max: 2 ** 32 - 1 })),
      fc.array(opArb, { maxLength: 3000, size: 'medium' }),
      (limit, initialCapacity, firstSeq, ops) => {
        const h = new FateHistory(limit, initialCapacity);
        const m = new ModelHistory(limit);
        let next = firstSeq;
        for (const op of ops) {
          if (op.kind === 'send') {
            h.sent(next);
            m.sent(next);
            next = (next + 1) >>> 0;
            continue;
          }
          // back 1 = the newest packet sent; 0 and below = not sent yet.
          const seq = (next - op.back) >>> 0;
          if (op.kind === 'settle') {
            h.settle(seq, op.fate);
            m.settle(seq, op.fate);
          } else {
            assert.equal(h.get(seq), m.get(seq), `seq ${seq} (back ${op.back}, next ${next}, limit ${limit})`);
          }
        }
        // Every sequence number near the end agrees too.
        for (let back = -3; back <= Math.min(limit + 3, 2000); back++) {
          const seq = (next - back) >>> 0;
          assert.equal(h.get(seq), m.get(seq), `final seq ${seq} (back ${back}, limit ${limit})`);
        }
      },
    ),
    { numRuns: 300 },
  );
});

test('a long run keeps 16 KiB per target: the last 65,536 packets, and forgets older ones', () => {
  const h = new FateHistory(65_536);
  const sent = 200_000;
  for (let seq = 0; seq < sent; seq++) {
    h.sent(seq);
    h.settle(seq, seq % 3 === 0 ? 'lost' : 'replied');
  }
  assert.equal(h.byteLength, 16_384);
  assert.equal(h.get(sent - 1), 'replied');
  assert.equal(h.get(sent - 65_536), (sent - 65_536) % 3 === 0 ? 'lost' : 'replied');
  assert.equal(h.get(sent - 65_537), undefined);
  assert.equal(h.get(sent), undefined);
});

test('a short run stays small: the ring doubles only as packets are sent, keeping every fate', () => {
  const h = new FateHistory(65_536);
  assert.equal(h.byteLength, 64);
  for (let seq = 0; seq < 1000; seq++) {
    h.sent(seq);
    if (seq % 7 === 0) h.settle(seq, seq % 2 ? 'lost' : 'replied');
  }
  assert.equal(h.byteLength, 256);
  for (let seq = 0; seq < 1000; seq++) assert.equal(h.get(seq), seq % 7 ? undefined : seq % 2 ? 'lost' : 'replied', `seq ${seq}`);
});

test('an unusable limit is refused', () => {
  for (const bad of [0, 3, 100, 2 ** 32, 1.5]) assert.throws(() => new FateHistory(bad), /limit must be a power of two/);
  assert.throws(() => new FateHistory(1024, 100), /initial capacity must be a power of two/);
});
