import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as dgram from 'node:dgram';
import { runCli, startCli } from '../helpers/cli.js';

let responder: Awaited<ReturnType<typeof startCli>>;
let port = 0;

before(async () => {
  responder = await startCli(['responder', '127.0.0.1:0'], /listening on 127\.0\.0\.1:(\d+)/);
  port = Number(responder.match[1]);
});

after(async () => {
  await responder.stop();
});

test('sender against the responder: twampy-style reply lines and table, exit 0', async () => {
  const r = await runCli(['sender', `127.0.0.1:${port}`, '-c', '5', '-i', '20']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal((r.stdout.match(/^Reply from 127\.0\.0\.1:\d+ \[rseq=\d+ sseq=\d+ rtt=[\d.]+ms outbound=-?[\d.]+ms inbound=-?[\d.]+ms/gm) ?? []).length, 5);
  assert.match(r.stdout, /Direction\s+Min\s+Max\s+Avg\s+Jitter\s+Loss\s+p50\s+p90\s+p99/);
  assert.match(r.stdout, /Outbound:/);
  assert.match(r.stdout, /Roundtrip:.*0\.0%/);
  assert.match(r.stdout, /warning: outbound\/inbound figures rest on clocks not both synchronised/);
});

test('--json prints one object per target with the seed fork direction list', async () => {
  const r = await runCli(['sender', `127.0.0.1:${port}`, `localhost:${port}`, '-c', '4', '-i', '10', '--json', '-4']);
  assert.equal(r.code, 0, r.stderr);
  const objs = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(objs.length, 2);
  for (const o of objs) {
    assert.equal(o.sent, 4);
    assert.equal(o.received, 4);
    assert.deepEqual(o.results.map((d: { direction: string }) => d.direction), ['outbound', 'inbound', 'roundtrip']);
    for (const d of o.results) for (const k of ['min', 'max', 'avg', 'jitter', 'loss']) assert.ok(k in d);
  }
  assert.deepEqual(objs.map((o) => o.target).sort(), [`127.0.0.1:${port}`, `localhost:${port}`]);
});

test('a target that answers nothing: exit 1, 100 % loss', async () => {
  const silent = dgram.createSocket('udp4');
  await new Promise<void>((r) => silent.bind(0, '127.0.0.1', r));
  try {
    const r = await runCli(['sender', `127.0.0.1:${silent.address().port}`, '-c', '3', '-i', '10', '--timeout', '200', '--json']);
    assert.equal(r.code, 1);
    const o = JSON.parse(r.stdout.trim());
    assert.equal(o.result, 'error');
    assert.equal(o.results[2].loss, 100);
  } finally {
    silent.close();
  }
});

test('usage errors exit 2 with a clear message', async () => {
  const cases: [string[], RegExp][] = [
    [['sender', 'host:99999'], /port must be 0-65535/],
    [['sender'], /no target/],
    [['sender', '127.0.0.1', '--dscp', 'fast'], /invalid DSCP "fast"/],
    [['sender', '127.0.0.1', '--count', '-1'], /--count must be an integer between 0 and/],
    [['sender', '127.0.0.1', '--padding', 'big'], /--padding "big"/],
    [['sender', '127.0.0.1', '--bogus'], /Unknown argument: bogus/],
    // yargs alone reads any value but "true" as false: a typo must not turn an option off silently.
    [['sender', '127.0.0.1', '--metrics-gzip=yes'], /--metrics-gzip=yes: a boolean option takes true or false/],
    [['responder', '--stamp=TRUE'], /--stamp=TRUE: a boolean option takes true or false/],
    [['sender', '127.0.0.1', '-q=yes'], /-q=yes: a boolean option takes true or false$/m],
    [['responder', '--allow', '10.0.0.0/33'], /prefix length must be 0-32/],
    [['responder', '--reply-dscp', 'bogus'], /--reply-dscp: invalid DSCP "bogus"/],
    [['nonsense'], /Unknown argument|Did you mean/],
  ];
  for (const [args, msg] of cases) {
    const r = await runCli(args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, msg, args.join(' '));
  }
});

test('--dscp on the portable socket layer fails loudly (exit 3), never silently', async () => {
  const r = await runCli(['sender', `127.0.0.1:${port}`, '-c', '1', '--dscp', 'ef'], { TWAMPY_NATIVE: '0' });
  assert.equal(r.code, 3);
  assert.match(r.stderr, /cannot set TOS\/DSCP 184/);
});

test('--reply-dscp on the portable socket layer fails loudly (exit 3)', async () => {
  const r = await runCli(['responder', '127.0.0.1:0', '--reply-dscp', 'copy'], { TWAMPY_NATIVE: '0' });
  assert.equal(r.code, 3);
  assert.match(r.stderr, /--reply-dscp needs a socket layer that can read and set TOS; dgram cannot/);
});

test('output into a closed pipe ends quietly', async () => {
  const { spawn } = await import('node:child_process');
  const { CLI } = await import('../helpers/cli.js');
  const p = spawn(process.execPath, [CLI, 'sender', `127.0.0.1:${port}`, '-c', '20', '-i', '10'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  p.stderr.on('data', (d: Buffer) => (err += d.toString()));
  p.stdout.once('data', () => p.stdout.destroy()); // the reader goes away after the first line
  const code = await new Promise<number | null>((res) => p.on('close', res));
  assert.equal(code, 0);
  assert.doesNotMatch(err, /EPIPE/);
});

test('an unresolvable name is reported; the other target is still measured; exit 1', async () => {
  const r = await runCli(['sender', `127.0.0.1:${port}`, 'no-such-host.invalid', '-c', '3', '-i', '10', '--json']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /no-such-host\.invalid: cannot resolve/);
  assert.equal(JSON.parse(r.stdout.trim()).received, 3);
});

test('targets file: YAML list, bad file is a clear error', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'twampy-'));
  try {
    const f = join(dir, 't.yaml');
    writeFileSync(f, `targets:\n  - 127.0.0.1:${port}\n  - target: "[::1]:${port}"\n`);
    const ok = await runCli(['sender', '--targets-file', f, '-c', '2', '-i', '10', '--json']);
    assert.equal(ok.code, 1, 'the ::1 target has no responder (ours listens on 127.0.0.1)');
    const objs = ok.stdout.trim().split('\n').map((l) => JSON.parse(l));
    assert.deepEqual(objs.map((o) => o.received).sort(), [0, 2]);
    writeFileSync(f, 'targets: [1, 2');
    const bad = await runCli(['sender', '--targets-file', f]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /not valid YAML/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('dscptable: EF is DSCP 46, TOS 0xB8', async () => {
  const r = await runCli(['dscptable']);
  assert.equal(r.code, 0);
  assert.match(r.stdout, /^EF\s+46\s+0xB8\s+184$/m);
  assert.match(r.stdout, /^AF41\s+34\s+0x88\s+136$/m);
});

test('responder stops cleanly on SIGTERM with a summary', async () => {
  const r = await startCli(['responder', '127.0.0.1:0'], /listening on 127\.0\.0\.1:(\d+)/);
  const s = dgram.createSocket('udp4');
  await new Promise<void>((res) => s.send(Buffer.alloc(5), Number(r.match[1]), '127.0.0.1', () => res()));
  s.close();
  await new Promise((res) => setTimeout(res, 200));
  const code = await r.stop('SIGTERM');
  assert.equal(code, 0);
  assert.match(r.output(), /responder stopped: received 1, reflected 0, dropped 1 \(malformed 1/);
  assert.match(r.output(), /dropped datagram from 127\.0\.0\.1:\d+ \(malformed\): too short: 5 octets/);
});

test('--help documents every sender option', async () => {
  const r = await runCli(['sender', '--help']);
  assert.equal(r.code, 0);
  for (const o of ['--count', '--interval', '--padding', '--timeout', '--forever', '--local', '--ttl', '--dscp', '--tos', '--stamp', '--json', '--metrics', '--nodegraph', '--otlp', '--discover', '--targets-file']) {
    assert.ok(r.stdout.includes(o), `help lacks ${o}`);
  }
});
