import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FamilyTracker, MIN_SEGMENT_BYTES, seriesPrefixes, TextArena, writeFamilies, type TextFamily, type TextSeries } from '../../src/telemetry/prometheus-text.js';

test('the exposition writer grows its buffer across any value, including the longest number texts', () => {
  const values = [0, 7, 10, 9_007_199_254_740_991, -1, 0.5, -0.0000012345678901234567, -1.2345678901234567e-308, 1.7976931348623157e308, Infinity, -Infinity, 123456.789];
  // With a size hint of 1 byte the writer starts at about 1 KiB of scratch and doubles: shifting
  // every line by one byte at a time (the label padding) puts each kind of value across a buffer
  // boundary at least once.
  for (let pad = 0; pad < 64; pad++) {
    const arena = new TextArena(256);
    const series: TextSeries[] = [];
    let expected = '# HELP g h\n# TYPE g gauge\n';
    for (let n = 0; n < 40; n++) {
      for (let i = 0; i < values.length; i++) {
        const labels = `i="${i}",p="${'x'.repeat(pad)}",n="${n}"`;
        const v = values[i]!;
        series.push({ ...arena.add(seriesPrefixes('g', labels)), value: v, off: -1 });
        expected += `g{${labels}} ${v === Infinity ? '+Inf' : v === -Infinity ? '-Inf' : String(v)}\n`;
      }
    }
    const out = writeFamilies(arena, '', [{ exposedName: 'g', help: 'h', unit: '', type: 'gauge', series, cells: null }], 1).body.toString();
    assert.ok(out.length > 8192, 'the output crosses at least two buffer growths');
    assert.equal(out, expected, `padding ${pad}`);
  }
});

test('a lent exposition is never overwritten: not by the next exposition, nor by prefixes added meanwhile', () => {
  const arena = new TextArena(64);
  const series: TextSeries[] = [];
  const family = (v: number) => [{ exposedName: 'g', help: 'h', unit: '', type: 'gauge' as const, series: series.map((s) => ({ ...s, value: v })), cells: null }];
  for (let i = 0; i < 50; i++) series.push({ ...arena.add(seriesPrefixes('g', `i="${i}"`)), value: null, off: -1 });
  const first = writeFamilies(arena, '', family(1));
  const firstText = first.body.toString();
  // Not released: the second exposition must go elsewhere; new series' prefixes must not land in it.
  for (let i = 50; i < 400; i++) arena.add(seriesPrefixes('g', `i="${i}"`));
  const second = writeFamilies(arena, '', family(2));
  assert.equal(first.body.toString(), firstText);
  assert.match(second.body.toString(), /^g\{i="0"\} 2$/m);
  first.release();
  second.release();
  // Released: the scratch space is reused, and the output is still right.
  const third = writeFamilies(arena, '', family(3));
  assert.match(third.body.toString(), /^g\{i="49"\} 3$/m);
  assert.equal(third.body.buffer, arena.buf.buffer, 'written in the arena, not copied out');
});

test('histogram lines from cells and from SDK points are the same text; prefixes survive arena compaction', () => {
  const arena = new TextArena(64);
  const boundaries = [0.001, 0.01];
  const dead = arena.add(seriesPrefixes('h', 'target="gone"', boundaries));
  const a = arena.add(seriesPrefixes('h', 'target="a"', boundaries));
  const b = arena.add(seriesPrefixes('h', 'target="b"', boundaries));
  // Cells: count, sum, min, max, then per-bucket (not cumulative) counts.
  const cells = new Float64Array([3, 0.5, 0.0005, 0.4, 1, 1, 1]);
  const fromCells = () => writeFamilies(arena, '', [{ exposedName: 'h', help: 'x', unit: 's', type: 'histogram', series: [{ ...a, value: null, off: 0 }], cells }]).body.toString();
  const sdk = { buckets: { boundaries, counts: [1, 1, 1] }, count: 3, sum: 0.5 };
  const fromSdk = writeFamilies(arena, '', [{ exposedName: 'h', help: 'x', unit: 's', type: 'histogram', series: [{ ...a, value: sdk, off: -1 }], cells: null }]).body.toString();
  const expected =
    '# HELP h x\n# UNIT h s\n# TYPE h histogram\nh_count{target="a"} 3\nh_sum{target="a"} 0.5\n' +
    'h_bucket{target="a",le="0.001"} 1\nh_bucket{target="a",le="0.01"} 2\nh_bucket{target="a",le="+Inf"} 3\n';
  assert.equal(fromCells(), expected);
  assert.equal(fromSdk, expected);
  arena.release(dead);
  const before = a.textStart;
  arena.compact([a, b]);
  assert.ok(a.textStart < before, 'the live prefixes moved down over the released ones');
  assert.equal(fromCells(), expected);
  const bText = writeFamilies(arena, '', [{ exposedName: 'h', help: 'x', unit: 's', type: 'histogram', series: [{ ...b, value: null, off: 0 }], cells }]).body.toString();
  assert.equal(bText, expected.replaceAll('target="a"', 'target="b"'));
});

