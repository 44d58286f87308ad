/**
 * The scrape path and the OTLP encoder keep their optimised code across full collections.
 *
 * V8 throws away optimised code that checks for a hidden class no live object has any more
 * ("weak objects" in --trace-deopt). A writer or encoder made per scrape or push and then dropped
 * left its hidden class to die in a forced or memory-reducing full collection, so the scrape or
 * push after one ran unoptimised (see writerOf in prometheus-text.ts and keepProtobufEncoderShapes in otlp.ts). A
 * child process writes or pushes first back to back, then after forced full collections, with V8's
 * optimisation trace on; the functions must have been optimised (else the check says nothing) and
 * never be thrown away for weak objects.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { keepProtobufEncoderShapes } from '../../src/telemetry/otlp.js';
import { runNode } from '../helpers/cli.js';

/** The child's V8 trace and output. */
async function runChild(mode: 'scrape' | 'push'): Promise<string> {
  const child = fileURLToPath(new URL('./optimised-code-child.js', import.meta.url));
  const { code, stdout, stderr } = await runNode(['--expose-gc', '--trace-opt', '--trace-deopt', child, mode], {}, 50_000);
  assert.equal(code, 0, `child failed: ${stderr}`);
  assert.match(stdout, new RegExp(`^done ${mode}$`, 'm'));
  return stdout;
}

/** Names of the functions V8 optimised, and of those it threw away for weak objects. */
function traced(out: string): { optimised: Set<string>; weak: string[] } {
  const optimised = new Set<string>();
  const weak: string[] = [];
  for (const line of out.split('\n')) {
    const done = /\[completed optimizing .*<JSFunction ([\w$]+)/.exec(line);
    if (done) optimised.add(done[1]!);
    const lost = /for deoptimization, reason: weak objects/.test(line) && /<SharedFunctionInfo ([\w$]+)>/.exec(line);
    if (lost) weak.push(lost[1]!);
  }
  return { optimised, weak };
}

test('scrape path: full collections do not throw away the writer\'s optimised code', { timeout: 60_000 }, async () => {
  const { optimised, weak } = traced(await runChild('scrape'));
  const writerFns = ['line', 'reserve', 'writeScalarCells', 'writeHistogramCells', 'histogramLines'];
  assert.ok(optimised.has('line'), `the writer's line() was optimised (optimised: ${[...optimised].join(', ')})`);
  assert.deepEqual(weak.filter((f) => writerFns.includes(f)), [], 'no writer function deoptimised for weak objects');
});

test('OTLP protobuf push: full collections do not throw away the encoder\'s optimised code', { timeout: 60_000 }, async () => {
  const { optimised, weak } = traced(await runChild('push'));
  const encoderFns = ['serializeNumberDataPoint', 'serializeHistogramDataPoint', 'writeAttributes', 'writeKeyValue', 'writeString'];
  assert.ok(optimised.has('serializeNumberDataPoint'), `the encoder was optimised (optimised: ${[...optimised].join(', ')})`);
  assert.deepEqual(weak.filter((f) => encoderFns.includes(f)), [], 'no encoder function deoptimised for weak objects');
});

test('the kept encoder objects are instances of the classes the protobuf exporter loaded', async () => {
  // Load the exporter as the telemetry layer does, then find its transformer's files in the cache.
  await import('@opentelemetry/exporter-metrics-otlp-proto');
  const kept = keepProtobufEncoderShapes();
  assert.ok(kept, 'the transformer\'s ProtobufSizeEstimator and ProtobufWriter were found');
  assert.deepEqual(
    kept.map((o) => o.constructor.name),
    ['ProtobufSizeEstimator', 'ProtobufWriter'],
  );
  const { createRequire } = await import('node:module');
  const require = createRequire(import.meta.url);
  const loaded = Object.keys(require.cache).filter((p) => /otlp-transformer\/build\/src\/common\/protobuf\/protobuf-(writer|size-estimator)\.js$/.test(p));
  assert.equal(loaded.length, 2, `the exporter loaded exactly one copy of each (${loaded.join(', ')})`);
  const classes = loaded.map((p) => Object.values(require.cache[p]!.exports as Record<string, unknown>)).flat();
  for (const o of kept) assert.ok(classes.includes(o.constructor), `${o.constructor.name} is the loaded class`);
});
