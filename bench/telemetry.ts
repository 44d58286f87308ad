/**
 * Telemetry cost: `twampy sender` measuring 1,000 targets at 1 packet/s each (four loopback
 * responders, 250 targets each), with telemetry on against the same sender with telemetry off.
 *
 * Method: groups run side by side. A group is four senders started together against
 * the same responders, one of them with telemetry off (the baseline); every process's CPU time is
 * read over the same window, so that the shared machine's drift hits all alike (one after the
 * other, identical runs differed by up to 3 points of a core, the size of the whole budget).
 * Group 1: `--metrics` never scraped (what telemetry costs between scrapes), scraped every 15 s
 * (the Helm chart's interval) and every 5 s (the compose demo's). Group 2: a second baseline
 * (what the method reads when nothing differs), scraped every 15 s plus OTLP push at
 * OpenTelemetry's default 60 s, and scraped plus pushed every 5 s, to a loopback sink. Group 3:
 * scraped every 15 s and every 5 s with --no-metrics-gzip, and OTLP push alone at 60 s (--otlp
 * without --metrics). Scrapes ask for gzip, as Prometheus does. Reported per sender: CPU (and
 * the share on threads other than the main one: V8's collector, zlib), the ratio to the
 * baseline, RSS, and the /metrics scrape times per configuration; the scrape times of one
 * sender scraped every 5 s with nothing beside it but the responders (the issue's setup; in a
 * group, a scrape also waits for cores the other senders hold); then what one scrape costs a
 * sender with and without gzip, measured apart.
 *
 * Goal (issue 3): telemetry costs less than 10 % more CPU than measuring alone; a scrape takes
 * under 100 ms.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { CLI, freePort, median, rssMiB, sleep, startResponder, stopProcess as stop } from './processes.js';

const RESPONDERS = 4;
const PER_RESPONDER = 250;
const WARMUP_S = Number(process.env.BENCH_TELEMETRY_WARMUP_S ?? 15);
/** Scrapes, at the configuration's interval, between the warm-up and the window. */
const WARMUP_SCRAPES = Number(process.env.BENCH_TELEMETRY_WARMUP_SCRAPES ?? 5);
/**
 * Window of each group. Two minutes, so that the sender's periodic work (full collections every
 * 15-60 s, scrapes every 15 s, a push every 60 s) falls into each window more than once.
 */
const WINDOW_S = Number(process.env.BENCH_TELEMETRY_WINDOW_S ?? 120);
const ROUNDS = Number(process.env.BENCH_TELEMETRY_ROUNDS ?? 2);
/** Quiet and busy windows of the per-scrape measurement, and how many pairs of them. */
const SCRAPE_COST_WINDOW_MS = 10_000;
const SCRAPE_COST_PAIRS = 3;
const SCRAPE_EVERY_MS = 5000;
/** The Helm chart's ServiceMonitor / PodMonitor interval. */
const SCRAPE_EVERY_MS_CHART = 15_000;
/** OpenTelemetry's default export interval (OTEL_METRIC_EXPORT_INTERVAL), which twampy keeps. */
const OTLP_DEFAULT_INTERVAL_MS = 60_000;

/**
 * CPU time of a process in clock ticks (USER_HZ = 100), split into its main thread and the
 * others, and the kernel's share of the whole (system time).
 */
function cpuTicks(pid: number): { main: number; other: number; system: number } {
  let main = 0;
  let other = 0;
  let system = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const f = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8').split(') ')[1]!.split(' ');
      const t = Number(f[11]) + Number(f[12]); // utime + stime
      system += Number(f[12]);
      if (Number(tid) === pid) main += t;
      else other += t;
    } catch {
      // A thread that ended between listing and reading.
    }
  }
  return { main, other, system };
}

/** One timed scrape: only the time and the bytes, so that timing one sender's scrape never waits for the analysis of another's. */
interface Scrape {
  ms: number;
  /** What went over the wire (gzip level chosen by the server), and whether it is gzipped. */
  wire: Buffer;
  gzip: boolean;
}

/** What an exposition holds, worked out after the window. */
interface Exposition {
  /** Exposition size, and what went over the wire. */
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
        if (res.statusCode !== 200) reject(new Error(`/metrics answered ${res.statusCode}`));
        else resolve({ ms, wire: Buffer.concat(chunks), gzip: res.headers['content-encoding'] === 'gzip' });
      });
    });
    req.on('error', reject);
    req.end();
  });
}

