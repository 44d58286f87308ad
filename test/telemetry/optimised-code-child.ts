/**
 * Child process of optimised-code.test.ts, run with --expose-gc --trace-opt --trace-deopt: a
 * telemetry layer with 200 targets writes expositions (argv[2] = "scrape") or pushes OTLP to a
 * loopback sink (argv[2] = "push"), first back to back, then with three full collections before
 * each one, as a live sender has between two scrapes or pushes. The parent reads V8's trace.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dir, startTestTelemetry, stats } from './fixtures.js';

const mode = process.argv[2];
const gc = (globalThis as { gc?: () => void }).gc;
if ((mode !== 'scrape' && mode !== 'push') || !gc) {
  process.stderr.write('usage: node --expose-gc optimised-code-child.js scrape|push\n');
  process.exit(2);
}
const collectFully = gc;

const TARGETS = 200;
const WARM_ROUNDS = 12;
const COLD_ROUNDS = 3;
const GCS_BETWEEN = 3;

let pushes = 0;
const sink = createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    pushes++;
    res.end();
  });
});
await new Promise<void>((resolve) => sink.listen(0, '127.0.0.1', resolve));
const url = `http://127.0.0.1:${(sink.address() as AddressInfo).port}/v1/metrics`;

const tel = await startTestTelemetry(
  mode === 'push' ? { otlp: url, otlpProtocol: 'http/protobuf' } : {},
  mode === 'push' ? { OTEL_METRIC_EXPORT_INTERVAL: '150' } : {},
);
const sender = tel.sender();
const names = Array.from({ length: TARGETS }, (_, i) => `127.0.1.${i + 1}:20001`);
for (const n of names) sender.onTargetAdded?.(n);
let round = 0;
/** New figures for every target, as after a period. */
function feed(): void {
  round++;
  for (const n of names) {
    const d = dir(0.5, 0.6 + round / 1e4, 0.7, 0.01, 0);
    sender.onStats?.(stats(n, { outbound: d, inbound: d, roundtrip: dir(1, 1.2, 1.4, 0.02, 0, [1, 1.2, 1.4]) }, { sent: 10, received: 10 }));
  }
}

async function scrape(): Promise<void> {
  const e = await tel.expositionBody();
  try {
    const gzip = e.gzip;
    if (gzip) await gzip();
  } finally {
    e.release?.();
  }
}

/** Waits for the next push to reach the sink (at most 5 s). */
async function nextPush(): Promise<void> {
  const seen = pushes;
  const deadline = Date.now() + 5000;
  while (pushes === seen) {
    if (Date.now() > deadline) throw new Error('no OTLP push arrived within 5 s');
    await new Promise((r) => setTimeout(r, 5));
  }
}

const step = mode === 'scrape' ? scrape : nextPush;
for (let i = 0; i < WARM_ROUNDS; i++) {
  feed();
  await step();
}
for (let i = 0; i < COLD_ROUNDS; i++) {
  for (let g = 0; g < GCS_BETWEEN; g++) collectFully();
  feed();
  await step();
}
await tel.shutdown();
sink.close();
process.stdout.write(`done ${mode}\n`);
