import { test } from 'node:test';
import assert from 'node:assert/strict';
import { seriesText, writeFamilies, type TextSeries } from '../../src/telemetry/prometheus-text.js';

test('the exposition writer grows its buffer across any value, including the longest number texts', () => {
  const values = [0, 7, 10, 9_007_199_254_740_991, -1, 0.5, -0.0000012345678901234567, -1.2345678901234567e-308, 1.7976931348623157e308, Infinity, -Infinity, 123456.789];
  // The writer starts at 4 KiB and doubles: shifting every line by one byte at a time (the label
  // padding) puts each kind of value across a buffer boundary at least once.
  for (let pad = 0; pad < 64; pad++) {
    const series: TextSeries[] = [];
    let expected = '# HELP g h\n# TYPE g gauge\n';
    for (let n = 0; n < 40; n++) {
      for (let i = 0; i < values.length; i++) {
        const labels = `i="${i}",p="${'x'.repeat(pad)}",n="${n}"`;
        const v = values[i]!;
        series.push({ text: seriesText('g', labels), value: v });
        expected += `g{${labels}} ${v === Infinity ? '+Inf' : v === -Infinity ? '-Inf' : String(v)}\n`;
      }
    }
    const out = writeFamilies('', [{ exposedName: 'g', help: 'h', unit: '', type: 'gauge', series }]).toString();
    assert.ok(out.length > 8192, 'the output crosses at least two buffer growths');
    assert.equal(out, expected, `padding ${pad}`);
  }
});