/** Unpacks and counts a scrape (outside the timed windows: gunzip and a level-6 gzip take tens of ms). */
function analyse(x: Scrape): Exposition {
  const body = x.gzip ? gunzipSync(x.wire) : x.wire;
  const series = body.toString('utf8').split('\n').filter((l) => l !== '' && !l.startsWith('#')).length;
  return { bytes: body.length, wireBytes: x.wire.length, gzipBytes: gzipSync(body).length, series };
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

/** One sender of a pair. */
interface SenderSpec {
  extra: string[];
  /** Packet interval per target (default 1000 ms: the 1 packet/s). */
  intervalMs?: number;
  env: Record<string, string>;
  /** Port of /metrics to scrape, with the interval. */
  metrics?: { port: number; everyMs: number };
}

interface Measured {
  cpuPct: number;
  otherPct: number;
  /** User time alone, in % of one core: telemetry's own work is all user time. */
  userPct: number;
  rssMiB: number;
  /** Time of every scrape in the window (ms). */
  scrapeMs: number[];
  /** The window's last scrape, analysed after the run (one kept: uncompressed, each is 4 MB). */
  lastScrape?: Scrape;
}

function spawnSender(name: string, targetsFile: string, spec: SenderSpec): ChildProcess {
  const p = spawn(process.execPath, [CLI, 'sender', '--targets-file', targetsFile, '--forever', '-i', String(spec.intervalMs ?? 1000), '-q', ...spec.extra], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, ...spec.env },
  });
  let stderr = '';
  p.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-2000)));
  p.once('exit', (code, signal) => {
    if (code !== 0 && signal !== 'SIGTERM') process.stderr.write(`bench/telemetry: sender (${name}) exited ${code ?? signal}: ${stderr}\n`);
  });
  return p;
}

/** Runs the senders of `specs` side by side and measures them over the same window. */
async function measureTogether(names: string[], targetsFile: string, specs: SenderSpec[]): Promise<Measured[]> {
  const procs = specs.map((spec, i) => spawnSender(names[i]!, targetsFile, spec));
  try {
    for (const spec of specs) if (spec.metrics) await waitReady(spec.metrics.port, 60_000);
    await sleep(WARMUP_S * 1000);
    // Scrapes at the configuration's own interval before the window: V8 compiles the scrape path
    // over its first few runs (the first expositions of a process cost 40-160 ms of CPU against
    // about 15 ms later), and a long-running sender is past that.
    const warmSeries = await Promise.all(
      specs.map(async (spec) => {
        let series = 0;
        if (!spec.metrics) return series;
        for (let i = 0; i < WARMUP_SCRAPES; i++) {
          const next = Date.now() + spec.metrics.everyMs;
          series = analyse(await scrape(spec.metrics.port)).series;
          await sleep(Math.max(0, next - Date.now()));
        }
        return series;
      }),
    );
    for (const [i, spec] of specs.entries()) {
      if (!spec.metrics) continue;
      // Every target's first period complete and in the exposition before the window starts.
      const deadline = Date.now() + 60_000;
      for (let series = warmSeries[i]!; series < 20 * RESPONDERS * PER_RESPONDER; ) {
        if (Date.now() > deadline) throw new Error(`only ${series} series a minute after warm-up`);
        await sleep(2000);
        series = analyse(await scrape(spec.metrics.port)).series;
      }
    }
    const c0 = procs.map((p) => cpuTicks(p.pid!));
    const t0 = performance.now();
    const end = Date.now() + WINDOW_S * 1000;
    const scrapes = await Promise.all(
      specs.map(async (spec) => {
        const out: { ms: number[]; last?: Scrape } = { ms: [] };
        if (!spec.metrics) return out;
        while (Date.now() < end) {
          const next = Date.now() + spec.metrics.everyMs;
          out.last = await scrape(spec.metrics.port);
          out.ms.push(out.last.ms);
          await sleep(Math.max(0, Math.min(next, end) - Date.now()));
        }
        return out;
      }),
    );
    await sleep(Math.max(0, end - Date.now()));
    const elapsedS = (performance.now() - t0) / 1000;
    return procs.map((p, i) => {
      const c1 = cpuTicks(p.pid!);
      const ticks = c1.main + c1.other - c0[i]!.main - c0[i]!.other;
      const userTicks = ticks - (c1.system - c0[i]!.system);
      return { cpuPct: ticks / elapsedS, otherPct: (c1.other - c0[i]!.other) / elapsedS, userPct: userTicks / elapsedS, rssMiB: rssMiB(p.pid!), scrapeMs: scrapes[i]!.ms, lastScrape: scrapes[i]!.last };
    });
  } finally {
    await Promise.all(procs.map((p) => stop(p)));
  }
}

