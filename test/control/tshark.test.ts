// Wireshark's twamp.control dissector (Debian tshark) reads an unauthenticated exchange of our
// controller with our server: every message is recognised with the values we sent, and nothing
// is flagged malformed. Needs root to capture on lo; fails (never skips) when CI=true.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { measure, senderOptions, startServer, waitFor } from './helpers.js';

const hasTshark = spawnSync('tshark', ['--version'], { stdio: 'ignore' }).status === 0;
const ci = process.env.CI === 'true';
const dir = mkdtempSync(join(tmpdir(), 'twampy-tshark-'));
const cleanups: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const c of cleanups) await c();
  if (!process.env.TWAMPY_KEEP_PCAP) rmSync(dir, { recursive: true, force: true });
});

test('tshark decodes our TWAMP-Control exchange without malformed packets', { skip: !hasTshark && !ci ? 'tshark not installed (CI=true makes this a failure)' : false }, async () => {
  assert.ok(hasTshark, 'tshark is required (apt-get install tshark)');
  // Test ports below the ephemeral range, so the capture filter can name them.
  const { server, port } = await startServer('127.0.0.1', { testPorts: { low: 31200, high: 31209 } });
  cleanups.push(() => server.close());
  const pcap = join(dir, 'control.pcap');
  let stderr = '';
  const cap: ChildProcess = spawn('tshark', ['-i', 'lo', '-f', `tcp port ${port} or udp portrange 31200-31209`, '-a', 'duration:30', '-w', pcap, '-q'], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const exited = new Promise<number | null>((r) => cap.once('exit', (code) => r(code)));
  cleanups.push(() => {
    if (cap.exitCode === null) cap.kill('SIGKILL');
  });
  cap.stderr!.on('data', (b: Buffer) => (stderr += b.toString()));
  await waitFor(() => /Capturing on/.test(stderr) || cap.exitCode !== null, 15_000, 'tshark to start capturing');
  assert.equal(cap.exitCode, null, `tshark exited: ${stderr}`);
  // "Capturing on" comes before packets really flow into the file: probe with throw-away
  // connections (each only gets a greeting) until one shows up in the capture.
  const size = () => (existsSync(pcap) ? statSync(pcap).size : 0);
  await waitFor(() => size() > 0, 15_000, 'the capture file');
  const size0 = size();
  for (let i = 0; i < 100 && size() === size0; i++) {
    await new Promise<void>((resolve) => {
      const s = connect({ host: '127.0.0.1', port }, () => setTimeout(() => { s.destroy(); resolve(); }, 50));
      s.on('error', () => resolve());
    });
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.ok(size() > size0, 'capture never saw a probe connection');

  const finals = await measure('127.0.0.1', port, { receiverPort: 0, sender: senderOptions({ count: 3, padding: [100] }) });
  assert.equal(finals[0]!.stats.received, 3);
  await new Promise((r) => setTimeout(r, 500)); // let the last segments reach the capture
  cap.kill('SIGINT');
  await exited;

  const fields = ['twamp.control.modes', 'twamp.control.mode', 'twamp.control.command', 'twamp.control.accept', 'twamp.control.padding_length', 'twamp.control.numsessions', 'twamp.control.receiver_port', 'twamp.control.count'];
  const r = spawnSync(
    'tshark',
    ['-r', pcap, '-d', `tcp.port==${port},twamp.control`, '-Y', 'twamp.control', '-T', 'fields', ...fields.flatMap((f) => ['-e', f]), '-E', 'separator=;'],
    { encoding: 'utf8' },
  );
  assert.equal(r.status, 0, r.stderr);
  const rows = r.stdout.trim().split('\n').map((l) => l.split(';'));
  const col = (name: string) => rows.map((row) => row[fields.indexOf(name)]).filter((v) => v !== undefined && v !== '');
  // Greeting (modes 15, count 1024), Set-Up-Response (mode 1), Request-TW-Session (5, padding 100),
  // Accept-Session (accept 0), Start-Sessions (2), Start-Ack, Stop-Sessions (3, one session).
  assert.ok(rows.length >= 7, `control messages seen: ${rows.length}\n${r.stdout}`);
  assert.ok(col('twamp.control.modes').some((v) => Number(v) === 15), r.stdout);
  assert.ok(col('twamp.control.count').includes('1024'), r.stdout);
  assert.ok(col('twamp.control.mode').some((v) => Number(v) === 1), r.stdout);
  const commands = col('twamp.control.command').map(Number);
  for (const c of [5, 2, 3]) assert.ok(commands.includes(c), `command ${c} in ${commands}`);
  assert.ok(col('twamp.control.padding_length').includes('100'), r.stdout);
  assert.ok(col('twamp.control.numsessions').includes('1'), r.stdout);
  assert.ok(col('twamp.control.accept').every((v) => Number(v) === 0), r.stdout);

  // The dissector follows Accept-Session to the test ports: the test packets decode as TWAMP-Test
  // with no decode-as hint, three requests of 14 + 100 octets and three replies of as many.
  const t = spawnSync('tshark', ['-r', pcap, '-d', `tcp.port==${port},twamp.control`, '-Y', 'twamp.test', '-T', 'fields', '-e', 'udp.length', '-e', 'twamp.test.seq_number', '-e', 'twamp.test.sender_seq_number', '-E', 'separator=;'], { encoding: 'utf8' });
  assert.equal(t.status, 0, t.stderr);
  const tests = t.stdout.trim().split('\n').filter(Boolean).map((l) => l.split(';'));
  assert.equal(tests.length, 6, t.stdout);
  assert.ok(tests.every((r) => Number(r[0]) === 8 + 114), t.stdout);
  // Request k then its reply (tshark reads both as reflector-shaped by length): our sequence
  // numbers 0..2, the reflector's own counter 0..2, and the echoed sender sequence numbers.
  assert.deepEqual(tests.map((r) => r[1]), ['0', '0', '1', '1', '2', '2'], t.stdout);
  assert.deepEqual([1, 3, 5].map((i) => tests[i]![2]), ['0', '1', '2'], t.stdout);

  const bad = spawnSync('tshark', ['-r', pcap, '-d', `tcp.port==${port},twamp.control`, '-Y', '_ws.malformed || _ws.expert.severity >= "error"'], { encoding: 'utf8' });
  assert.equal(bad.status, 0, bad.stderr);
  assert.equal(bad.stdout.trim(), '', `malformed or erroneous packets:\n${bad.stdout}`);
});
