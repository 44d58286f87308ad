/**
 * docs/metrics.md (the README's metrics table) must list exactly the catalogue, and its
 * cardinality figures must be what an exposition really contains.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { ALL_METRICS, exposedName, exposedType } from '../../src/telemetry/catalog.js';
import { dir, startTestTelemetry, stats } from './fixtures.js';

// dist/test/telemetry -> the project root.
const DOC = readFileSync(new URL('../../../docs/metrics.md', import.meta.url), 'utf8');

function seriesTable(): string[][] {
  const section = DOC.split('\n## Series\n')[1]!.split('\n### ')[0]!;
  return section
    .split('\n')
    .filter((l) => l.startsWith('| `'))
    .map((l) => l.slice(1, -1).split(' | ').map((c) => c.trim()));
}

test('docs/metrics.md lists every series of the catalogue with its type, unit, labels and meaning', () => {
  const rows = seriesTable();
  const expected = ALL_METRICS.map((m) => [
    `\`${exposedName(m)}\``,
    exposedType(m),
    `\`${m.unit}\``,
    m.labels.length ? m.labels.map((l) => `\`${l}\``).join(', ') : '—',
    m.help + (m.optIn ? ` (with \`${m.optIn}\`)` : ''),
  ]);
  assert.deepEqual(rows, expected);
});

test('the documented series count per target is what the exposition holds', async () => {
  const figures = /About (\d+) series per target \((\d+) with `--nodegraph`, (\d+) with one-way histograms\)/.exec(DOC);
  assert.ok(figures, 'cardinality sentence present');
  const [plain, nodegraph, oneWay] = figures.slice(1).map(Number) as [number, number, number];
  const count = async (opts: { nodegraph?: boolean; synced: boolean }) => {
    const t = await startTestTelemetry({ nodegraph: opts.nodegraph ?? false });
    try {
      const s = t.sender();
      s.onTargetAdded?.('x:1');
      // A stateful reflector: outbound and inbound loss exist.
      s.onStats?.(stats('x:1', { outbound: dir(1, 1, 1, 0, 0), inbound: dir(1, 1, 1, 0, 0), roundtrip: dir(1, 1, 1, 0, 0) }, { lostOutbound: 0, lostInbound: 0, clockSynced: opts.synced }));
      return (await t.exposition()).split('\n').filter((l) => !l.startsWith('#') && l.includes('target="x:1"')).length;
    } finally {
      await t.shutdown();
    }
  };
  assert.equal(await count({ synced: false }), plain);
  assert.equal(await count({ synced: false, nodegraph: true }), nodegraph);
  assert.equal(await count({ synced: true }), oneWay);
});
