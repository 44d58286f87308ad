/**
 * Benchmark of the native socket layer, everything measured in one run on one machine:
 *
 * 1. Reflector throughput: a C load generator (bench/udpbench.c, compiled here) keeps a window of
 *    TWAMP-Light requests in flight on loopback against (a) the C reference reflector
 *    (recvmmsg/sendmmsg echo), (b) the real Reflector over the native transport, (c) the same
 *    Reflector over node:dgram. Replies per second, best of the rounds. The Reflectors run as a
 *    responder without telemetry does (no per-packet observer; T3-T2 is recorded in phase 2 only).
 *    Then CPU time per reply at a fixed offered rate (from /proc/PID/stat), which other load on a
 *    shared machine moves far less than the saturation rate.
 * 2. Reflector processing time T3-T2 at 1,000 requests/s (open loop), native and dgram.
 * 3. Round trip: the real Sender (1,000 packets/s) against the Reflector, native and dgram, beside
 *    a C ping-pong at the same rate (udpbench pingpong against the C reflector, and Debian's
 *    sockperf when installed).
 *
 * Each figure's baseline is measured in the same run. Not a test: it prints a table.
 */
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createInterface, type Interface } from 'node:readline';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { systemClock, systemScheduler } from '../src/session/clock.js';
import { Sender } from '../src/session/sender.js';
import { DgramTransport } from '../src/transport/dgram.js';
import { loadNativeTransport } from '../src/transport/native.js';
import type { Transport } from '../src/transport/types.js';

const here = fileURLToPath(new URL('.', import.meta.url)); // dist/bench/
const root = join(here, '..', '..');
const cSource = join(root, 'bench', 'udpbench.c');
const reflectorScript = join(here, 'native-reflector.js');

/** A child process speaking JSON lines. */
class Child {
  private readonly lines: Interface;
  private readonly queue: string[] = [];
  private waiter: ((line: string) => void) | undefined;
  constructor(readonly proc: ChildProcessWithoutNullStreams) {
    this.lines = createInterface({ input: proc.stdout });
    this.lines.on('line', (l) => {
      if (this.waiter) {
        const w = this.waiter;
        this.waiter = undefined;
        w(l);
      } else this.queue.push(l);
    });
    proc.stderr.on('data', (d: Buffer) => process.stderr.write(d));
  }
  /** Next JSON line (bounded wait). */
  next(ms = 20_000): Promise<Record<string, number>> {
    const l = this.queue.shift();
    if (l !== undefined) return Promise.resolve(JSON.parse(l) as Record<string, number>);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no answer from ${this.proc.spawnargs.join(' ')}`)), ms);
      this.waiter = (line) => {
        clearTimeout(t);
        resolve(JSON.parse(line) as Record<string, number>);
      };
    });
  }
  /** Sends a command line and reads the answer. */
  ask(cmd: string): Promise<Record<string, number>> {
    this.proc.stdin.write(`${cmd}\n`);
    return this.next();
  }
  /** Ends the child (closing stdin for Node children, SIGTERM for C ones) and waits for it. */
  async stop(): Promise<void> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    const exited = new Promise<void>((r) => this.proc.once('exit', () => r()));
    this.proc.stdin.end();
    const t = setTimeout(() => this.proc.kill('SIGTERM'), 2000);
    if (this.proc.spawnfile !== process.execPath) this.proc.kill('SIGTERM');
    await exited;
    clearTimeout(t);
  }
}

function runJson(cmd: string, args: string[]): Record<string, number> {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 60_000 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr || r.error?.message}`);
  return JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as Record<string, number>;
}

/** User + system CPU time of a process so far, microseconds (Linux /proc; clock-tick resolution). */
function cpuUsOf(pid: number, ticksPerS: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the parenthesised command name: state is [0], utime [11], stime [12].
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(f[11]) + Number(f[12])) * 1e6) / ticksPerS;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1] ?? NaN;
};
const us = (ns: number | null | undefined): string => (ns == null || Number.isNaN(ns) ? 'n/a' : (ns / 1000).toFixed(1));

