// The full-TWAMP commands as processes: `server`, `controller` (exit codes 0, 2 and 3, text and
// JSON output) and `controlclient` with the light sender sending the test packets.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { waitFor } from './helpers.js';

const entry = fileURLToPath(new URL('./fixtures/cli-entry.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'twampy-cli-'));
const keyFile = join(dir, 'keys.pfs');
writeFileSync(keyFile, `# test keys\nalice ${Buffer.from('s3cret').toString('hex')}\n`);
const children: ChildProcess[] = [];
let port = 0;
let serverErr = '';

function run(args: string[], timeoutMs = 20_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const c = spawn(process.execPath, [entry, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(c);
    let stdout = '';
    let stderr = '';
    c.stdout!.on('data', (b: Buffer) => (stdout += b.toString()));
    c.stderr!.on('data', (b: Buffer) => (stderr += b.toString()));
    const t = setTimeout(() => c.kill('SIGKILL'), timeoutMs);
    c.once('exit', (code) => {
      clearTimeout(t);
      resolve({ code, stdout, stderr });
    });
  });
}

before(async () => {
  const s = spawn(process.execPath, [entry, 'server', '127.0.0.1:0', '--key-file', keyFile, '--servwait', '30', '-v'], { stdio: ['ignore', 'ignore', 'pipe'] });
  children.push(s);
  s.stderr!.on('data', (b: Buffer) => (serverErr += b.toString()));
  await waitFor(() => /TWAMP server on 127\.0\.0\.1:(\d+)/.test(serverErr) || s.exitCode !== null, 15_000, 'server to listen');
  port = Number(/TWAMP server on 127\.0\.0\.1:(\d+)/.exec(serverErr)?.[1]);
  assert.ok(port > 0, serverErr);
});

after(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGTERM');
  rmSync(dir, { recursive: true, force: true });
});

test('controller, encrypted mode: reply lines, statistics table, exit 0', async () => {
  const r = await run(['controller', `127.0.0.1:${port}`, '-c', '3', '-i', '20', '--mode', 'encrypted', '--key-id', 'alice', '--key-file', keyFile]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal((r.stdout.match(/^Reply from 127\.0\.0\.1:\d+ /gm) ?? []).length, 3, r.stdout);
  assert.match(r.stdout, new RegExp(`Statistics for 127\\.0\\.0\\.1:${port} \\(127\\.0\\.0\\.1:\\d+\\): sent 3, received 3, lost 0`));
});

test('controller --json prints the light sender JSON object', async () => {
  const r = await run(['controller', `127.0.0.1:${port}`, '-c', '2', '-i', '20', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const o = JSON.parse(r.stdout.trim().split('\n').pop()!) as { sent: number; received: number; results: unknown[] };
  assert.equal(o.sent, 2);
  assert.equal(o.received, 2);
  assert.equal(o.results.length, 3);
});

test('controller with a wrong KeyID: exit 3 and the reason', async () => {
  const bad = join(dir, 'bad.pfs');
  writeFileSync(bad, `alice ${Buffer.from('wrong').toString('hex')}\n`);
  const r = await run(['controller', `127.0.0.1:${port}`, '-c', '2', '--mode', 'authenticated', '--key-id', 'alice', '--key-file', bad]);
  assert.equal(r.code, 3, r.stderr);
  assert.match(r.stderr, /server refused the set-up: failure/);
});

test('controller usage errors exit 2', async () => {
  const r = await run(['controller', `127.0.0.1:${port}`, '--mode', 'authenticated']);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /needs --key-id and --key-file/);
});

test('controlclient negotiates for an external sender and stops after --duration', async () => {
  const r = await run(['controlclient', '127.0.0.1:40999', `127.0.0.1`, '--control-port', String(port), '--duration', '0.5']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /session started: send TWAMP-Test packets from 127\.0\.0\.1:40999 to 127\.0\.0\.1:\d+/);
  await waitFor(() => /session [0-9a-f]{32} with 127\.0\.0\.1 on port \d+: aborted|completed/.test(serverErr), 5000, 'server to end the session');
});
