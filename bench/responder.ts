/**
 * Responder benchmark: the highest request rate answered with at most 0.1 % loss, and p50/p99
 * RTT at 1,000 requests/s, for twampy's responder (portable dgram path, and the native path when
 * built) and for a plain node:dgram echo measured in the same run as the baseline.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { maxRate, rttAtRate } from './loadgen.js';

const CLI = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const ECHO = fileURLToPath(new URL('./echo-server.js', import.meta.url));

async function start(args: string[], env: Record<string, string>, ready: RegExp): Promise<{ proc: ChildProcess; port: number }> {
  const proc = spawn(process.execPath, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    const t = setTimeout(() => reject(new Error(`not ready: ${out}`)), 10_000);
    proc.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = ready.exec(out);
      if (m) {
        clearTimeout(t);
        resolve(Number(m[1]));
      }
    });
  });
  return { proc, port };
}

async function stop(p: ChildProcess): Promise<void> {
  if (p.exitCode !== null) return;
  await new Promise<void>((r) => {
    p.once('exit', () => r());
    p.kill('SIGTERM');
  });
}

interface Row {
  name: string;
  rate: number;
  p50Us: number;
  p99Us: number;
}

async function measureOne(name: string, args: string[], env: Record<string, string>, ready: RegExp, seqOffset: 0 | 24): Promise<Row> {
  const { proc, port } = await start(args, env, ready);
  try {
    const rtt = await rttAtRate(port, 1000, 3, seqOffset);
    const { rate } = await maxRate(port, 0.1, 1);
    return { name, rate, p50Us: rtt.p50Us, p99Us: rtt.p99Us };
  } finally {
    await stop(proc);
  }
}

/** Runs the responder benchmark; returns a markdown table. */
export async function run(): Promise<string> {
  const responderArgs = [CLI, 'responder', '127.0.0.1:0', '--rate-limit', '0', '-q'];
  const ready = /listening on 127\.0\.0\.1:(\d+)/;
  const rows: Row[] = [];
  rows.push(await measureOne('plain dgram echo (baseline)', [ECHO], {}, /listening (\d+)/, 0));
  rows.push(await measureOne('twampy responder, dgram', responderArgs, { TWAMPY_NATIVE: '0' }, ready, 24));
  const native = await measureOne('twampy responder, default (native when built)', responderArgs, {}, ready, 24);
  rows.push(native);
  const base = rows[0]!;
  const lines = [
    '| responder | max rate at <=0.1 % loss (req/s) | ratio to baseline | p50 RTT at 1k/s (us) | p99 RTT at 1k/s (us) |',
    '|---|---:|---:|---:|---:|',
    ...rows.map((r) => `| ${r.name} | ${r.rate} | ${(r.rate / base.rate).toFixed(2)} | ${r.p50Us.toFixed(1)} | ${r.p99Us.toFixed(1)} |`),
  ];
  return lines.join('\n');
}
