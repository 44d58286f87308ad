/**
 * Load generator for the responder benchmark: sends 41-octet TWAMP-Test requests at a given rate
 * from several sockets and counts replies, or measures round-trip times at a low rate.
 */
import * as dgram from 'node:dgram';
import { encodeSenderPacket } from '../src/protocol/test-packet.js';

/** Result of one fixed-rate run. */
export interface RateResult {
  rate: number;
  sent: number;
  received: number;
  lossPct: number;
}

async function sockets(n: number): Promise<dgram.Socket[]> {
  const out: dgram.Socket[] = [];
  for (let i = 0; i < n; i++) {
    const s = dgram.createSocket({ type: 'udp4', recvBufferSize: 8 << 20, sendBufferSize: 8 << 20 });
    await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
    out.push(s);
  }
  return out;
}

/** Sends `rate` requests/s for `seconds` and counts replies after a drain period. */
export async function runAtRate(port: number, rate: number, seconds: number): Promise<RateResult> {
  const socks = await sockets(4);
  let received = 0;
  for (const s of socks) s.on('message', () => received++);
  const pkt = encodeSenderPacket({ seq: 0, timestampNs: 0n, errorEstimate: 1, paddingLength: 27 });
  const total = Math.round(rate * seconds);
  const tickMs = 1;
  const start = process.hrtime.bigint();
  let sent = 0;
  await new Promise<void>((resolve) => {
    const tick = () => {
      const elapsed = Number(process.hrtime.bigint() - start) / 1e9;
      const due = Math.min(total, Math.floor(elapsed * rate));
      while (sent < due) {
        const s = socks[sent % socks.length]!;
        const b = Buffer.from(pkt);
        b.writeUInt32BE(sent >>> 0, 0);
        s.send(b, port, '127.0.0.1');
        sent++;
      }
      if (sent >= total) resolve();
      else setTimeout(tick, tickMs);
    };
    tick();
  });
  await new Promise((r) => setTimeout(r, 300));
  for (const s of socks) s.close();
  return { rate, sent, received, lossPct: (100 * (sent - received)) / sent };
}

/** Highest rate (requests/s) answered with at most `maxLossPct` loss, by doubling then bisection. */
export async function maxRate(port: number, maxLossPct = 0.1, seconds = 1, startRate = 5000, limit = 400_000): Promise<{ rate: number; runs: RateResult[] }> {
  const runs: RateResult[] = [];
  let good = 0;
  let bad = 0;
  let r = startRate;
  while (r <= limit) {
    const res = await runAtRate(port, r, seconds);
    runs.push(res);
    if (res.lossPct <= maxLossPct) {
      good = r;
      r *= 2;
    } else {
      bad = r;
      break;
    }
  }
  if (bad === 0) return { rate: good, runs };
  for (let i = 0; i < 5; i++) {
    const mid = Math.round((good + bad) / 2);
    const res = await runAtRate(port, mid, seconds);
    runs.push(res);
    if (res.lossPct <= maxLossPct) good = mid;
    else bad = mid;
  }
  return { rate: good, runs };
}

/** Round-trip times (µs) at `rate` requests/s for `seconds`, measured by the generator's own clock. */
export async function rttAtRate(port: number, rate: number, seconds: number, seqOffset: 0 | 24): Promise<{ p50Us: number; p99Us: number; lost: number }> {
  const [s] = await sockets(1);
  const sentAt = new Map<number, bigint>();
  const rtts: number[] = [];
  s!.on('message', (m) => {
    const now = process.hrtime.bigint();
    if (m.length < seqOffset + 4) return;
    // A reflector echoes our sequence number at 24; a plain echo returns it where we put it, at 0.
    const seq = m.readUInt32BE(seqOffset);
    const t = sentAt.get(seq);
    if (t !== undefined) {
      rtts.push(Number(now - t) / 1e3);
      sentAt.delete(seq);
    }
  });
  const pkt = encodeSenderPacket({ seq: 0, timestampNs: 0n, errorEstimate: 1, paddingLength: 27 });
  const total = Math.round(rate * seconds);
  const start = process.hrtime.bigint();
  for (let i = 0; i < total; i++) {
    const due = start + BigInt(Math.round((i * 1e9) / rate));
    const wait = Number(due - process.hrtime.bigint()) / 1e6;
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const b = Buffer.from(pkt);
    b.writeUInt32BE(i, 0);
    sentAt.set(i, process.hrtime.bigint());
    s!.send(b, port, '127.0.0.1');
  }
  await new Promise((r) => setTimeout(r, 200));
  s!.close();
  rtts.sort((a, b) => a - b);
  const pct = (p: number) => rtts[Math.min(rtts.length - 1, Math.max(0, Math.ceil((p / 100) * rtts.length) - 1))] ?? NaN;
  return { p50Us: pct(50), p99Us: pct(99), lost: total - rtts.length };
}
