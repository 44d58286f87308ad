import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as nodeModule from 'node:module';

// A child process whose module loader refuses the OTLP exporter packages: telemetry without a
// push must start anyway (the exporters are loaded only when a push is configured), and with a
// push it must fail on exactly that refusal, which shows the refusal works.
const TELEMETRY_URL = new URL('../../src/telemetry/telemetry.js', import.meta.url).href;
const REFUSE_HOOK = `export async function resolve(specifier, context, next) {
  const r = await next(specifier, context);
  if (r.url.includes('/exporter-metrics-otlp')) throw new Error('OTLP exporter loaded: ' + r.url);
  return r;
}`;
const REGISTER = `import { register } from 'node:module';
register(${JSON.stringify(`data:text/javascript,${encodeURIComponent(REFUSE_HOOK)}`)});`;
const CHILD = `const { Telemetry } = await import(${JSON.stringify(TELEMETRY_URL)});
const otlp = process.env.LAZY_TEST_OTLP || undefined;
const t = await Telemetry.start(
  { metrics: false, metricsPort: 0, nodegraph: false, oneWayHistograms: false, otlp },
  { logger: { limited() {} }, env: {}, processMetrics: false },
);
console.log('started');
await t.shutdown(200);`;

function runChild(otlp: string): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['--import', `data:text/javascript,${encodeURIComponent(REGISTER)}`, '--input-type=module', '-e', CHILD], {
    env: { ...process.env, LAZY_TEST_OTLP: otlp },
    encoding: 'utf8',
    timeout: 30_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('the OTLP exporters are loaded only when a push is configured', (t) => {
  // Module hooks (module.register) arrived in Node 20.6; package.json allows any Node 20.
  if (typeof (nodeModule as { register?: unknown }).register !== 'function') {
    t.skip(`module.register is not available in Node ${process.version}`);
    return;
  }
  const pullOnly = runChild('');
  assert.equal(pullOnly.status, 0, pullOnly.stderr);
  assert.match(pullOnly.stdout, /started/);

  // Port 9 (discard) on loopback: nothing is pushed before the refusal anyway.
  const push = runChild('http://127.0.0.1:9');
  assert.notEqual(push.status, 0, 'with a push configured the refused exporter must be loaded');
  assert.match(push.stderr, /OTLP exporter loaded: .*exporter-metrics-otlp/);
  assert.doesNotMatch(push.stdout, /started/);
});