/** A scrape that only counts the bytes (the client's own work kept small beside the sender). */
function scrapeBytes(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/metrics', timeout: 30_000, headers: { 'Accept-Encoding': 'gzip' } }, (res) => {
      let n = 0;
      res.on('data', (c: Buffer) => (n += c.length));
      res.on('end', () => resolve(n));
    });
    req.on('error', reject);
    req.end();
  });
}

/** CPU that scrapes cost one live sender, per scrape: main thread and other threads (zlib), in ms. */
interface ScrapeCost {
  mainMs: number;
  otherMs: number;
}

/**
 * What one scrape costs a live sender: windows without scrapes and windows with a scrape every
 * 500 ms alternate in the same process, and each busy window's CPU beyond its quiet neighbour's,
 * divided by its scrapes, is the cost of one scrape. The quiet windows are the baseline.
 * With the default 10 s period most of those scrapes find every family as the previous one left
 * it, which the segmented gzip does not compress again; `intervalMs` 250 with `--period 0.5`
 * gives every target new figures between any two scrapes.
 */
async function perScrapeCost(targetsFile: string, port: number, extra: string[], intervalMs = 1000): Promise<ScrapeCost[]> {
  const p = spawnSender('per-scrape', targetsFile, { extra, env: {}, intervalMs });
  try {
    await waitReady(port, 60_000);
    await sleep(WARMUP_S * 1000);
    for (let i = 0; i < 3; i++) await scrapeBytes(port);
    const out: ScrapeCost[] = [];
    for (let k = 0; k < SCRAPE_COST_PAIRS; k++) {
      const q0 = cpuTicks(p.pid!);
      const qt0 = performance.now();
      await sleep(SCRAPE_COST_WINDOW_MS);
      const q1 = cpuTicks(p.pid!);
      const quietS = (performance.now() - qt0) / 1000;
      const b0 = cpuTicks(p.pid!);
      const bt0 = performance.now();
      let n = 0;
      while (performance.now() - bt0 < SCRAPE_COST_WINDOW_MS) {
        const next = performance.now() + 500;
        await scrapeBytes(port);
        n++;
        await sleep(Math.max(0, next - performance.now()));
      }
      const b1 = cpuTicks(p.pid!);
      const busyS = (performance.now() - bt0) / 1000;
      // Ticks are 10 ms; the quiet window's rate, scaled to the busy window's length, is subtracted.
      const extraMs = (b: number, a: number, qb: number, qa: number) => ((b - a) - ((qb - qa) * busyS) / quietS) * 10 / n;
      out.push({ mainMs: extraMs(b1.main, b0.main, q1.main, q0.main), otherMs: extraMs(b1.other, b0.other, q1.other, q0.other) });
    }
    return out;
  } finally {
    await stop(p);
  }
}

/** One sender's result in one window, beside the baseline of the same window. */
interface GroupResult {
  config: string;
  round: number;
  off: Measured;
  on: Measured;
}

/** A configuration of a group: how to start the sender, given a free port for its /metrics. */
interface Config {
  name: string;
  spec: (port: number) => SenderSpec;
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

