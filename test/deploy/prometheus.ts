/**
 * A real Prometheus (Debian's `prometheus`) on loopback with a temporary TSDB, for evaluating the
 * dashboards' PromQL. Started with a bounded wait for readiness, stopped in `stop()`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { tempDir } from './util.js';

export interface PromResult {
  status: string;
  error?: string;
  data?: { resultType: string; result: any[] };
}

export interface RunningPrometheus {
  url: string;
  /** Instant query through the HTTP API. */
  query(expr: string): Promise<PromResult>;
  /** Series matching a selector (what Grafana's label_values() reads). */
  series(match: string): Promise<Array<Record<string, string>>>;
  stop(): Promise<void>;
}

/** A free TCP port on 127.0.0.1. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** Starts Prometheus scraping `targets` (host:port) as job `job` every `intervalSeconds`. */
export async function startPrometheus(job: string, targets: string[], intervalSeconds: number): Promise<RunningPrometheus> {
  const tmp = tempDir('twampy-prom-');
  const port = await freePort();
  const config = join(tmp.dir, 'prometheus.yml');
  writeFileSync(
    config,
    [
      'global:',
      `  scrape_interval: ${intervalSeconds}s`,
      `  scrape_timeout: ${intervalSeconds}s`,
      'scrape_configs:',
      `  - job_name: ${JSON.stringify(job)}`,
      '    static_configs:',
      `      - targets: ${JSON.stringify(targets)}`,
      '',
    ].join('\n'),
  );
  const child: ChildProcess = spawn(
    'prometheus',
    [`--config.file=${config}`, `--storage.tsdb.path=${join(tmp.dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn'],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => {
    if (stderr.length < 20_000) stderr += d.toString();
  });
  const url = `http://127.0.0.1:${port}`;
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    }
    tmp.remove();
  };
  try {
    const deadline = Date.now() + 15_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`prometheus exited (${child.exitCode}): ${stderr}`);
      try {
        if ((await fetch(`${url}/-/ready`)).ok) break;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) throw new Error(`prometheus not ready after 15 s: ${stderr}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  } catch (e) {
    await stop();
    throw e;
  }
  return {
    url,
    async query(expr) {
      const r = await fetch(`${url}/api/v1/query?${new URLSearchParams({ query: expr })}`);
      return (await r.json()) as PromResult;
    },
    async series(match) {
      const r = await fetch(`${url}/api/v1/series?${new URLSearchParams({ 'match[]': match })}`);
      const body = (await r.json()) as { status: string; error?: string; data: Array<Record<string, string>> };
      if (body.status !== 'success') throw new Error(`series ${match}: ${body.error}`);
      return body.data;
    },
    stop,
  };
}