async function senderRtt(transport: Transport, port: number, count: number): Promise<number> {
  const rtts: number[] = [];
  const sender = new Sender(
    {
      count,
      intervalMs: 1,
      padding: [27],
      timeoutMs: 1000,
      periodMs: 60_000,
      stamp: false,
      ssid: 0,
      errorEstimate: 0x0001,
      localAddress: '127.0.0.1',
      localPort: 0,
      splay: false,
    },
    transport,
    systemClock,
    systemScheduler,
    { onReply: (e) => rtts.push(Number(e.rttNs)) },
  );
  try {
    await sender.addTarget({ name: 'bench', address: '127.0.0.1', port, family: 'IPv4' });
    await sender.done();
  } finally {
    await sender.stop(false);
  }
  return median(rtts.slice(Math.floor(rtts.length / 10))); // drop the warm-up tenth
}

function sockperfRtt(seconds: number): number | null {
  if (spawnSync('sockperf', ['--version'], { encoding: 'utf8' }).error) return null;
  const port = String(20000 + Math.floor(Math.random() * 20000));
  const server = spawn('sockperf', ['server', '-i', '127.0.0.1', '-p', port], { stdio: 'ignore' });
  try {
    spawnSync('sleep', ['0.3']);
    const r = spawnSync(
      'sockperf',
      ['ping-pong', '-i', '127.0.0.1', '-p', port, '-m', '41', '-t', String(seconds), '--mps', '1000', '--full-rtt'],
      { encoding: 'utf8', timeout: 60_000 },
    );
    const m = /percentile 50\.000 =\s*([\d.]+)/.exec(r.stdout + r.stderr);
    return m ? Number(m[1]) * 1000 : null;
  } finally {
    server.kill('SIGTERM');
  }
}

