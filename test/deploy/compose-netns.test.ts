/**
 * The compose stack without Docker: every twampy service of docker-compose.yml runs with exactly
 * its compose command and environment in its own network namespace (same ports, names resolved
 * as on the compose network), and the real Prometheus runs with the repository's
 * prometheus/prometheus.yml. The compose health checks pass inside each service's namespace and
 * every dashboard panel has data on the pull path. The Collector is not running (no binary here),
 * so the sender's OTLP push fails and must not disturb anything else.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { parse } from 'yaml';
import { CLI } from '../helpers/cli.js';
import { loadDashboards, parseLabelValues, queriesOf, substitute } from './dashboards.js';
import { createLab } from './netns.js';
import { haveTool, readRepo, repoPath, tempDir } from './util.js';

/** Sends SIGTERM, then SIGKILL after a bound, and waits for the exit. */
async function stop(p: ChildProcess): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) return;
  const exited = new Promise((r) => p.once('exit', r));
  p.kill('SIGTERM');
  const timer = setTimeout(() => p.kill('SIGKILL'), 5_000);
  await exited;
  clearTimeout(timer);
}

/** Keeps a bounded copy of a child's output. */
function capture(p: ChildProcess): () => string {
  let out = '';
  const keep = (d: Buffer): void => {
    if (out.length < 20_000) out += d.toString();
  };
  p.stdout?.on('data', keep);
  p.stderr?.on('data', keep);
  return () => out;
}

test('the compose services run as composed, pass their health checks and fill every dashboard', { timeout: 150_000 }, async (t) => {
  if (!haveTool(t, 'ip', ['-V']) || !haveTool(t, 'prometheus')) return;
  if (process.getuid?.() !== 0) {
    if (process.env.CI === 'true') assert.fail('network namespaces need root');
    t.skip('network namespaces need root');
    return;
  }
  const compose = parse(readRepo('docker-compose.yml'), { merge: true }) as any;
  const services: Record<string, any> = compose.services;
  const twampy = Object.keys(services).filter((n) => services[n].image === 'twampy:local');
  const lab = createLab([...twampy, 'otel-collector', 'prometheus'], '10.77.0');
  const children: ChildProcess[] = [];
  const running = new Map<string, { proc: ChildProcess; output: () => string }>();
  t.after(async () => {
    for (const c of children) c.stdin?.end();
    await Promise.all(children.map(stop));
    lab.destroy();
  });

  for (const name of twampy) {
    const s = services[name];
    const p = lab.spawn(name, [process.execPath, CLI, ...s.command], s.environment ?? {});
    children.push(p);
    running.set(name, { proc: p, output: capture(p) });
  }
  const tsdb = tempDir('twampy-compose-prom-');
  t.after(() => tsdb.remove());
  const prom = lab.spawn('prometheus', [
    'prometheus', `--config.file=${repoPath('prometheus', 'prometheus.yml')}`, `--storage.tsdb.path=${tsdb.dir}`,
    '--web.listen-address=127.0.0.1:9090', '--log.level=warn',
  ]);
  children.push(prom);
  running.set('prometheus', { proc: prom, output: capture(prom) });

  // Prometheus listens inside its namespace; a helper there fetches for us over stdin/stdout.
  const helper = lab.spawn('prometheus', [process.execPath, repoPath('dist', 'test', 'deploy', 'ns-fetch.js')]);
  children.push(helper);
  const pending = new Map<number, (a: { status: number; body: string }) => void>();
  createInterface({ input: helper.stdout! }).on('line', (line) => {
    const a = JSON.parse(line) as { id: number; status: number; body: string };
    pending.get(a.id)?.(a);
    pending.delete(a.id);
  });
  let nextId = 0;
  const get = (path: string): Promise<{ status: number; body: string }> =>
    new Promise((resolve) => {
      const id = nextId++;
      pending.set(id, resolve);
      helper.stdin!.write(`${JSON.stringify({ id, url: `http://127.0.0.1:9090${path}` })}\n`);
    });
  const query = async (expr: string): Promise<any> => JSON.parse((await get(`/api/v1/query?${new URLSearchParams({ query: expr })}`)).body);

  const alive = (): void => {
    for (const [name, { proc, output }] of running) assert.equal(proc.exitCode, null, `${name} exited: ${output()}`);
  };

  // The compose health checks, run as Docker would: inside the service's network namespace.
  const deadline = Date.now() + 30_000;
  for (const name of twampy) {
    const check: string[] = services[name].healthcheck.test;
    assert.equal(check[0], 'CMD');
    for (;;) {
      const r = lab.exec(name, check.slice(1));
      if (r.status === 0) break;
      alive();
      assert.ok(Date.now() < deadline, `${name} health check still failing: ${r.output}\n${running.get(name)!.output()}`);
      await new Promise((r) => setTimeout(r, 500));
    }
  }

  // Prometheus scrapes the three by their compose names; every panel gets data on the pull path.
  const values = { job: 'twampy', source: '.*', target: '.*', responder: '.*', __rate_interval: '30s' };
  const dashboards = [...loadDashboards().entries()];
  let missing: string[] = [];
  const until = Date.now() + 75_000;
  for (;;) {
    missing = [];
    const up = await query('up{job="twampy"} == 1');
    if (up.status !== 'success' || up.data.result.length !== twampy.length) missing.push(`up: ${JSON.stringify(up.data?.result ?? up)}`);
    for (const [file, d] of dashboards) {
      for (const q of queriesOf(file, d)) {
        const r = await query(substitute(q.expr, values));
        assert.equal(r.status, 'success', `${file} / ${q.panel}: ${r.error}`);
        if (r.data.result.length === 0) missing.push(`${file} / ${q.panel} / ${q.refId}`);
      }
      for (const v of d.templating.list.filter((x: any) => x.type === 'query')) {
        const { selector, label } = parseLabelValues(v.query);
        const r = JSON.parse((await get(`/api/v1/series?${new URLSearchParams({ 'match[]': substitute(selector, values) })}`)).body);
        if (!r.data?.some((s: Record<string, string>) => s[label])) missing.push(`${file} / variable ${v.name}`);
      }
    }
    if (missing.length === 0 || Date.now() > until) break;
    alive();
    await new Promise((r) => setTimeout(r, 2_000));
  }
  assert.deepEqual(missing, [], `sender output:\n${running.get('sender')?.output() ?? ''}`);

  // The sender measured both responders under their compose names.
  const targets = await query('twampy_edge{job="twampy"}');
  assert.deepEqual(targets.data.result.map((r: any) => r.metric.target).sort(), ['responder-a:20001', 'responder-b:20001']);
  alive();
});