    const metricsArgs = (port: number) => ['--metrics', '--metrics-host', '127.0.0.1', '--metrics-port', String(port)];
    const push = (pushMs: number): SenderSpec => ({ extra: ['--otlp', `http://127.0.0.1:${sinkPort}`], env: { OTEL_METRIC_EXPORT_INTERVAL: String(pushMs) } });
    const otlp = (port: number, everyMs: number, pushMs: number): SenderSpec => {
      const p = push(pushMs);
      return { ...p, extra: [...metricsArgs(port), ...p.extra], metrics: { port, everyMs } };
    };
    const OFF: Config = { name: 'telemetry off', spec: () => ({ extra: [], env: {} }) };
    const never = '--metrics, never scraped';
    const chart = '--metrics, scraped every 15 s';
    const demo = '--metrics, scraped every 5 s';
    const defaults = 'scraped every 15 s + OTLP push every 60 s (its default)';
    const busy = 'scraped and pushed every 5 s';
    const pushOnly = 'OTLP push every 60 s alone (--otlp without --metrics)';
    const plain = (everyMs: number) => (port: number): SenderSpec => ({ extra: [...metricsArgs(port), '--no-metrics-gzip'], env: {}, metrics: { port, everyMs } });
    // Each group runs side by side over one window; the first member is the baseline. The second
    // group has a second baseline, which shows what the method reads when nothing differs.
    const groups: Config[][] = [
      [
        OFF,
        // What telemetry costs between scrapes: recording once per period, the event-loop sampler.
        { name: never, spec: (port) => ({ extra: metricsArgs(port), env: {} }) },
        { name: chart, spec: (port) => ({ extra: metricsArgs(port), env: {}, metrics: { port, everyMs: SCRAPE_EVERY_MS_CHART } }) },
        { name: demo, spec: (port) => ({ extra: metricsArgs(port), env: {}, metrics: { port, everyMs: SCRAPE_EVERY_MS } }) },
      ],
      [
        OFF,
        { name: 'telemetry off (a second baseline)', spec: OFF.spec },
        { name: defaults, spec: (port) => otlp(port, SCRAPE_EVERY_MS_CHART, OTLP_DEFAULT_INTERVAL_MS) },
        { name: busy, spec: (port) => otlp(port, SCRAPE_EVERY_MS, SCRAPE_EVERY_MS) },
      ],
      [
        OFF,
        { name: `${chart}, --no-metrics-gzip`, spec: plain(SCRAPE_EVERY_MS_CHART) },
        { name: `${demo}, --no-metrics-gzip`, spec: plain(SCRAPE_EVERY_MS) },
        // The push path alone at its default interval: --otlp without --metrics.
        { name: pushOnly, spec: () => push(OTLP_DEFAULT_INTERVAL_MS) },
      ],
    ];
    const results: GroupResult[] = [];
    for (let round = 1; round <= ROUNDS; round++) {
      for (const group of groups) {
        const specs = await Promise.all(group.map(async (c) => c.spec(await freePort())));
        // The start order rotates from round to round: started in one order, identical senders
        // have read a few per cent apart, and a fixed order would carry that into every ratio.
        const order = group.map((_, i) => (i + round - 1) % group.length);
        const measured = await measureTogether(
          order.map((i) => group[i]!.name),
          targetsFile,
          order.map((i) => specs[i]!),
        );
        const byConfig = new Map(order.map((i, k) => [i, measured[k]!]));
        for (let i = 1; i < group.length; i++) results.push({ config: group[i]!.name, round, off: byConfig.get(0)!, on: byConfig.get(i)! });
      }
    }
    const configs = groups.flatMap((g) => g.slice(1).map((c) => c.name));

    // The issue's own setup for the scrape time: one sender with 1,000 targets and nothing else
    // competing for the two cores but the responders. The groups above run four senders side by
    // side, where a scrape's gzip also waits for a core.
    const aloneMs: number[] = [];
    for (let round = 1; round <= ROUNDS; round++) {
      const port = await freePort();
      const [alone] = await measureTogether(['alone'], targetsFile, [{ extra: metricsArgs(port), env: {}, metrics: { port, everyMs: SCRAPE_EVERY_MS } }]);
      aloneMs.push(...alone!.scrapeMs);
    }

    const costPort = await freePort();
    const costs = await perScrapeCost(targetsFile, costPort, metricsArgs(costPort));
    const plainPort = await freePort();
    const plainCosts = await perScrapeCost(targetsFile, plainPort, [...metricsArgs(plainPort), '--no-metrics-gzip']);
    const churnPort = await freePort();
    const churnCosts = await perScrapeCost(targetsFile, churnPort, [...metricsArgs(churnPort), '--period', '0.5'], 250);

