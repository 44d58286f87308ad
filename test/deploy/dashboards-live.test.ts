/**
 * Every panel's query returns data: two loopback responders and a continuous sender with
 * --metrics --nodegraph run from the build, a real Prometheus scrapes them, and every panel
 * expression and variable query of every dashboard (variables substituted as Grafana would) is
 * evaluated through the HTTP API, expecting a non-empty result.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { CLI, startCli } from '../helpers/cli.js';
import { loadDashboards, parseLabelValues, queriesOf, substitute, type PanelQuery } from './dashboards.js';
import { freePort, startPrometheus } from './prometheus.js';
import { haveTool } from './util.js';

const JOB = 'twampy';

test('every panel query of every dashboard returns data from a live twampy', { timeout: 120_000 }, async (t) => {
  if (!haveTool(t, 'prometheus')) return;
  assert.ok(existsSync(CLI), `${CLI} is built (npm test runs tsc first)`);
  const children: Array<Awaited<ReturnType<typeof startCli>>> = [];
  t.after(async () => {
    await Promise.all(children.map((c) => c.stop()));
  });

  const [metricsA, metricsB, metricsS] = [await freePort(), await freePort(), await freePort()];
  const responder = (name: string, metricsPort: number): ReturnType<typeof startCli> =>
    startCli(
      ['responder', '127.0.0.1:0', '--metrics', '--metrics-host', '127.0.0.1', '--metrics-port', String(metricsPort), '--source-name', name],
      /twampy responder listening on \S*:(\d+)/,
    );
  // One at a time, so that every started child is stopped even when a later one fails to start.
  const a = await responder('responder-a', metricsA);
  children.push(a);
  const b = await responder('responder-b', metricsB);
  children.push(b);
  const sender = await startCli(
    [
      'sender', `127.0.0.1:${a.match[1]}`, `127.0.0.1:${b.match[1]}`, '--forever', '--period', '2', '--interval', '50',
      '--metrics', '--metrics-host', '127.0.0.1', '--metrics-port', String(metricsS), '--nodegraph', '--source-name', 'sender', '-q',
    ],
    /metrics on http:/,
  );
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
