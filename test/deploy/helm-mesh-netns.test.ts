/**
 * The Helm chart's mesh, run for real: three "nodes" (network namespaces), each running the
 * responder and the sender exactly as the chart renders them with host networking (so both share
 * the node's address, as hostNetwork pods do), the downward-API variables expanded as the kubelet
 * would, and the headless Service's DNS name resolving to every node. Every sender must discover
 * and measure the two other nodes, skip its own, and the mesh dashboard must show one fully
 * connected graph of three nodes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CLI } from '../helpers/cli.js';
import { loadDashboards, substitute } from './dashboards.js';
import { canUseNetns, captureOutput, createLab, startLabPrometheus, stopProcess, type LabPrometheus } from './netns.js';
import { haveTool, helm, parseYamlDocuments, repoPath, tempDir } from './util.js';

const NODES = ['node-0', 'node-1', 'node-2'];

test('the chart mesh with host networking: every node measures every other node, never itself', { timeout: 150_000 }, async (t) => {
  if (!haveTool(t, 'ip', ['-V']) || !haveTool(t, 'prometheus') || !canUseNetns(t)) return;
  const tmp = tempDir('twampy-helm-mesh-');
  t.after(() => tmp.remove());
  const r = helm(tmp.dir, [
    'template', 'rel', repoPath('charts', 'twampy'), '--namespace', 'netmon',
    '--set', 'hostNetwork=true', '--set', 'sourceName=hostIP', '--set', 'twamp.interval=50', '--set', 'twamp.period=2',
  ]);
  assert.equal(r.status, 0, r.stderr);
  const containers = new Map<string, any>();
  let fqdn = '';
  for (const d of parseYamlDocuments(r.stdout)) {
    if (d.kind === 'DaemonSet') containers.set(d.metadata.labels['app.kubernetes.io/component'], d.spec.template.spec.containers[0]);
    if (d.kind === 'Service' && d.spec.clusterIP === 'None') fqdn = `${d.metadata.name}.netmon.svc.cluster.local`;
  }
  const discover: string = containers.get('sender').args[containers.get('sender').args.indexOf('--discover') + 1];
  assert.equal(discover.split(':')[0], fqdn, 'the sender discovers the headless Service');

  const lab = createLab([...NODES, 'prometheus'], '10.78.0', { [fqdn]: NODES });
  const running: Array<{ name: string; proc: ChildProcess; output: () => string }> = [];
  let prom: LabPrometheus | undefined;
  t.after(async () => {
    await Promise.all(running.map((x) => stopProcess(x.proc)));
    await prom?.stop();
    lab.destroy();
  });

  for (const node of NODES) {
    // What the kubelet gives a hostNetwork pod on this node.
    const vars: Record<string, string> = {
      NODE_NAME: node, HOST_IP: lab.address(node), POD_IP: lab.address(node), POD_NAME: `p-${node}`, POD_NAMESPACE: 'netmon',
    };
    const expand = (a: string): string => a.replace(/\$\((\w+)\)/g, (_, v: string) => vars[v] ?? assert.fail(`$(${v}) undefined`));
    for (const component of ['responder', 'sender']) {
      const c = containers.get(component);
      const env: Record<string, string> = { ...vars };
      for (const e of c.env) if (e.value !== undefined) env[e.name] = expand(e.value);
      const proc = lab.spawn(node, [process.execPath, CLI, ...c.args.map(expand)], env);
      running.push({ name: `${node}/${component}`, proc, output: captureOutput(proc) });
    }
  }
  const ports = ['responder', 'sender'].map((c) => containers.get(c).ports.find((p: any) => p.name === 'metrics').containerPort);
  const config = join(tmp.dir, 'prometheus.yml');
  const targets = NODES.flatMap((n) => ports.map((p) => `${lab.address(n)}:${p}`));
  writeFileSync(config, `global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n  - job_name: twampy\n    static_configs:\n      - targets: ${JSON.stringify(targets)}\n`);
  const p = (prom = startLabPrometheus(lab, 'prometheus', config));

  const mesh = loadDashboards().get('twampy-mesh.json');
  const graph = mesh.panels.find((x: any) => x.type === 'nodeGraph');
  const exprOf = (refId: string): string => substitute(graph.targets.find((x: any) => x.refId === refId).expr, { job: 'twampy' });
  const port = discover.split(':')[1];
  const expectedEdges = NODES.flatMap((s) => NODES.filter((d) => d !== s).map((d) => `${lab.address(s)} -> ${lab.address(d)}:${port}`)).sort();

  let edges: string[] = [];
  let nodes: Array<[string, number]> = [];
  const until = Date.now() + 60_000;
  for (;;) {
    const e = await p.query('twampy_edge{job="twampy"}');
    edges = (e.data?.result ?? []).map((x: any) => `${x.metric.source} -> ${x.metric.target}`).sort();
    const n = await p.query(exprOf('nodes'));
    nodes = (n.data?.result ?? []).map((x: any) => [x.metric.id, Number(x.value[1])] as [string, number]).sort();
    const stats = await p.query(exprOf('edges'));
    const measured = (stats.data?.result ?? []).filter((x: any) => Number(x.value[1]) > 0).length;
    if ((edges.length === expectedEdges.length && nodes.length === NODES.length && measured === expectedEdges.length) || Date.now() > until) break;
    for (const x of running) assert.equal(x.proc.exitCode, null, `${x.name} exited: ${x.output()}`);
    await new Promise((res) => setTimeout(res, 1_000));
  }
  assert.deepEqual(edges, expectedEdges, 'each sender measures the other nodes and skips its own');
  assert.deepEqual(nodes, NODES.map((n) => [lab.address(n), NODES.length - 1] as [string, number]).sort(), 'one node per host, each with every other as a peer');
});