    const rows = results.map(
      (p) =>
        `| ${p.config} | ${p.round} | ${p.off.cpuPct.toFixed(1)} (${p.off.otherPct.toFixed(1)}) | ${p.on.cpuPct.toFixed(1)} (${p.on.otherPct.toFixed(1)}) | ${(p.on.cpuPct / p.off.cpuPct).toFixed(2)} | ${p.off.userPct.toFixed(1)} / ${p.on.userPct.toFixed(1)} | ${(p.on.userPct / p.off.userPct).toFixed(2)} | ${p.off.rssMiB.toFixed(0)} / ${p.on.rssMiB.toFixed(0)} |`,
    );
    const summary = configs.map((name) => {
      const ps = results.filter((p) => p.config === name);
      const ratios = ps.map((p) => p.on.cpuPct / p.off.cpuPct);
      const userRatios = ps.map((p) => p.on.userPct / p.off.userPct);
      return `| ${name} | ${median(ratios).toFixed(2)} | ${ratios.map((r) => r.toFixed(2)).join(', ')} | ${median(userRatios).toFixed(2)} |`;
    });
    const scrapeRow = (name: string, ms: number[]): string[] => {
      if (ms.length === 0) return [];
      const sorted = [...ms].sort((x, y) => x - y);
      return [`| ${name} | ${ms.length} | ${median(ms).toFixed(1)} | ${sorted[Math.floor(ms.length * 0.9)]!.toFixed(1)} | ${sorted.at(-1)!.toFixed(1)} | ${ms.filter((x) => x > 100).length} |`];
    };
    const scrapeRows = configs.flatMap((name) => scrapeRow(name, results.filter((p) => p.config === name).flatMap((p) => p.on.scrapeMs)));
    const costRow = (name: string, ms: number[]) => `| ${name} | ${median(ms).toFixed(1)} | ${ms.map((x) => x.toFixed(1)).join(', ')} |`;
    const lastScrape = results.filter((p) => p.config === chart).at(-1)?.on.lastScrape;
    const last = lastScrape ? analyse(lastScrape) : undefined;
    return [
      `${targets.length} targets x 1 pkt/s, ${RESPONDERS} loopback responders. The senders of a group run side by side over the same ${WINDOW_S} s window, after ${WARMUP_S} s of warm-up and ${WARMUP_SCRAPES} scrapes at each one's interval; each is compared with the group's sender without telemetry (the start order rotates by round). CPU in % of one core, in brackets the part on threads other than the main one (V8's collector, zlib). User: the same without system time. Much of a sender's CPU here is kernel time on the loopback path, which also delivers each datagram into the responder's socket (the receiving host's work on a real link) and which telemetry does not touch; telemetry's own work is user time, so the user ratio is about the most it costs a sender whose kernel time is smaller.`,
      '',
      '| configuration | round | CPU off | CPU on | ratio | user off / on | user ratio | RSS off / on (MiB) |',
      '|---|---:|---:|---:|---:|---:|---:|---:|',
      ...rows,
      '',
      '| configuration | median ratio | ratio per round | median user ratio |',
      '|---|---:|---|---:|',
      ...summary,
      '',
      "/metrics scrapes in the windows (client side, over loopback, gzip asked for). The first row is one sender alone with the responders, the issue's setup; the others are the groups' senders, four sharing the two cores:",
      '',
      '| configuration | scrapes | median (ms) | p90 (ms) | max (ms) | over 100 ms |',
      '|---|---:|---:|---:|---:|---:|',
      ...scrapeRow(`one sender alone, ${demo.slice('--metrics, '.length)}`, aloneMs),
      ...scrapeRows,
      '',
      '| exposition | value |',
      '|---|---:|',
      `| size (bytes) | ${last?.bytes ?? NaN} |`,
      `| sent gzipped (bytes; zlib's default level would give ${last?.gzipBytes ?? NaN}) | ${last?.wireBytes ?? NaN} |`,
      `| series (sample lines) | ${last?.series ?? NaN} |`,
      `| OTLP pushes received / bytes | ${pushes} / ${pushedBytes} |`,
      '',
      `CPU one scrape costs the sender (${SCRAPE_COST_PAIRS} pairs of ${SCRAPE_COST_WINDOW_MS / 1000} s windows, without scrapes and with one every 500 ms, in one sender; gzip runs on other threads; with the 10 s period most of these scrapes find the figures of the previous one), then the same with --no-metrics-gzip, then with new figures for every target at every scrape (--period 0.5, 4 packets/s):`,
      '',
      '| per scrape | median (ms) | per pair (ms) |',
      '|---|---:|---|',
      costRow('main thread', costs.map((c) => c.mainMs)),
      costRow('other threads', costs.map((c) => c.otherMs)),
      costRow('main thread, --no-metrics-gzip', plainCosts.map((c) => c.mainMs)),
      costRow('other threads, --no-metrics-gzip', plainCosts.map((c) => c.otherMs)),
      costRow('main thread, new figures at every scrape', churnCosts.map((c) => c.mainMs)),
      costRow('other threads, new figures at every scrape', churnCosts.map((c) => c.otherMs)),
    ].join('\n');
  } finally {
    await Promise.all(responders.map((p) => stop(p)));
    await new Promise((r) => sink.close(r));
    rmSync(dir, { recursive: true, force: true });
  }
}
