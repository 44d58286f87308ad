/**
 * Telemetry cost: one `twampy sender` process measuring 1,000 targets at 1 packet/s each (four
 * loopback responders, 250 targets each), run with telemetry off (the baseline, twice: before
 * and after, to show the noise), with `--metrics` scraped every 5 s (the compose demo's
 * interval) and every 15 s (the Helm chart's), and with `--metrics` plus OTLP push every 5 s to a
 * loopback sink. Scrapes ask for gzip, as Prometheus does. Reports the sender's CPU and RSS per
 * configuration, the CPU ratio against the baseline, and the /metrics scrape time and size.
 *
 * Goal (issue 3): telemetry costs less than 10 % more CPU than measuring alone; a scrape takes
 * under 100 ms.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, request } from 'node:http';
import { createServer as createNetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync, gzipSync } from 'node:zlib';

const CLI = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const RESPONDERS = 4;
const PER_RESPONDER = 250;
const WARMUP_S = Number(process.env.BENCH_TELEMETRY_WARMUP_S ?? 10);
const WINDOW_S = Number(process.env.BENCH_TELEMETRY_WINDOW_S ?? 30);
const SCRAPE_EVERY_MS = 5000;
/** The Helm chart's ServiceMonitor / PodMonitor interval. */
const SCRAPE_EVERY_MS_CHART = 15_000;
/** The 15 s row's window: three intervals, so that it holds the same share of scrapes as the 5 s rows. */
const CHART_WINDOW_S = Math.max(WINDOW_S, (3 * SCRAPE_EVERY_MS_CHART) / 1000);

function cpuTicks(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return Number(f[11]) + Number(f[12]); // utime + stime, in clock ticks (USER_HZ = 100)
}

function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function stop(p: ChildProcess): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) return;
  await new Promise<void>((r) => {
    p.once('exit', () => r());
    p.kill('SIGTERM');
    setTimeout(() => p.kill('SIGKILL'), 10_000).unref();
  });
}

async function freePort(): Promise<number> {
  const s = createNetServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

/**
 * Starts a responder listening on `addresses` (port 0 each) and returns the bound `addr:port`s.
 * Each target gets its own loopback address so that names differ, and the responder binds that
 * very address: a responder on 0.0.0.0 would answer from 127.0.0.1, and the sender drops replies
 * from an address other than the target's.
 */
async function startResponder(addresses: string[]): Promise<{ p: ChildProcess; bound: string[] }> {
  const p = spawn(process.execPath, [CLI, 'responder', ...addresses.map((a) => `${a}:0`), '--rate-limit', '0', '-q'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const bound = await new Promise<string[]>((resolve, reject) => {
    let out = '';
    p.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const found = [...out.matchAll(/listening on (\d+\.\d+\.\d+\.\d+:\d+)/g)].map((m) => m[1]!);
      if (found.length === addresses.length) resolve(found);
    });
    p.once('exit', (code) => reject(new Error(`responder exited with ${code}`)));
  });
  return { p, bound };
}

interface Scrape {
  ms: number;
  /** Exposition size, and what went over the wire (gzip level chosen by the server). */
  bytes: number;
  wireBytes: number;
  /** The exposition gzipped at zlib's default level, for comparison. */
  gzipBytes: number;
  /** Sample lines (series) in the exposition. */
  series: number;
}

function scrape(port: number): Promise<Scrape> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const req = request({ host: '127.0.0.1', port, path: '/metrics', timeout: 30_000, headers: { 'Accept-Encoding': 'gzip' } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const ms = performance.now() - t0;
        const wire = Buffer.concat(chunks);
        if (res.statusCode !== 200) reject(new Error(`/metrics answered ${res.statusCode}`));
        else {
          const body = res.headers['content-encoding'] === 'gzip' ? gunzipSync(wire) : wire;
          const series = body.toString('utf8').split('\n').filter((l) => l !== '' && !l.startsWith('#')).length;
          resolve({ ms, bytes: body.length, wireBytes: wire.length, gzipBytes: gzipSync(body).length, series });
        }
      });
    });
    req.on('error', reject);
    req.end();
  });
}

async function waitReady(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const req = request({ host: '127.0.0.1', port, path: '/readyz', timeout: 2000 }, (res) => {
        res.resume();
        resolve(res.statusCode === 200);
      });
      req.on('error', () => resolve(false));
      req.end();
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error('sender did not become ready');
    await sleep(250);
  }
}

interface Result {
  name: string;
  windowS: number;
  everyMs: number;
  cpuPct: number;
  rssMiB: number;
  scrapes: Scrape[];
}

function median(v: number[]): number {
  const s = [...v].sort((a, b) => a - b);
  return s.length ? s[Math.floor((s.length - 1) / 2)]! : NaN;
}

