/**
 * The Grafana dashboards, without a running twampy: they validate against a JSON Schema
 * generated at test time from @grafana/schema's Dashboard type (so it follows the pinned
 * package), read only catalogued series, define every variable they use, parse as PromQL in a
 * real Prometheus, and have the panels the deployment issue asks for.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import AjvModule from 'ajv';
import { createGenerator } from 'ts-json-schema-generator';
import { ALL_METRICS, exposedName } from '../../src/telemetry/catalog.js';
import {
  BUILTINS, loadDashboards, metricNames, panelsOf, parseLabelValues, queriesOf, substitute, variableNames, variableRefs,
} from './dashboards.js';
import { startPrometheus } from './prometheus.js';
import { haveTool, repoPath } from './util.js';

const Ajv = AjvModule.default;
const dashboards = loadDashboards();
const all = [...dashboards.entries()];

/** Every name a catalogued series has in the Prometheus exposition (histograms' three series). */
function exposedSeriesNames(): Set<string> {
  const names = new Set<string>();
  for (const m of ALL_METRICS) {
    if (m.kind === 'histogram') for (const s of ['_bucket', '_sum', '_count']) names.add(m.name + s);
    else names.add(exposedName(m));
  }
  return names;
}

test('dashboards validate against the JSON Schema of @grafana/schema Dashboard', () => {
  const schema = createGenerator({
    path: repoPath('node_modules', '@grafana', 'schema', 'dist', 'types', 'raw', 'dashboard', 'x', 'dashboard_types.gen.d.ts'),
    type: 'Dashboard',
    skipTypeCheck: true,
  }).createSchema('Dashboard');
  assert.ok(schema.definitions?.['Panel'], 'the generated schema describes panels');
  const validate = new Ajv({ allErrors: true, strict: false }).compile(schema);
  assert.equal(all.length, 3);
  for (const [file, d] of all) {
    assert.ok(validate(d), `${file}: ${JSON.stringify(validate.errors, null, 1)}`);
  }
  // The schema is strict enough to notice a misspelt property.
  const broken = structuredClone(all[0]![1]);
  broken.panels[0].gridpos = broken.panels[0].gridPos;
  assert.equal(validate(broken), false);
});

test('uids are unique, panel ids are unique per dashboard, every panel uses the datasource variable', () => {
  const uids = all.map(([, d]) => d.uid);
  assert.equal(new Set(uids).size, uids.length);
  for (const [file, d] of all) {
    assert.ok(d.tags.includes('twampy'), `${file} is tagged twampy (the dashboards link by tag)`);
    const ids = (d.panels as any[]).flatMap((p) => [p.id, ...(p.panels ?? []).map((c: any) => c.id)]);
    assert.equal(new Set(ids).size, ids.length, `${file}: panel ids unique`);
    const ds = d.templating.list.find((v: any) => v.name === 'datasource');
    assert.equal(ds?.type, 'datasource');
    assert.equal(ds.query, 'prometheus');
    for (const p of panelsOf(d)) {
      assert.equal(p.datasource?.uid, '${datasource}', `${file} / ${p.title}`);
      assert.ok(p.targets.length > 0, `${file} / ${p.title} has queries`);
      for (const t of p.targets) assert.equal(t.datasource?.uid, '${datasource}', `${file} / ${p.title} / ${t.refId}`);
      const refIds = p.targets.map((t: any) => t.refId);
      assert.equal(new Set(refIds).size, refIds.length, `${file} / ${p.title}: refIds unique`);
    }
  }
});

test('queries read only catalogued series and only defined variables', () => {
  const known = exposedSeriesNames();
  for (const [file, d] of all) {
    const vars = new Set([...variableNames(d), ...BUILTINS]);
    const texts = [
      ...queriesOf(file, d).map((q) => q.expr),
      ...d.templating.list.filter((v: any) => v.type === 'query').map((v: any) => v.query as string),
    ];
    for (const text of texts) {
      for (const ref of variableRefs(text)) assert.ok(vars.has(ref), `${file}: $${ref} is defined (in ${text})`);
      const names = metricNames(text);
      assert.ok(names.length > 0, `${file}: ${text} reads a twampy series`);
      for (const n of names) assert.ok(known.has(n), `${file}: ${n} is in the metrics catalogue`);
    }
  }
});