/** Runs the whole benchmark and returns a markdown table. */
export async function run(): Promise<string> {
  const native = loadNativeTransport();
  if ('error' in native) return `Native socket layer benchmark skipped: ${native.error}\n`;
  const dir = mkdtempSync(join(tmpdir(), 'twampy-bench-'));
  const bin = join(dir, 'udpbench');
  const cc = spawnSync(process.env.CC || 'cc', ['-O2', '-o', bin, cSource], { encoding: 'utf8' });
  if (cc.status !== 0 || !existsSync(bin)) return `Native benchmark skipped: cannot compile ${cSource}: ${cc.stderr || cc.error?.message}\n`;
  const children: Child[] = [];
  const rows: string[] = [];
  try {
    const kinds = ['c', 'native', 'native-echo', 'dgram'] as const;
    const refl: Record<(typeof kinds)[number], Child> = {} as never;
    const ports: Record<string, number> = {};
    for (const k of kinds) {
      const c = new Child(
        k === 'c' ? spawn(bin, ['reflect']) : spawn(process.execPath, [reflectorScript, k], { stdio: ['pipe', 'pipe', 'pipe'] }),
      );
      children.push(c);
      ports[k] = (await c.next()).port!;
      refl[k] = c;
    }

    // 1. Throughput: closed loop, window 256, 3 s per round, rounds interleaved, best kept.
    const rate: Record<string, number[]> = { c: [], native: [], 'native-echo': [], dgram: [] };
    for (let round = 0; round < 3; round++) {
      for (const k of kinds) {
        const r = runJson(bin, ['load', String(ports[k]), '3', 'window', '256']);
        rate[k]!.push(r.received! / r.seconds!);
      }
    }
    const best = (k: string): number => Math.max(...rate[k]!);
    const cRate = best('c');
    rows.push('| Reflector throughput (closed loop, window 256, loopback, best of 3 x 3 s) | replies/s | vs C reference | vs dgram |');
    rows.push('|---|---:|---:|---:|');
    for (const k of kinds) {
      const name =
        k === 'c'
          ? 'C reference reflector (recvmmsg/sendmmsg echo)'
          : k === 'native-echo'
            ? 'Bare echo over the native transport (no Reflector work; shows the transport\'s own cost)'
            : `Reflector over ${k} transport`;
      rows.push(`| ${name} | ${Math.round(best(k)).toLocaleString('en')} | ${(best(k) / cRate).toFixed(2)} | ${(best(k) / best('dgram')).toFixed(2)} |`);
    }
    rows.push('');

    // 1b. CPU per reply at a fixed rate every reflector sustains, rounds interleaved, median kept.
    const CPU_RATE = 25_000;
    const ticks = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;
    const cpu: Record<string, number[]> = { c: [], native: [], 'native-echo': [], dgram: [] };
    for (let round = 0; round < 3; round++) {
      for (const k of kinds) {
        const pid = refl[k].proc.pid!;
        const c0 = cpuUsOf(pid, ticks);
        const r = runJson(bin, ['load', String(ports[k]), '3', 'rate', String(CPU_RATE)]);
        cpu[k]!.push((cpuUsOf(pid, ticks) - c0) / Math.max(1, r.received!));
      }
    }
    const cC = median(cpu.c!);
    rows.push(`| CPU per reply at ${CPU_RATE.toLocaleString('en')} req/s (open loop, median of 3 x 3 s; reflector process only) | CPU us per reply | C reference / this (throughput-equivalent) |`);
    rows.push('|---|---:|---:|');
    for (const k of kinds) {
      const name = k === 'c' ? 'C reference reflector' : k === 'native-echo' ? 'Bare echo over the native transport' : `Reflector over ${k} transport`;
      rows.push(`| ${name} | ${median(cpu[k]!).toFixed(2)} | ${(cC / median(cpu[k]!)).toFixed(2)} |`);
    }
    rows.push('');

    // 2. T3-T2 at 1,000 requests/s, open loop for 3 s.
    rows.push('| Reflector processing time at 1,000 req/s (3 s, open loop) | T3-T2 median, us | p99, us | of which T2 to handler entry, median us | handler entry to T3, median us | replies/sent |');
    rows.push('|---|---:|---:|---:|---:|---:|');
    {
      // Same-run baseline: the C reflector with kernel timestamps, T3 read just before sendmmsg.
      const c = new Child(spawn(bin, ['tsreflect', '3.6']));
      children.push(c);
      const port = (await c.next()).port!;
      const load = runJson(bin, ['load', String(port), '3', 'rate', '1000']);
      const st = await c.next();
      rows.push(`| C reference reflector (T2 = kernel timestamp, T3 before sendmmsg) | ${us(st.medianNs)} | ${us(st.p99Ns)} | ${us(st.wakeMedianNs)} (to recvmmsg return) | ${us(st.medianNs! - st.wakeMedianNs!)} | ${load.received}/${load.sent} |`);
    }
    for (const k of ['native', 'dgram'] as const) {
      await refl[k].ask('record on');
      await refl[k].ask('reset');
      const load = runJson(bin, ['load', String(ports[k]), '3', 'rate', '1000']);
      const st = await refl[k].ask('stats');
      const t2 = k === 'native' ? 'T2 = kernel timestamp' : 'T2 = clock read in the message callback';
      rows.push(`| Reflector over ${k} (${t2}) | ${us(st.medianNs)} | ${us(st.p99Ns)} | ${us(st.dispatchMedianNs)} | ${us(st.workMedianNs)} | ${load.received}/${load.sent} |`);
      await refl[k].ask('record off');
    }
    rows.push('');

    // 3. Round trip at 1,000 packets/s.
    rows.push('| Round trip on loopback at 1,000 packets/s | median RTT, us | vs C ping-pong |');
    rows.push('|---|---:|---:|');
    const cpp = runJson(bin, ['pingpong', String(ports.c), '3000', '1000']);
    const cMedian = cpp.medianNs!;
    const sp = sockperfRtt(3);
    const nat = await senderRtt(native.transport, ports.native!, 3000);
    const dg = await senderRtt(new DgramTransport(), ports.dgram!, 3000);
    rows.push(`| C ping-pong (udpbench, blocking send/recv, vs C reflector) | ${us(cMedian)} | 1.00 |`);
    if (sp !== null) rows.push(`| sockperf ping-pong --full-rtt (Debian sockperf) | ${us(sp)} | ${(sp / cMedian).toFixed(2)} |`);
    rows.push(`| twampy Sender over native vs Reflector over native (reported RTT) | ${us(nat)} | ${(nat / cMedian).toFixed(2)} |`);
    rows.push(`| twampy Sender over dgram vs Reflector over dgram (reported RTT) | ${us(dg)} | ${(dg / cMedian).toFixed(2)} |`);
    rows.push('');
    const stats = await refl.native.ask('stats');
    rows.push(`Native reflector process after the run: RSS ${(stats.rssBytes! / 1048576).toFixed(1)} MiB. Load average at the end: ${loadavg().map((l) => l.toFixed(2)).join(' ')} on ${cpus().length} CPUs (other work on the machine moves every figure).`);
    return rows.join('\n') + '\n';
  } finally {
    await Promise.all(children.map((c) => c.stop()));
    rmSync(dir, { recursive: true, force: true });
  }
}

// Run directly: `node dist/bench/native.js`.
if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  run().then(
    (t) => {
      console.log(t);
      process.exit(0);
    },
    (e: unknown) => {
      console.error(e);
      process.exit(1);
    },
  );
}