async function measureSender(
  name: string,
  targetsFile: string,
  extra: string[],
  env: Record<string, string>,
  metricsPort?: number,
  everyMs = SCRAPE_EVERY_MS,
  windowS = WINDOW_S,
): Promise<Result> {
  const p = spawn(process.execPath, [CLI, 'sender', '--targets-file', targetsFile, '--forever', '-i', '1000', '-q', ...extra], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, ...env },
  });
  let stderr = '';
  p.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-2000)));
  p.once('exit', (code, signal) => {
    if (code !== 0 && signal !== 'SIGTERM') process.stderr.write(`bench/telemetry: sender (${name}) exited ${code ?? signal}: ${stderr}\n`);
  });
  try {
    if (metricsPort !== undefined) await waitReady(metricsPort, 60_000);
    await sleep(WARMUP_S * 1000);
    const scrapes: Scrape[] = [];
    if (metricsPort !== undefined) {
      // Every target measured and in the exposition before the window starts.
      const first = await scrape(metricsPort);
      if (first.series < 20 * RESPONDERS * PER_RESPONDER) throw new Error(`only ${first.series} series after warm-up`);
    }
    const c0 = cpuTicks(p.pid!);
    const end = Date.now() + windowS * 1000;
    while (Date.now() < end) {
      const next = Date.now() + everyMs;
      if (metricsPort !== undefined) scrapes.push(await scrape(metricsPort));
      await sleep(Math.max(0, Math.min(next, end) - Date.now()));
    }
    const c1 = cpuTicks(p.pid!);
    return { name, windowS, everyMs, cpuPct: ((c1 - c0) / 100 / windowS) * 100, rssMiB: rssMiB(p.pid!), scrapes };
  } finally {
    await stop(p);
  }
}

/** Runs the telemetry benchmark; returns markdown tables. */
export async function run(): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'twampy-bench-telemetry-'));
  const responders: ChildProcess[] = [];
  // An OTLP sink that accepts every push (what the push costs the sender, not a collector).
  let pushes = 0;
  let pushedBytes = 0;
  const sink = createHttpServer((req, res) => {
    req.on('data', (c: Buffer) => (pushedBytes += c.length));
    req.on('end', () => {
      pushes++;
      res.statusCode = 200;
      res.end();
    });
  });
  await new Promise<void>((r) => sink.listen(0, '127.0.0.1', r));
  const sinkPort = (sink.address() as { port: number }).port;
  try {
    const targets: string[] = [];
    for (let r = 0; r < RESPONDERS; r++) {
      const { p, bound } = await startResponder(Array.from({ length: PER_RESPONDER }, (_, i) => `127.0.${r + 1}.${i + 1}`));
      responders.push(p);
      targets.push(...bound);
    }
    const targetsFile = join(dir, 'targets.yaml');
    writeFileSync(targetsFile, targets.map((t) => `- "${t}"`).join('\n') + '\n');

    const results: Result[] = [];
    results.push(await measureSender('telemetry off (baseline, before)', targetsFile, [], {}));
    let port = await freePort();
    results.push(await measureSender('--metrics, scraped every 5 s', targetsFile, ['--metrics', '--metrics-host', '127.0.0.1', '--metrics-port', String(port)], {}, port));
    port = await freePort();
    results.push(
      await measureSender('--metrics, scraped every 15 s', targetsFile, ['--metrics', '--metrics-host', '127.0.0.1', '--metrics-port', String(port)], {}, port, SCRAPE_EVERY_MS_CHART, CHART_WINDOW_S),
    );
    port = await freePort();
    results.push(
      await measureSender(
        '--metrics + --otlp (push every 5 s)',
        targetsFile,
        ['--metrics', '--metrics-host', '127.0.0.1', '--metrics-port', String(port), '--otlp', `http://127.0.0.1:${sinkPort}`],
        { OTEL_METRIC_EXPORT_INTERVAL: String(SCRAPE_EVERY_MS) },
        port,
      ),
    );
    results.push(await measureSender('telemetry off (baseline, after)', targetsFile, [], {}));

    const base = (results[0]!.cpuPct + results.at(-1)!.cpuPct) / 2;
    const rows = results.map(
      (r) => `| ${r.name} | ${r.cpuPct.toFixed(1)} | ${(r.cpuPct / base).toFixed(2)} | ${r.rssMiB.toFixed(0)} |`,
    );
    const all = results.flatMap((r) => r.scrapes);
    const ms = all.map((s) => s.ms);
    const last = all.at(-1);
    return [
      `${targets.length} targets x 1 pkt/s, ${RESPONDERS} loopback responders; CPU over ${WINDOW_S} s (the 15 s row: ${CHART_WINDOW_S} s) after ${WARMUP_S} s warm-up; ratio against the mean of the two baselines.`,
      '',
      '| sender | CPU (% of one core) | CPU ratio | RSS (MiB) |',
      '|---|---:|---:|---:|',
      ...rows,
      '',
      '| /metrics scrape (client side, over loopback, gzip asked for) | value |',
      '|---|---:|',
      `| scrapes | ${all.length} |`,
      `| median time (ms) | ${median(ms).toFixed(1)} |`,
      `| max time (ms) | ${Math.max(...ms).toFixed(1)} |`,
      `| size (bytes) | ${last?.bytes ?? NaN} |`,
      `| sent gzipped (bytes; zlib's default level would give ${last?.gzipBytes ?? NaN}) | ${last?.wireBytes ?? NaN} |`,
      `| series (sample lines) | ${last?.series ?? NaN} |`,
      `| OTLP pushes received / bytes | ${pushes} / ${pushedBytes} |`,
    ].join('\n');
  } finally {
    await Promise.all(responders.map(stop));
    await new Promise((r) => sink.close(r));
    rmSync(dir, { recursive: true, force: true });
  }
}
