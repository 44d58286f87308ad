import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, openSync, readdirSync } from 'node:fs';
import { countOpenFds } from '../../src/telemetry/process-metrics.js';
import { RecordingLogger, sampleValue, startTestTelemetry } from './fixtures.js';

test('Node process metrics: CPU, memory, start time, file descriptors, event-loop delay', async () => {
  const t = await startTestTelemetry({}, {}, new RecordingLogger(), true);
  try {
    // Let the delay monitor (one tick per 50 ms) tick several times on an idle loop, then block
    // the loop for 150 ms: a tick falls due at most 50 ms into the block, so it is at least
    // 100 ms late, and the monitor must see that. Then let it tick again to record it.
    await new Promise((r) => setTimeout(r, 300));
    const until = performance.now() + 150;
    while (performance.now() < until) {
      /* busy on purpose */
    }
    await new Promise((r) => setTimeout(r, 120));
    const text = await t.exposition();
    const v = (name: string) => {
      const x = sampleValue(text, name);
      assert.ok(x !== undefined, `${name} missing`);
      return x;
    };
    assert.ok(v('process_cpu_seconds_total') >= 0.06, 'the busy loop is in the CPU time');
    assert.ok(Math.abs(v('process_cpu_seconds_total') - v('process_cpu_user_seconds_total') - v('process_cpu_system_seconds_total')) < 1e-6);
    assert.ok(v('process_resident_memory_bytes') > v('nodejs_heap_size_used_bytes'));
    assert.ok(v('nodejs_heap_size_total_bytes') >= v('nodejs_heap_size_used_bytes'));
    const age = Date.now() / 1000 - v('process_start_time_seconds');
    assert.ok(age > 0 && age < process.uptime() + 5, `start time ${age} s ago`);
    if (process.platform === 'linux') {
      assert.ok(v('process_open_fds') > 2);
      assert.ok(v('process_max_fds') >= v('process_open_fds'));
    }
    assert.ok(v('nodejs_eventloop_delay_max_seconds') >= 0.09, `loop max ${v('nodejs_eventloop_delay_max_seconds')} s after a 150 ms block`);
    assert.ok(v('nodejs_eventloop_delay_p50_seconds') < 0.05, 'the median is not the block');
  } finally {
    await t.shutdown();
  }
});

test('process_open_fds counts exactly the open descriptors, and follows opens and closes', { skip: process.platform !== 'linux' && 'no /proc' }, () => {
  // Whichever way the count is read (stat size on Linux 6.2+, the listing before), it must equal
  // the listing's count, less the listing's own directory handle.
  const listed = () => readdirSync('/proc/self/fd').length - 1;
  const before = countOpenFds();
  assert.equal(before, listed());
  const fds = Array.from({ length: 50 }, () => openSync('/dev/null', 'r'));
  try {
    assert.equal(countOpenFds(), before! + 50);
    assert.equal(countOpenFds(), listed());
  } finally {
    for (const fd of fds) closeSync(fd);
  }
  assert.equal(countOpenFds(), before);
});

test('process_open_fds before Linux 6.2 (the directory reports size 0): the listing gives the same count', { skip: process.platform !== 'linux' && 'no /proc' }, () => {
  const olderKernel = () => 0;
  const listed = () => readdirSync('/proc/self/fd').length - 1;
  const before = countOpenFds(olderKernel);
  assert.equal(before, listed());
  assert.equal(before, countOpenFds());
  const fds = Array.from({ length: 20 }, () => openSync('/dev/null', 'r'));
  try {
    assert.equal(countOpenFds(olderKernel), before! + 20);
  } finally {
    for (const fd of fds) closeSync(fd);
  }
  assert.equal(countOpenFds(() => { throw new Error('EACCES'); }), null, 'no /proc: no gauge rather than a wrong one');
});
