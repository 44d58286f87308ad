/**
 * Sender cost: CPU and memory of one `twampy sender` process measuring 100 targets at 10
 * packets/s each, against a minimal node:dgram pinger doing the same sends and reply matching in
 * the same run (the baseline). CPU is read from /proc/PID/stat over a fixed window after warm-up.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { CLI, rssMiB, stopProcess } from './processes.js';

const PINGER = fileURLToPath(new URL('./pinger.js', import.meta.url));
const TARGETS = 100;
const WARMUP_S = 3;
const WINDOW_S = 10;

function cpuTicks(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return Number(f[11]) + Number(f[12]); // utime + stime, in clock ticks
}

async function measure(p: ChildProcess): Promise<{ cpuPct: number; rssMiB: number }> {
  await new Promise((r) => setTimeout(r, WARMUP_S * 1000));
  const c0 = cpuTicks(p.pid!);
  await new Promise((r) => setTimeout(r, WINDOW_S * 1000));
  const c1 = cpuTicks(p.pid!);
  const TICKS = 100; // USER_HZ on Linux
  return { cpuPct: ((c1 - c0) / TICKS / WINDOW_S) * 100, rssMiB: rssMiB(p.pid!) };
}

/** Runs the sender cost benchmark; returns a markdown table. */
export async function run(): Promise<string> {
  // One listen address per target (127.0.0.1 ... 127.0.0.100, each on its own ephemeral port), so
  // every reply comes from the address the request went to, as the sender checks.
  const listen = Array.from({ length: TARGETS }, (_, i) => `127.0.0.${i + 1}:0`);
  const responder = spawn(process.execPath, [CLI, 'responder', ...listen, '--rate-limit', '0', '-q'], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, TWAMPY_NATIVE: '0' } });
  const targets = await new Promise<string[]>((resolve, reject) => {
    let out = '';
    const t = setTimeout(() => reject(new Error(`responder not ready: ${out}`)), 20_000);
    responder.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const found = [...out.matchAll(/listening on (127\.0\.0\.\d+:\d+)/g)].map((m) => m[1]!);
      if (found.length === TARGETS) {
        clearTimeout(t);
        resolve(found);
      }
    });
  });
  try {
    const base = spawn(process.execPath, [PINGER, '100', ...targets], { stdio: ['ignore', 'pipe', 'inherit'] });
    const b = await measure(base);
    const baseReplies = await stopAndCount(base);
    const sender = spawn(process.execPath, [CLI, 'sender', ...targets, '--forever', '-i', '100', '-q', '--period', '5', '--json'], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, TWAMPY_NATIVE: '0' } });
    let json = '';
    sender.stdout!.on('data', (d: Buffer) => (json += d.toString()));
    const s = await measure(sender);
    await stopProcess(sender);
    const received = json.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as { received: number }).reduce((a, o) => a + o.received, 0);
    return [
      `| 100 targets x 10 pkt/s (${WINDOW_S} s window) | CPU (% of one core) | RSS (MiB) | replies received in the run |`,
      '|---|---:|---:|---:|',
      `| minimal dgram pinger (baseline) | ${b.cpuPct.toFixed(1)} | ${b.rssMiB.toFixed(0)} | ${baseReplies} |`,
      `| twampy sender | ${s.cpuPct.toFixed(1)} | ${s.rssMiB.toFixed(0)} | ${received} |`,
      `| ratio | ${(s.cpuPct / b.cpuPct).toFixed(2)} | ${(s.rssMiB / b.rssMiB).toFixed(2)} | |`,
    ].join('\n');
  } finally {
    await stopProcess(responder);
  }
}

/** Stops the pinger and reads the reply count it prints on SIGTERM. */
async function stopAndCount(p: ChildProcess): Promise<number> {
  let out = '';
  p.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  await stopProcess(p);
  return Number(/replies (\d+)/.exec(out)?.[1] ?? NaN);
}
