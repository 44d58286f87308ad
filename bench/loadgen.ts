/**
 * Load generation for the responder benchmark. Rates are driven by a small C generator
 * (bench/c/loadgen.c, compiled here with the machine's gcc) because a Node generator saturates
 * before the responders do; round-trip times at 1,000 requests/s come from a Node socket.
 */
import * as dgram from 'node:dgram';
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { encodeSenderPacket } from '../src/protocol/test-packet.js';

let loadgenPath: string | null = null;

/** Compiles the C load generator once; throws with the compiler's message when it cannot. */
export function cLoadgen(): string {
  if (loadgenPath) return loadgenPath;
  const src = fileURLToPath(new URL('../../bench/c/loadgen.c', import.meta.url));
  const out = join(mkdtempSync(join(tmpdir(), 'twampy-bench-')), 'loadgen');
  try {
    execFileSync('gcc', ['-O2', '-o', out, src], { stdio: 'pipe' });
  } catch (err) {
    throw new Error(`the responder benchmark compiles bench/c/loadgen.c with gcc: ${(err as Error).message}`);
  }
  loadgenPath = out;
  return out;
}

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

/** Sends `rate` requests/s for `seconds` with the C generator and counts replies after a drain. */
export async function runAtRate(port: number, rate: number, seconds: number): Promise<RateResult> {
  const out = execFileSync(cLoadgen(), [String(port), String(rate), String(seconds), '300'], { encoding: 'utf8' });
  const [sent, received] = out.trim().split(/\s+/).map(Number) as [number, number];
  return { rate, sent, received, lossPct: (100 * (sent - received)) / sent };
}

/** Runs a rate twice if needed: a shared machine's hiccup should not fail a rate the responder sustains. */
async function passes(port: number, rate: number, seconds: number, maxLossPct: number, runs: RateResult[]): Promise<boolean> {
  for (let attempt = 0; attempt < 2; attempt++) {
    const res = await runAtRate(port, rate, seconds);
    runs.push(res);
    if (res.lossPct <= maxLossPct) return true;
  }
  return false;
}

/** Highest rate (requests/s) answered with at most `maxLossPct` loss, by doubling then bisection. */
export async function maxRate(port: number, maxLossPct = 0.1, seconds = 1, startRate = 5000, limit = 400_000): Promise<{ rate: number; runs: RateResult[] }> {
  const runs: RateResult[] = [];
  await runAtRate(port, startRate, 1); // warm-up: JIT, socket buffers
  let good = 0;
  let bad = 0;
  let r = startRate;
  while (r <= limit) {
    if (await passes(port, r, seconds, maxLossPct, runs)) {
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
    if (await passes(port, mid, seconds, maxLossPct, runs)) good = mid;
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
