/**
 * The malformed-input suite shared by every socket layer: a generator of random and mutated
 * datagrams, a flood of them at a live responder followed by a valid sender, and a sender whose
 * reflector mixes garbage and foreign datagrams into its replies.
 */
import * as dgram from 'node:dgram';
import fc from 'fast-check';
import { encodeSenderPacket } from '../../src/protocol/test-packet.js';
import { buildReply, writeReplyT3 } from '../../src/protocol/reflect.js';
import { systemClock } from '../../src/session/clock.js';
import type { ReplyEvent, StatsEvent } from '../../src/session/events.js';
import type { ReflectorCounters } from '../../src/session/reflector.js';
import type { Transport } from '../../src/transport/types.js';
import { DgramTransport } from '../../src/transport/dgram.js';
import { loopbackResponder, measure } from './loopback.js';

const valid = encodeSenderPacket({ seq: 1, timestampNs: 1_704_067_200_000_000_000n, errorEstimate: 1, paddingLength: 27 });

/** Random datagrams (0-1600 octets) and single-byte mutations of a valid request at any length. */
export const fuzzDatagram = fc.oneof(
  fc.uint8Array({ minLength: 0, maxLength: 1600 }).map((a) => Buffer.from(a)),
  fc.tuple(fc.nat(valid.length - 1), fc.nat(255), fc.nat(valid.length + 40)).map(([i, v, len]) => {
    const b = Buffer.alloc(len);
    valid.copy(b, 0, 0, Math.min(len, valid.length));
    if (i < len) b[i] = v;
    return b;
  }),
);

/** Floods a live responder with 10,000 garbage datagrams (seed 42), then measures it with a valid sender. */
export async function floodThenMeasure(
  transport: () => Transport = () => new DgramTransport(),
  senderOptions: { ttl?: number } = {},
): Promise<{ final: StatsEvent; replies: ReplyEvent[]; counters: ReflectorCounters; drops: number }> {
  let drops = 0;
  const r = await loopbackResponder('127.0.0.1', { maxRequestBytes: 1500 }, { onDropped: () => drops++ }, transport());
  const client = dgram.createSocket('udp4');
  await new Promise<void>((res) => client.bind(0, '127.0.0.1', res));
  try {
    const samples = fc.sample(fuzzDatagram, { numRuns: 10_000, seed: 42 });
    for (let i = 0; i < samples.length; i += 200) {
      await Promise.all(
        samples.slice(i, i + 200).map((d) => new Promise<void>((res) => client.send(d, r.port, '127.0.0.1', () => res()))),
      );
      await new Promise((res) => setImmediate(res));
    }
    await new Promise((res) => setTimeout(res, 100));
    const { final, replies } = await measure('127.0.0.1', r.port, { count: 20, ...senderOptions }, transport());
    return { final, replies, counters: r.reflector.counters, drops };
  } finally {
    client.close();
    await r.close();
  }
}

/** Measures a reflector that sends 30 garbage datagrams (seed 7) before each real reply. */
export async function measureThroughGarbage(transport: () => Transport = () => new DgramTransport()): Promise<StatsEvent> {
  const srv = dgram.createSocket('udp4');
  await new Promise<void>((res) => srv.bind(0, '127.0.0.1', res));
  const garbage = fc.sample(fuzzDatagram, { numRuns: 600, seed: 7 });
  let g = 0;
  let seq = 0;
  srv.on('message', (req, rinfo) => {
    for (let k = 0; k < 30; k++) srv.send(garbage[g++ % garbage.length]!, rinfo.port, rinfo.address);
    const reply = buildReply(req, req.length, 'twamp', { seq: seq++, receiveTimestampNs: systemClock.nowNs(), errorEstimate: 1, senderTtl: 0 });
    writeReplyT3(reply, systemClock.nowNs());
    srv.send(reply, rinfo.port, rinfo.address);
  });
  try {
    return (await measure('127.0.0.1', srv.address().port, { count: 20 }, transport())).final;
  } finally {
    srv.close();
  }
}
