/**
 * The OpenTelemetry Collector configuration of the demo stack. No Collector binary installs here,
 * so this is a structural check, plus the naming rule that keeps the push path's series names
 * equal to the pull path's for every series in the metrics catalogue.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ALL_METRICS, exposedName } from '../../src/telemetry/catalog.js';
import { readYaml } from './util.js';

const col = readYaml('otel-collector', 'config.yaml');
const kinds = ['receivers', 'processors', 'exporters'] as const;

test('every pipeline names defined components, and every defined component is used', () => {
  const used = new Set<string>();
  const pipelines = Object.entries(col.service.pipelines as Record<string, Record<string, string[]>>);
  assert.ok(pipelines.length > 0);
  for (const [name, p] of pipelines) {
    for (const kind of kinds) {
      for (const id of p[kind] ?? []) {
        assert.ok(col[kind]?.[id] !== undefined, `pipeline ${name} uses undefined ${kind} ${id}`);
        used.add(`${kind}/${id}`);
      }
    }
    assert.ok((p.receivers ?? []).length > 0 && (p.exporters ?? []).length > 0, `${name} has receivers and exporters`);
  }
  for (const kind of kinds) {
    for (const id of Object.keys(col[kind] ?? {})) assert.ok(used.has(`${kind}/${id}`), `${kind} ${id} is used`);
  }
  for (const ext of col.service.extensions ?? []) assert.ok(col.extensions?.[ext] !== undefined, `extension ${ext}`);
});

test('the metrics pipeline receives OTLP on 4317/4318, limits memory first, batches, exports Prometheus', () => {
  const p = col.service.pipelines.metrics;
  assert.deepEqual(p.receivers, ['otlp']);
  assert.match(col.receivers.otlp.protocols.grpc.endpoint, /:4317$/);
  assert.match(col.receivers.otlp.protocols.http.endpoint, /:4318$/);
  assert.equal(p.processors[0], 'memory_limiter', 'memory_limiter runs first');
  assert.ok(col.processors.memory_limiter.limit_mib > 0);
  assert.ok(p.processors.includes('batch'));
  assert.ok(p.processors.indexOf('batch') > p.processors.indexOf('memory_limiter'));
  assert.ok(p.exporters.includes('prometheus'));
  assert.match(col.exporters.prometheus.endpoint, /:8889$/);
});

test('push-path names equal pull-path names: units are cleared for every catalogued series', () => {
  // The Collector's prometheus exporter derives suffixes from the unit (ms -> _milliseconds,
  // % -> _percent, 1 -> _ratio) and appends _total to monotonic sums. Clearing the unit leaves
  // only _total, which is what twampy's own exposition does (exposedName). So every catalogued
  // series must be matched by the statement that clears units, and suffixes must stay on.
  const exp = col.exporters.prometheus;
  assert.notEqual(exp.add_metric_suffixes, false, 'counters need the _total suffix');
  assert.equal(exp.translation_strategy, undefined);
  const transformId = col.service.pipelines.metrics.processors.find((id: string) => id.startsWith('transform'));
  assert.ok(transformId, 'a transform processor clears units');
  const statements: string[] = col.processors[transformId].metric_statements.flatMap((s: any) => s.statements);
  const clear = statements.map((s) => /^set\(unit, ""\) where IsMatch\(name, "([^"]+)"\)$/.exec(s)).find(Boolean);
  assert.ok(clear, `a statement set(unit, "") where IsMatch(name, ...) exists in ${JSON.stringify(statements)}`);
  const re = new RegExp(clear[1]!);
  const missed = ALL_METRICS.filter((m) => !re.test(m.name)).map((m) => m.name);
  assert.deepEqual(missed, [], 'series whose unit would add a suffix on the push path');
  for (const m of ALL_METRICS) {
    const counter = m.kind === 'counter' || m.kind === 'observable_counter';
    assert.equal(exposedName(m), counter ? `${m.name}_total` : m.name, `${m.name}: pull adds only _total`);
  }
});
