/**
 * Child of sender-memory.test.ts (run with --expose-gc): a sender measuring TARGETS targets over
 * the in-memory transport, every packet answered at once except for some lost, late and
 * duplicated ones. Prints the live heap after a full collection at each mark, as JSON.
 */
import { Sender } from '../../src/session/sender.js';
import { ManualClock } from '../../src/session/clock.js';
import { buildReply, writeReplyT3 } from '../../src/protocol/reflect.js';
import { decodeSenderPacket } from '../../src/protocol/test-packet.js';
import { FakeTransport } from '../helpers/fakes.js';

const TARGETS = 5;
const MARKS = [20_000, 60_000];
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with --expose-gc');

const clock = new ManualClock();
const stats = { lost: 0, late: 0, duplicates: 0 };
const transport = new FakeTransport();
const sender = new Sender(
  { count: 0, intervalMs: 1, padding: [27], timeoutMs: 5, periodMs: 1000, stamp: false, ssid: 0, errorEstimate: 1, localAddress: '', localPort: 0, splay: false },
  transport, clock, clock, {
    onStats: (e) => {
      stats.lost += e.stats.lost;
      stats.late += e.stats.late;
      stats.duplicates += e.stats.duplicates;
    },
  },
);
for (let i = 0; i < TARGETS; i++) await sender.addTarget({ name: `t${i}`, address: '127.0.0.1', port: 20001, family: 'IPv4' });
// One reflector counter per target, as a stateful reflector keeps one per sender.
const reflectorSeq = new Map<object, number>();
const late: { at: bigint; socket: (typeof transport.sockets)[number]; reply: Buffer }[] = [];
const heap: number[] = [];
let ms = 0;
for (const mark of MARKS) {
  for (; ms < mark; ms++) {
    clock.advance(1);
    for (const s of transport.sockets) {
      for (const { data } of s.sent) {
        const seq = decodeSenderPacket(data).seq;
        if (seq % 100 === 7) continue; // lost outbound
        const r = reflectorSeq.get(s) ?? 0;
        reflectorSeq.set(s, r + 1);
        const reply = buildReply(data, data.length, 'twamp', { seq: r >>> 0, receiveTimestampNs: clock.nowNs(), errorEstimate: 1, senderTtl: 64 });
        writeReplyT3(reply, clock.nowNs());
        if (seq % 100 === 13) {
          late.push({ at: clock.nowNs() + 10_000_000n, socket: s, reply }); // after the 5 ms timeout
          continue;
        }
        s.deliver({ data: reply, rxTimeNs: clock.nowNs() });
        if (seq % 100 === 29) s.deliver({ data: reply, rxTimeNs: clock.nowNs() }); // duplicate
      }
      s.sent.length = 0;
    }
    while (late.length > 0 && late[0]!.at <= clock.nowNs()) {
      const { socket, reply } = late.shift()!;
      socket.deliver({ data: reply, rxTimeNs: clock.nowNs() });
    }
  }
  gc();
  gc();
  heap.push(process.memoryUsage().heapUsed);
}
await sender.stop(false);
console.log(JSON.stringify({ targets: TARGETS, marks: MARKS, heap, totals: [...sender.totals().values()][0], stats }));
