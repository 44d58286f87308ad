/**
 * Child process of bench/native.ts: the real Reflector on 127.0.0.1 over the native or the dgram
 * transport (argv[2]), or ('native-echo') a bare echo over the native transport. Prints {"port"}
 * when ready; on stdin "stats" prints the number reflected and the T3-T2 median / p99 since the
 * last "reset", split into dispatch (socket to handler entry) and work (handler entry to T3);
 * exits when stdin closes. Recording T3-T2 costs two clock reads and an event per packet, so it
 * is off until "record on" (the throughput and CPU figures measure the Reflector as a responder
 * without telemetry runs it); "record on" / "record off" switch it.
 */
import { createInterface } from 'node:readline';
import { systemClock, systemScheduler } from '../src/session/clock.js';
import { Reflector } from '../src/session/reflector.js';
import { DgramTransport } from '../src/transport/dgram.js';
import { loadNativeTransport } from '../src/transport/native.js';
import type { Transport } from '../src/transport/types.js';

const kind = process.argv[2] ?? 'native';
let transport: Transport;
if (kind === 'native' || kind === 'native-echo') {
  const r = loadNativeTransport();
  if ('error' in r) {
    console.error(r.error);
    process.exit(1);
  }
  transport = r.transport;
} else {
  transport = new DgramTransport();
}

const MAX = 1 << 20;
const proc = new Float64Array(MAX);
const dispatch = new Float64Array(MAX);
let n = 0;
let entryNs = 0n;
let rxNs = 0n;
let record = false;
const options = {
    stateless: false,
    refwaitMs: 900_000,
    maxSessions: 10_000,
    allow: null,
    rateLimitPps: 0, // the load generator is one source sending far above any per-source limit
    maxRequestBytes: 9000,
    errorEstimate: 0x0001,
    stamp: true,
  };
// Two reflectors over one socket: the plain one is what `twampy responder` runs without telemetry.
const plain = new Reflector(options, systemClock, systemScheduler);
const reflector = new Reflector(
  options,
  systemClock,
  systemScheduler,
  {
    onReflected: (e) => {
      if (n < MAX) {
        dispatch[n] = Number(entryNs - rxNs);
        proc[n++] = Number(e.processingNs);
      }
    },
  },
);
const sock = await transport.open({ address: '127.0.0.1', port: 0, recvBufferSize: 4 << 20, sendBufferSize: 4 << 20 });
if (kind === 'native-echo') {
  // Transport only: answer with the request itself, so the Reflector's own cost can be told apart.
  sock.onMessage((d) => sock.send(d.data, d.port, d.address));
} else sock.onMessage((d) => {
  if (!record) return plain.handle(d, sock);
  // Handler entry time: splits T3-T2 into socket-to-JS dispatch and the reflector's own work.
  entryNs = systemClock.nowNs();
  rxNs = d.rxTimeNs;
  reflector.handle(d, sock);
});
console.log(JSON.stringify({ port: sock.localAddress().port }));

const rl = createInterface({ input: process.stdin });
rl.on('line', (line) => {
  if (line === 'record on' || line === 'record off') {
    record = line === 'record on';
    console.log('{}');
  } else if (line === 'reset') {
    n = 0;
    console.log('{}');
  } else if (line === 'stats') {
    const s = Array.from(proc.subarray(0, n)).sort((a, b) => a - b);
    const dsp = Array.from(dispatch.subarray(0, n)).sort((a, b) => a - b);
    const work = Array.from(proc.subarray(0, n), (p, i) => p - dispatch[i]!).sort((a, b) => a - b);
    const usage = process.resourceUsage();
    console.log(
      JSON.stringify({
        reflected: n,
        medianNs: s.length ? s[s.length >> 1] : null,
        p99Ns: s.length ? s[Math.floor(s.length * 0.99)] : null,
        dispatchMedianNs: dsp.length ? dsp[dsp.length >> 1] : null,
        workMedianNs: work.length ? work[work.length >> 1] : null,
        rssBytes: process.memoryUsage().rss,
        cpuUs: usage.userCPUTime + usage.systemCPUTime,
      }),
    );
  }
});
rl.on('close', () => {
  reflector.close();
  plain.close();
  void sock.close().then(() => process.exit(0));
});