test('every number is written as its JavaScript text: int32s, fixed-point millisecond figures and the rest (property)', async () => {
  const fc = (await import('fast-check')).default;
  const value = fc.oneof(
    fc.double({ noNaN: true }),
    fc.integer({ min: -2_000_000, max: 2_000_000 }).map((n) => n / 1e6),
    fc.integer({ min: 1, max: 999_999_999_999_999 }).map((m) => m / 1e6),
    fc.integer({ min: 1, max: 999_999_999_999_999 }).map((m) => -m / 1e6),
    fc.integer({ min: 0, max: 2 ** 53 }).map((m) => m / 1e9),
    fc.constantFrom(1e-6, 9.99999e-7, 1e9, 999_999_999.999999, 1e9 - 1e-6, 0.1, 0.2 + 0.1, 1e21, 5e-324),
  );
  fc.assert(
    fc.property(fc.array(value, { minLength: 1, maxLength: 50 }), (values) => {
      const arena = new TextArena(256);
      const cells = new Float64Array(values);
      const series = values.map((_, i) => ({ ...arena.add(seriesPrefixes('g', `i="${i}"`)), value: null, off: i }));
      const out = writeFamilies(arena, '', [{ exposedName: 'g', help: 'h', unit: '', type: 'gauge', series, cells }]).body.toString();
      const expected = '# HELP g h\n# TYPE g gauge\n' + values.map((v, i) => `g{i="${i}"} ${v === Infinity ? '+Inf' : v === -Infinity ? '-Inf' : String(v)}\n`).join('');
      assert.equal(out, expected);
    }),
    { numRuns: 3000 },
  );
});

test('segments: cover the body in order; a family keeps its number while its text is unchanged, and only then', () => {
  const arena = new TextArena(64);
  const tracker = new FamilyTracker();
  const cells = new Float64Array(200);
  // Lines of about 1.7 KB: 40 series make a family over MIN_SEGMENT_BYTES, 3 series one under it.
  const pad = 'x'.repeat(Math.ceil(MIN_SEGMENT_BYTES / 38));
  const series = (prefix: string, n: number, from: number) => Array.from({ length: n }, (_, i) => ({ ...arena.add(seriesPrefixes(prefix, `i="${i}",pad="${pad}"`)), value: null, off: from + i }));
  const big = series('big', 40, 0);
  const other = series('other', 40, 40);
  const small = series('small', 3, 80);
  let bigVersion = 0;
  const families = (): TextFamily[] => [
    { exposedName: 'sdk', help: 'h', unit: '', type: 'gauge', series: [{ ...arena.add(seriesPrefixes('sdk', '')), value: Math.random(), off: -1 }], cells: null },
    { exposedName: 'big', help: 'h', unit: '', type: 'counter', series: big, cells, version: bigVersion },
    { exposedName: 'small', help: 'h', unit: '', type: 'gauge', series: small, cells, version: 0 },
    { exposedName: 'other', help: 'h', unit: '', type: 'gauge', series: other, cells, version: 0 },
  ];
  const write = () => {
    const w = writeFamilies(arena, '# target_info\n', families(), 0, tracker);
    w.release();
    const at = (key: string) => w.segments.find((s) => s.key === key)!;
    let end = 0;
    for (const s of w.segments) {
      assert.equal(s.start, end, 'segments follow each other');
      assert.ok(s.end > s.start);
      end = s.end;
    }
    assert.equal(end, w.body.length, 'and cover the body');
    assert.deepEqual(w.segments.map((s) => s.key), [null, 'big', null, 'other'], 'a family of short text goes with the text around it');
    assert.match(w.body.subarray(at('big').start, at('big').end).toString(), /^# HELP big h\n# TYPE big counter\n(big\{i="\d+",pad="x+"\} \d+\n){40}$/);
    return { big: at('big').written, other: at('other').written, sdk: w.segments[0]!.written };
  };
  const w1 = write();
  const w2 = write();
  assert.equal(w2.big, w1.big, 'nothing changed');
  assert.equal(w2.other, w1.other);
  assert.ok(w2.sdk > w1.sdk, 'text around the families is always new');
  cells[41] = 5;
  const w3 = write();
  assert.ok(w3.other > w2.other, 'a number of the family changed');
  assert.equal(w3.big, w1.big);
  cells[41] = 0;
  assert.ok(write().other > w3.other, 'and changed back');
  bigVersion++;
  const w5 = write();
  assert.ok(w5.big > w1.big, 'a series added or removed (the version) makes new text even with the same numbers');
  assert.equal(write().big, w5.big);
});