test('the overview has the panels the deployment asks for', () => {
  const d = dashboards.get('twampy-overview.json');
  assert.ok(d);
  assert.deepEqual(variableNames(d), ['datasource', 'job', 'source', 'target']);
  const exprs = queriesOf('overview', d).map((q) => q.expr).join('\n');
  assert.match(exprs, /histogram_quantile\(0\.99, sum by \(le, source, target\) \(rate\(twampy_delay_seconds_bucket\{direction="roundtrip"/);
  assert.match(exprs, /twampy_latency_avg\{direction=~"outbound\|inbound"/);
  assert.match(exprs, /twampy_clock_synchronized/);
  assert.match(exprs, /twampy_jitter/);
  assert.match(exprs, /twampy_loss\{/);
  assert.match(exprs, /twampy_packets_sent_total/);
  assert.match(exprs, /twampy_result\{twampy_result="ok"/);
  const oneWay = panelsOf(d).find((p) => /one-way/i.test(p.title));
  assert.match(oneWay.description, /synchronised/);
});

test('the mesh node graph is built from twampy_edge, with latency and loss from their own series', () => {
  const d = dashboards.get('twampy-mesh.json');
  const graph = panelsOf(d).find((p) => p.type === 'nodeGraph');
  assert.ok(graph, 'a nodeGraph panel');
  const byRef = new Map<string, string>(graph.targets.map((t: any) => [t.refId, t.expr]));
  assert.deepEqual([...byRef.keys()].sort(), ['edge_loss', 'edges', 'nodes']);
  for (const t of graph.targets) {
    assert.equal(t.format, 'table');
    assert.equal(t.instant, true);
    assert.match(t.expr, /twampy_edge\{/);
  }
  assert.match(byRef.get('edges')!, /twampy_latency_avg\{direction="roundtrip"/);
  assert.match(byRef.get('edge_loss')!, /twampy_loss\{direction="roundtrip"/);
  // Node graph fields come from labels (id, title, source, target) and computed value fields.
  assert.match(byRef.get('nodes')!, /by \(id, title\)/);
  const aliases = graph.transformations.filter((x: any) => x.id === 'calculateField').map((x: any) => [x.filter.options, x.options.alias]);
  assert.deepEqual(aliases, [['nodes', 'mainstat'], ['edges', 'mainstat'], ['edge_loss', 'secondarystat']]);
});

test('the responder view shows reflected rate, drops by reason, sessions and processing time', () => {
  const d = dashboards.get('twampy-responder.json');
  const exprs = queriesOf('responder', d).map((q) => q.expr).join('\n');
  assert.match(exprs, /rate\(twampy_responder_packets_reflected_total/);
  assert.match(exprs, /sum by \(source, reason\) \(rate\(twampy_responder_packets_dropped_total/);
  assert.match(exprs, /twampy_responder_active_sessions/);
  assert.match(exprs, /twampy_responder_processing_seconds_bucket/);
});

test('every panel query and variable selector parses in a real Prometheus', async (t) => {
  if (!haveTool(t, 'prometheus')) return;
  // Nothing to scrape: an empty TSDB still parses and evaluates every expression.
  const prom = await startPrometheus('twampy', ['127.0.0.1:9'], 60);
  t.after(() => prom.stop());
  for (const [file, d] of all) {
    const values: Record<string, string> = { job: 'twampy', source: '.*', target: '.*', responder: '.*', __rate_interval: '1m', datasource: 'prometheus' };
    for (const q of queriesOf(file, d)) {
      const r = await prom.query(substitute(q.expr, values));
      assert.equal(r.status, 'success', `${file} / ${q.panel} / ${q.refId}: ${r.error}`);
    }
    for (const v of d.templating.list.filter((x: any) => x.type === 'query')) {
      const { selector } = parseLabelValues(v.query);
      await prom.series(substitute(selector, values));
    }
  }
  const r = await prom.query('sum by (source (twampy_loss)');
  assert.equal(r.status, 'error', 'a malformed expression is reported');
});
