/**
 * Soak: does a long run grow the sender? 100 targets at 100 packets/s each (10,000 a second, so
 * that 300 s send 30,000 packets per target, 8 hours' worth at 1 packet/s), scraped every 5 s
 * and pushed over OTLP every 10 s, beside the minimal dgram pinger at the same rate (the
 * baseline). Both run with --trace-gc; the live heap after each full collection (mark-compact) is
 * what a process keeps, and its trend between the first and the second half of the run says
 * whether something is kept per packet. BENCH_SOAK_S sets the length (default 300).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, get, type Server } from 'node:http';
import { fileURLToPath } from 'node:url';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI, freePort, median, rssMiB, sleep, startResponder, stopProcess } from './processes.js';

const PINGER = fileURLToPath(new URL('./pinger.js', import.meta.url));
const RESPONDERS = 2;
const PER_RESPONDER = 50;
const INTERVAL_MS = 10;

/** Live heap (MB) after each mark-compact in a --trace-gc log, with the process time (s) it ended at. */
function markCompacts(log: string): { atS: number; mb: number }[] {
  return [...log.matchAll(/(\d+) ms: Mark-Compact[^\n]*? -> ([\d.]+) \(/g)].map((m) => ({ atS: Number(m[1]) / 1000, mb: Number(m[2]) }));
}

function traced(args: string[], env: NodeJS.ProcessEnv = process.env): { proc: ChildProcess; log: () => string } {
  const proc = spawn(process.execPath, ['--trace-gc', ...args], { stdio: ['ignore', 'pipe', 'inherit'], env });
  let log = '';
  proc.stdout!.on('data', (d: Buffer) => (log += d.toString()));
  return { proc, log: () => log };
}

function scrape(port: number): Promise<void> {
  return new Promise((resolve) => {
    const q = get({ host: '127.0.0.1', port, path: '/metrics', headers: { 'accept-encoding': 'gzip' } }, (r) => {
      r.resume();
      r.on('end', () => resolve());
    });
    q.on('error', () => resolve());
  });
}

/** Runs the soak; returns a markdown table. */
export async function run(): Promise<string> {
  const seconds = Number(process.env.BENCH_SOAK_S ?? 300);
  const responders: ChildProcess[] = [];
  const targets: string[] = [];
  let sink: Server | undefined;
  const procs: ChildProcess[] = [];
  let dir: string | undefined;
  try {
    for (let r = 0; r < RESPONDERS; r++) {
      const { p, bound } = await startResponder(Array.from({ length: PER_RESPONDER }, (_, i) => `127.0.${r + 1}.${i + 1}`));
      responders.push(p);
      targets.push(...bound);
    }
    dir = mkdtempSync(join(tmpdir(), 'twampy-soak-'));
    const file = join(dir, 'targets.yaml');
    writeFileSync(file, targets.map((t) => `- "${t}"`).join('\n') + '\n');
    let pushes = 0;
    sink = createServer((q, r) => {
      q.resume();
      q.on('end', () => {
        pushes++;
        r.end();
      });
    });
    await new Promise<void>((r) => sink!.listen(0, '127.0.0.1', () => r()));
    const sinkPort = (sink.address() as { port: number }).port;
    const metricsPort = await freePort();
    const sender = traced(
      [CLI, 'sender', '--targets-file', file, '--forever', '-i', String(INTERVAL_MS), '-q', '--metrics', '--metrics-port', String(metricsPort), '--otlp', `http://127.0.0.1:${sinkPort}/v1/metrics`],
      { ...process.env, OTEL_METRIC_EXPORT_INTERVAL: '10000' },
    );
    const pinger = traced([PINGER, String(INTERVAL_MS), ...targets]);
    procs.push(sender.proc, pinger.proc);
    const rssStart = { sender: NaN, pinger: NaN };
    let scrapes = 0;
    const t0 = Date.now();
    while (Date.now() - t0 < seconds * 1000) {
      await sleep(5000);
      await scrape(metricsPort);
      scrapes++;
      if (Number.isNaN(rssStart.sender) && Date.now() - t0 >= 30_000) {
        rssStart.sender = rssMiB(sender.proc.pid!);
        rssStart.pinger = rssMiB(pinger.proc.pid!);
      }
    }
    const rssEnd = { sender: rssMiB(sender.proc.pid!), pinger: rssMiB(pinger.proc.pid!) };
    let page = '';
    await new Promise<void>((resolve) => {
      get({ host: '127.0.0.1', port: metricsPort, path: '/metrics' }, (r) => {
        r.on('data', (d: Buffer) => (page += d.toString()));
        r.on('end', () => resolve());
      }).on('error', () => resolve());
    });
    const sum = (re: RegExp) => [...page.matchAll(re)].reduce((a, m) => a + Number(m[1]), 0);
    const sent = sum(/^twampy_packets_sent_total\{[^}]*\} (\d+)/gm);
    const received = sum(/^twampy_packets_received_total\{[^}]*\} (\d+)/gm);
    const rows: string[] = [];
    for (const [name, p] of [['minimal dgram pinger (baseline)', pinger], ['twampy sender (scraped every 5 s, pushed every 10 s)', sender]] as const) {
      // Start-up's collections (the first 10 s) are left out; the rest is split into halves.
      const mc = markCompacts(p.log()).filter((m) => m.atS > 10);
      const middle = 10 + (seconds - 10) / 2;
      const first = median(mc.filter((m) => m.atS < middle).map((m) => m.mb));
      const last = median(mc.filter((m) => m.atS >= middle).map((m) => m.mb));
      const mb = (v: number) => (Number.isNaN(v) ? '-' : v.toFixed(1));
      const key = p === sender ? 'sender' : 'pinger';
      rows.push(`| ${name} | ${mc.length} | ${mb(first)} | ${mb(last)} | ${mb(last - first)} | ${rssStart[key].toFixed(0)} | ${rssEnd[key].toFixed(0)} |`);
    }
    return [
      `${targets.length} targets at ${1000 / INTERVAL_MS} packets/s each for ${seconds} s: the sender sent ${sent} packets (${Math.round(sent / targets.length)} per target) and got ${received} replies on time; ${scrapes} scrapes, ${pushes} OTLP pushes.`,
      '',
      '| process | mark-compacts | live heap after them, first half (MB, median) | second half | change | RSS at 30 s (MiB) | RSS at the end |',
      '|---|---:|---:|---:|---:|---:|---:|',
      ...rows,
      '',
      'A "-" is a half without a full collection (a small heap such as the pinger\'s may need none).',
    ].join('\n');
  } finally {
    for (const p of procs) await stopProcess(p, 'SIGINT');
    for (const p of responders) await stopProcess(p);
    sink?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  }
}
