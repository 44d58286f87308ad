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
import { parse } from 'yaml';
import { CLI } from '../helpers/cli.js';
import { loadDashboards, parseLabelValues, queriesOf, substitute } from './dashboards.js';
import { canUseNetns, captureOutput, createLab, startLabPrometheus, stopProcess, type LabPrometheus } from './netns.js';
import { haveTool, readRepo, repoPath } from './util.js';

test('the compose services run as composed, pass their health checks and fill every dashboard', { timeout: 150_000 }, async (t) => {
  if (!haveTool(t, 'ip', ['-V']) || !haveTool(t, 'prometheus') || !canUseNetns(t)) return;
  const compose = parse(readRepo('docker-compose.yml'), { merge: true }) as any;
  const services: Record<string, any> = compose.services;
  const twampy = Object.keys(services).filter((n) => services[n].image === 'twampy:local');
  const lab = createLab([...twampy, 'otel-collector', 'prometheus'], '10.77.0');
  const running = new Map<string, { proc: ChildProcess; output: () => string }>();
  let prom: LabPrometheus | undefined;
  t.after(async () => {
    await Promise.all([...running.values()].map((r) => stopProcess(r.proc)));
    await prom?.stop();
    lab.destroy();
  });

  for (const name of twampy) {
    const s = services[name];
    const proc = lab.spawn(name, [process.execPath, CLI, ...s.command], s.environment ?? {});
    running.set(name, { proc, output: captureOutput(proc) });
  }
  const p = (prom = startLabPrometheus(lab, 'prometheus', repoPath('prometheus', 'prometheus.yml')));
  const alive = (): void => {
    for (const [name, { proc, output }] of running) assert.equal(proc.exitCode, null, `${name} exited: ${output()}`);
    assert.equal(p.proc.exitCode, null, `prometheus exited: ${p.output()}`);
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
    const up = await p.query('up{job="twampy"} == 1');
    if (up.status !== 'success' || up.data.result.length !== twampy.length) missing.push(`up: ${JSON.stringify(up.data?.result ?? up)}`);
    for (const [file, d] of dashboards) {
      for (const q of queriesOf(file, d)) {
        const r = await p.query(substitute(q.expr, values));
        assert.equal(r.status, 'success', `${file} / ${q.panel}: ${r.error}`);
        if (r.data.result.length === 0) missing.push(`${file} / ${q.panel} / ${q.refId}`);
      }
      for (const v of d.templating.list.filter((x: any) => x.type === 'query')) {
        const { selector, label } = parseLabelValues(v.query);
        const r = await p.series(substitute(selector, values));
        if (!r.data?.some((s: Record<string, string>) => s[label])) missing.push(`${file} / variable ${v.name}`);
      }
    }
    if (missing.length === 0 || Date.now() > until) break;
    alive();
    await new Promise((r) => setTimeout(r, 2_000));
  }
  assert.deepEqual(missing, [], `sender output:\n${running.get('sender')?.output() ?? ''}`);

  // The sender measured both responders under their compose names.
  const edges = await p.query('twampy_edge{job="twampy"}');
  assert.deepEqual(edges.data.result.map((r: any) => r.metric.target).sort(), ['responder-a:20001', 'responder-b:20001']);
  alive();
});
