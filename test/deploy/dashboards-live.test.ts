/**
 * Every panel's query returns data: two loopback responders and a continuous sender with
 * --metrics --nodegraph run from the build, a real Prometheus scrapes them, and every panel
 * expression and variable query of every dashboard (variables substituted as Grafana would) is
 * evaluated through the HTTP API, expecting a non-empty result.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { loadDashboards, parseLabelValues, queriesOf, substitute, type PanelQuery } from './dashboards.js';
import { freePort, startPrometheus } from './prometheus.js';
import { haveTool, repoPath } from './util.js';

const CLI = repoPath('dist', 'src', 'cli', 'main.js');
const JOB = 'twampy';

interface Child {
  proc: ChildProcess;
  output: () => string;
}

/** Starts `twampy ARGS` from the build, keeping a bounded copy of its output. */
function twampy(args: string[]): Child {
  const proc = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const keep = (d: Buffer): void => {
    if (out.length < 50_000) out += d.toString();
  };
  proc.stdout!.on('data', keep);
  proc.stderr!.on('data', keep);
  return { proc, output: () => out };
}

/** Waits (bounded) for a responder's "listening on ADDR:PORT" line and returns the port. */
async function listeningPort(c: Child, timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const m = /twampy responder listening on \S*:(\d+)/.exec(c.output());
    if (m) return Number(m[1]);
    if (c.proc.exitCode !== null) throw new Error(`responder exited ${c.proc.exitCode}: ${c.output()}`);
    if (Date.now() > deadline) throw new Error(`responder not listening after ${timeoutMs} ms: ${c.output()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Stops a child with SIGTERM, then SIGKILL after a bound. */
async function stopChild(c: Child): Promise<void> {
  if (c.proc.exitCode !== null || c.proc.signalCode !== null) return;
  const exited = new Promise((r) => c.proc.once('exit', r));
  c.proc.kill('SIGTERM');
  const timer = setTimeout(() => c.proc.kill('SIGKILL'), 5_000);
  await exited;
  clearTimeout(timer);
}

test('every panel query of every dashboard returns data from a live twampy', { timeout: 120_000 }, async (t) => {
  if (!haveTool(t, 'prometheus')) return;
  assert.ok(existsSync(CLI), `${CLI} is built (npm test runs tsc first)`);
  const children: Child[] = [];
  t.after(async () => {
    await Promise.all(children.map(stopChild));
  });

  const [metricsA, metricsB, metricsS] = [await freePort(), await freePort(), await freePort()];
  const responder = (name: string, metricsPort: number): Child =>
    twampy(['responder', '127.0.0.1:0', '--metrics', '--metrics-host', '127.0.0.1', '--metrics-port', String(metricsPort), '--source-name', name]);
  const a = responder('responder-a', metricsA);
  const b = responder('responder-b', metricsB);
  children.push(a, b);
  const [portA, portB] = await Promise.all([listeningPort(a, 15_000), listeningPort(b, 15_000)]);
  const sender = twampy([
    'sender', `127.0.0.1:${portA}`, `127.0.0.1:${portB}`, '--forever', '--period', '2', '--interval', '50',
    '--metrics', '--metrics-host', '127.0.0.1', '--metrics-port', String(metricsS), '--nodegraph', '--source-name', 'sender', '-q',
  ]);
  children.push(sender);

  const prom = await startPrometheus(JOB, [metricsA, metricsB, metricsS].map((p) => `127.0.0.1:${p}`), 1);
  t.after(() => prom.stop());

  const values = { job: JOB, source: '.*', target: '.*', responder: '.*', __rate_interval: '20s' };
  const dashboards = [...loadDashboards().entries()];
  const queries: PanelQuery[] = dashboards.flatMap(([file, d]) => queriesOf(file, d));
  const variables = dashboards.flatMap(([file, d]) =>
    d.templating.list.filter((v: any) => v.type === 'query').map((v: any) => ({ file, name: v.name as string, query: v.query as string })),
  );
  assert.ok(queries.length >= 20, `${queries.length} panel queries`);

  // The first scrape lands about 5 s after Prometheus starts; rates need two samples in the window.
  let empty: string[] = [];
  const deadline = Date.now() + 75_000;
  for (;;) {
    empty = [];
    for (const q of queries) {
      const r = await prom.query(substitute(q.expr, values));
      assert.equal(r.status, 'success', `${q.dashboard} / ${q.panel} / ${q.refId}: ${r.error}`);
      if (r.data!.result.length === 0) empty.push(`${q.dashboard} / ${q.panel} / ${q.refId}: ${q.expr}`);
    }
    for (const v of variables) {
      const { selector, label } = parseLabelValues(v.query);
      const series = await prom.series(substitute(selector, values));
      if (!series.some((s) => s[label])) empty.push(`${v.file} / variable ${v.name}: ${v.query}`);
    }
    if (empty.length === 0 || Date.now() > deadline) break;
    for (const c of children) assert.equal(c.proc.exitCode, null, `twampy exited early: ${c.output()}`);
    await new Promise((r) => setTimeout(r, 2_000));
  }
  assert.deepEqual(empty, [], `panels without data; sender output:\n${sender.output().slice(-2000)}`);

  // The node graph sees the mesh. Nodes are hosts (targets lose their port), so the two loopback
  // responders are one node (one peer of the sender) with two edges to it, each with both stats.
  const mesh = loadDashboards().get('twampy-mesh.json');
  const graph = mesh.panels.find((p: any) => p.type === 'nodeGraph');
  const result = async (refId: string): Promise<any[]> =>
    (await prom.query(substitute(graph.targets.find((x: any) => x.refId === refId).expr, values))).data!.result;
  const nodes = await result('nodes');
  assert.deepEqual(nodes.map((n) => [n.metric.id, n.metric.title, Number(n.value[1])]).sort(), [['127.0.0.1', '127.0.0.1', 1], ['sender', 'sender', 1]]);
  const edges = await result('edges');
  const losses = await result('edge_loss');
  assert.equal(edges.length, 2);
  assert.deepEqual(edges.map((e) => e.metric.id).sort(), losses.map((e) => e.metric.id).sort());
  for (const e of [...edges, ...losses]) {
    assert.equal(e.metric.source, 'sender');
    assert.equal(e.metric.target, '127.0.0.1');
  }
  for (const e of edges) assert.ok(Number(e.value[1]) > 0, 'round-trip latency on the edge');
  for (const e of losses) assert.equal(Number(e.value[1]), 0, 'no loss on loopback');
});
