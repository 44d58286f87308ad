/**
 * Child process of otlp-memory.test.ts (run with --expose-gc): a live sender and responder with
 * OTLP push on, against the collector URL given as argv[2], for argv[3] seconds. Prints one JSON
 * line per second: heap after a full GC and replies received so far.
 */
import { Telemetry } from '../../src/telemetry/telemetry.js';
import { startLive } from './live.js';

const [url, secondsText, targetsText] = process.argv.slice(2);
const seconds = Number(secondsText);
const gc = (globalThis as { gc?: () => void }).gc;
if (!url || !(seconds > 0) || !gc) {
  process.stderr.write('usage: node --expose-gc otlp-memory-child.js URL SECONDS [TARGETS]\n');
  process.exit(2);
}

const tel = await Telemetry.start(
  { metrics: false, metricsPort: 0, nodegraph: true, otlp: url, otlpProtocol: 'http/protobuf', sourceName: 'mem' },
  { logger: { limited() {} }, serviceVersion: '0', processMetrics: true },
);
const live = await startLive({
  targets: Number(targetsText ?? 50),
  intervalMs: 100,
  periodMs: 1000,
  senderObserver: tel.sender(),
  responderObserver: tel.responder(),
});
const started = Date.now();
for (let i = 1; i <= seconds; i++) {
  await new Promise((r) => setTimeout(r, started + i * 1000 - Date.now()));
  gc();
  let received = 0;
  for (const v of live.sender.totals().values()) received += v.received;
  process.stdout.write(`${JSON.stringify({ t: i, heapUsed: process.memoryUsage().heapUsed, received })}\n`);
}
await live.close();
await tel.shutdown(500);
process.exit(0);
